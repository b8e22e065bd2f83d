"""Window tests of the analyses, which must never hold up the view: the view comes first, a seed click is not held up
by a running spectrum, "k of N" with a working Cancel button, and a failed analysis shown as an error, not
"computing"."""

from __future__ import annotations

import pytest

from tests.viz.gui.app_driver import AppDriver

pytestmark = pytest.mark.gui


@pytest.fixture(scope='module')
def app(tmp_path_factory):
    import networks
    from tests.tiny_networks import tiny_generator

    root = tmp_path_factory.mktemp('analyses')
    # 128 px: a spectrum of 200 seeds takes long enough to click around while it runs.
    pkl = root / 'sg3_128.pkl'
    networks.save_network_pkl(str(pkl), dict(G_ema=tiny_generator('sg3', resolution=128, seed=1, output_scale=2.0)))
    driver = AppDriver(root, str(pkl))
    yield driver
    driver.close()


def _type_into(app, rect: str, text: str, ctrl: bool = False) -> None:
    """Click an item (Ctrl+click turns a slider into a text field), select what it holds, type `text`, Return."""
    x0, y0, x1, y1 = app.scroll_into_view(rect)
    app._xdotool('mousemove', '--window', app.window, str(int((x0 + x1) / 2)), str(int((y0 + y1) / 2)))
    app.wait_frames(2)
    if ctrl:
        app._xdotool('keydown', 'ctrl')
    app._xdotool('click', '1')
    if ctrl:
        app._xdotool('keyup', 'ctrl')
    app.wait_frames(2)
    app._xdotool('key', 'ctrl+a')
    app.type_text(text)


def test_seed_click_during_spectrum_then_cancel(app):
    app.settle()
    app.click('spectrum_show')
    _type_into(app, 'spectrum_seeds', '200', ctrl=True)
    s = app.wait(lambda s: s['args']['spectrum_seeds'] == 200 and 'spectrum_cancel' in s['rects'], 60,
                 'the spectrum running with its progress and Cancel button')
    seed = s['seed']
    app.click('seed_plus')
    # The new image arrives while the spectrum is still on and unfinished.
    s = app.wait(lambda s: s['result'] and s['result']['seeds'][0][0] == seed + 1, 30, 'the new seed\'s image')
    assert s['args']['spectrum_seeds'] == 200 and not s['result']['spectrum']
    app.wait(lambda s: 'spectrum_cancel' in s['rects'], 30, 'the spectrum resumed')
    app.click('spectrum_cancel')
    s = app.wait(lambda s: s['args']['spectrum_seeds'] == 0 and not s['rendering'], 30, 'cancelled and switched off')
    assert s['renderer_stats']['cancelled'] >= 1 and 'spectrum_cancel' not in s['rects']


def test_failed_spectrum_is_an_error_not_computing(app, tmp_path):
    text = tmp_path / 'notes.txt'
    text.write_text('not a dataset\n')
    app.settle()
    _type_into(app, 'spectrum_dataset', str(text))
    app.click('spectrum_show')
    s = app.wait(lambda s: 'spectrum_error' in s['rects'] and not s['rendering'], 30, 'the spectrum error')
    assert any(str(text) in m for m in s['messages']) and not s['result']['spectrum']
    seed = s['seed']
    app.click('seed_plus')
    s = app.wait(lambda s: s['result']['seeds'][0][0] == seed + 1 and not s['rendering'], 30, 'the next seed')
    app.wait_frames(3)
    assert 'spectrum_error' in app.state()['rects'] and 'spectrum_cancel' not in app.state()['rects']
    app.click('spectrum_show')
