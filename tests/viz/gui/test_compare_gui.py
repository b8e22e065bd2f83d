"""The Compare panel: up to two networks beside the loaded one, added by path (the pickle field's conventions) and
removed; in the real window (Xvfb) the view shows the three panes, the Latent tab still fits the window, and a saved
image is the composed picture as shown."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.viz.gui.fakes import fake_app
from viz.core.render_types import DEFAULT_PKL, RenderArgs


def test_the_panel_adds_up_to_two_and_removes():
    from viz.gui.widgets.compare_widget import CompareWidget

    viz = fake_app()
    widget = CompareWidget(viz)
    assert widget.add(' a.pkl ') and widget.add('/runs/b.pkl')
    widget(show=False)
    assert viz.args.compare_pkls == ('a.pkl', '/runs/b.pkl')
    assert not widget.add('c.pkl')  # a third: refused with a note, nothing changes
    assert viz.args.compare_pkls == ('a.pkl', '/runs/b.pkl') and 'at most 2' in viz.messages[-1][0]
    assert viz.messages[-1][1]
    widget.remove(0)
    widget(show=False)
    assert viz.args.compare_pkls == ('/runs/b.pkl',)
    assert not widget.add('https://example.com/net.pkl')  # nothing is downloaded
    assert viz.args.compare_pkls == ('/runs/b.pkl',) and 'downloads are off' in viz.messages[-1][0]
    widget.add('')  # empty: the default network, as in the pickle field
    assert viz.args.compare_pkls[-1] == DEFAULT_PKL or viz.args.compare_pkls[-1].endswith('.pkl')
    widget.load_args(RenderArgs(compare_pkls=('x.pkl',)))  # a session
    widget(show=False)
    assert widget.pkls == ['x.pkl'] and viz.args.compare_pkls == ('x.pkl',)


@pytest.mark.gui
def test_three_panes_in_the_window(pkl_dir, tmp_path):
    from tests.viz.gui.app_driver import AppDriver

    app = AppDriver(tmp_path, str(pkl_dir / 'tiny_sg3.pkl'))
    try:
        app.settle()
        for i, name in enumerate(('tiny_sg2.pkl', 'aliasing_sg3.pkl')):
            app.click('compare_path')
            app.type_text(str(pkl_dir / name))  # Enter adds it
            s = app.wait(lambda s, n=i + 2: s['result'] and len(s['result']['panes']) == n and not s['rendering'],
                         60, f'{i + 2} panes')
        panes = s['result']['panes']
        assert [p['name'] for p in panes] == ['tiny_sg3.pkl', 'tiny_sg2.pkl', 'aliasing_sg3.pkl']
        assert all(p['error'] is None for p in panes)
        assert s['result']['image_shape'][1] == 3 * 32 + 2 * 2
        assert s['controls']['visible'] == s['controls']['drawn']  # the Latent tab still fits 1280x800
        app.wait_frames(3)
        shown = app.grab('image').astype(int)
        third = shown.shape[1] // 3
        assert all(shown[:, k * third:(k + 1) * third].std() > 2 for k in range(3))
        app.key('ctrl+s')  # the saved image is the composed one
        s = app.wait(lambda s: os.path.basename(s['last_saved'] or '').startswith('image-')
                     and os.path.exists(s['last_saved']), 10, 'saved image')
        from PIL import Image

        saved = np.asarray(Image.open(s['last_saved']).convert('RGB'))
        assert list(saved.shape) == s['result']['image_shape']
        shot = os.environ.get('COMPARE_SCREENSHOT')  # docs/compare-window.png is made this way
        if shot:
            app.save_window(shot, mouse=(900, 700))
        app.click('compare_remove:0')
        s = app.wait(lambda s: s['result'] and len(s['result']['panes']) == 2 and not s['rendering'], 30, 'removed')
        assert s['args']['compare_pkls'] == [str(pkl_dir / 'aliasing_sg3.pkl')]
    finally:
        app.close()
