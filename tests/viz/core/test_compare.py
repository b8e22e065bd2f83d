"""Side-by-side comparison (`RenderArgs.compare_pkls`, viz.core.compare): every pane is pixel for pixel its network
rendered alone with the same arguments, under a strip naming it; panes of other heights are enlarged by whole pixels
(or nearest neighbour) with a note; a network that fails is a grey pane and a note while the others render; more than
two are refused in one line; the caches hold; sessions round-trip the field; headless writes the composed image."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import PIL.Image
import pytest
import torch

from tests.tiny_networks import write_tiny_networks
from viz.core.compare import (
    BACKGROUND,
    FAILED_GREY,
    NOTE_PREFIX,
    compose_panes,
    label_strip,
    pane_crop,
    to_height,
)
from viz.core.render_types import RenderArgs
from viz.core.renderer import Renderer


@pytest.fixture(scope='module')
def small(tmp_path_factory):
    """16 px StyleGAN3-T, StyleGAN3-R and StyleGAN2 pickles (the pkl_dir ones are 32 px)."""
    torch.set_num_threads(1)
    return write_tiny_networks(tmp_path_factory.mktemp('small'), resolution=16)


def alone(args: RenderArgs, pkl: str):
    """`pkl` rendered by itself with `args`, by a fresh renderer (no cache shared with the compared render)."""
    res = Renderer().render(dataclasses.replace(args, pkl=pkl, compare_pkls=()))
    assert res.error is None, res.error
    return res


def _text_pixels(strip: np.ndarray) -> int:
    return int((strip.max(axis=2) > 150).sum())


# --- pixel identity -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize('view', [
    dict(),                                                                   # the output
    dict(translate_x=0.1, rotate=12.0, untransform=True, img_scale_db=3.0),   # moved input, resampled back
    dict(layer_name='L2_36_32', img_normalize=True, sel_channels=1, base_channel=2),  # a layer sg2 lacks
])
def test_each_pane_is_its_network_rendered_alone(pkl_dir, view):
    args = RenderArgs(pkl=str(pkl_dir / 'tiny_sg3.pkl'), w0_seeds=((5, 0.75), (6, 0.25)), trunc_psi=0.7,
                      compare_pkls=(str(pkl_dir / 'tiny_sg2.pkl'), str(pkl_dir / 'aliasing_sg3.pkl')), **view)
    res = Renderer().render(args)
    assert res.error is None and len(res.panes) == 3
    assert [p['pkl'] for p in res.panes] == [args.pkl, *args.compare_pkls]
    crops = []
    for pane in res.panes:
        ref = alone(args, pane['pkl'])
        crop = pane_crop(res.image, pane)
        np.testing.assert_array_equal(crop, ref.image)
        assert pane['error'] is None and pane['source'] == ref.image.shape[:2]
        crops.append(crop)
    assert not np.array_equal(crops[0], crops[1]) and not np.array_equal(crops[0], crops[2])  # three networks
    # the first pane's own results are those of the first network alone: stats, layers, network, latent
    first = alone(args, args.pkl)
    assert res.stats == first.stats and res.layers == first.layers and res.network == first.network
    np.testing.assert_array_equal(res.ws, first.ws)
    if 'layer_name' in view:  # a layer the StyleGAN2 lacks: its pane shows its output, and says so
        assert res.panes[1]['source'] == (32, 32) and res.panes[0]['source'] != (32, 32)
        assert any(m.startswith(NOTE_PREFIX) and 'tiny_sg2.pkl' in m and 'L2_36_32' in m for m in res.messages)


def test_fft_and_analyses_are_of_the_first_pane_and_say_so(pkl_dir):
    args = RenderArgs(pkl=str(pkl_dir / 'tiny_sg3.pkl'), fft_show=True, eq_readout=True, eq_transforms=1,
                      compare_pkls=(str(pkl_dir / 'aliasing_sg3.pkl'),))
    res = Renderer().render(args)
    ref = alone(args, args.pkl)
    np.testing.assert_array_equal(res.fft, ref.fft)
    assert res.eq == ref.eq and res.eq is not None
    assert f'{NOTE_PREFIX}FFT, EQ readout of the first pane (tiny_sg3.pkl) only' in res.messages
    assert not any('first pane' in m for m in Renderer().render(dataclasses.replace(args, fft_show=False,
                                                                                     eq_readout=False)).messages)


# --- the label strip --------------------------------------------------------------------------------------------
def test_label_strip_names_each_pane_within_its_width(pkl_dir):
    args = RenderArgs(pkl=str(pkl_dir / 'tiny_sg3.pkl'), compare_pkls=(str(pkl_dir / 'tiny_sg2.pkl'),))
    res = Renderer().render(args)
    top = res.panes[0]['y']
    assert top >= 10 and res.image.shape[0] == top + 32  # a strip above 32 px panes
    strip = res.image[:top]
    for pane in res.panes:
        assert _text_pixels(strip[:, pane['x']:pane['x'] + pane['width']]) > 15, pane['name']
    gap = strip[:, res.panes[0]['width']:res.panes[1]['x']]
    assert gap.size and (gap == BACKGROUND).all()  # each name is cut at its pane's edge
    assert [p['name'] for p in res.panes] == ['tiny_sg3.pkl', 'tiny_sg2.pkl']
    # known answers: no names, no text; a different name, different pixels
    assert (label_strip([32, 32], ['', '']) == BACKGROUND).all()
    assert not np.array_equal(label_strip([64], ['a.pkl']), label_strip([64], ['b.pkl']))


# --- mixed resolutions --------------------------------------------------------------------------------------------
def test_mixed_resolutions_are_enlarged_by_whole_pixels_with_a_note(pkl_dir, small):
    args = RenderArgs(pkl=small['sg3'], compare_pkls=(str(pkl_dir / 'tiny_sg2.pkl'), small['sg2']),
                      w0_seeds=((2, 1.0),))
    res = Renderer().render(args)
    assert res.error is None
    assert [(p['source'], p['scale'], p['height']) for p in res.panes] == [((16, 16), 'x2', 32), ((32, 32), '', 32),
                                                                          ((16, 16), 'x2', 32)]
    for pane in res.panes:
        box = res.image[pane['y']:pane['y'] + 32, pane['x']:pane['x'] + pane['width']]
        ref = alone(args, pane['pkl']).image
        np.testing.assert_array_equal(box, np.repeat(np.repeat(ref, 32 // ref.shape[0], 0), 32 // ref.shape[1], 1))
    (note,) = [m for m in res.messages if 'px high' in m]
    assert note == (f'{NOTE_PREFIX}panes shown 32 px high: sg3.pkl 16 px enlarged x2 (whole pixels); '
                    'sg2.pkl 16 px enlarged x2 (whole pixels)')


def test_to_height_known_answers():
    img = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    same, how = to_height(img, 4)
    assert same is img and how == ''
    big, how = to_height(img, 12)
    assert how == 'x3' and big.shape == (12, 18, 3) and (big[::3, ::3] == img).all() and (big[2::3, 2::3] == img).all()
    odd, how = to_height(img, 6)  # 4 -> 6 rows: nearest neighbour, rows 0 0 1 2 2 3, width 9
    assert how == 'nearest' and odd.shape == (6, 9, 3)
    np.testing.assert_array_equal(odd[:, 0], img[[0, 0, 1, 2, 2, 3], 0])
    np.testing.assert_array_equal(odd[0], img[0, [0, 0, 1, 2, 2, 3, 4, 4, 5]])
    image, boxes, notes = compose_panes([img, np.zeros((6, 6, 3), np.uint8)], ['a', 'b'])
    assert boxes[0]['scale'] == 'nearest' and 'a 4 px resampled (nearest neighbour)' in notes[0]


# --- a network that fails -----------------------------------------------------------------------------------------
def test_a_broken_pane_is_grey_and_the_others_render(pkl_dir, tmp_path):
    missing = str(tmp_path / 'nowhere.pkl')
    args = RenderArgs(pkl=str(pkl_dir / 'tiny_sg3.pkl'), compare_pkls=(missing, str(pkl_dir / 'garbage.pkl')))
    renderer = Renderer(log_failures=False)
    res = renderer.render(args)
    assert res.error is None and len(res.panes) == 3
    np.testing.assert_array_equal(pane_crop(res.image, res.panes[0]), alone(args, args.pkl).image)
    for pane in res.panes[1:]:
        assert pane['error'] and (pane_crop(res.image, pane) == FAILED_GREY).all()
        assert pane['width'] == pane['height'] == 32 and pane['source'] is None
    failures = [m for m in res.messages if 'grey pane' in m]
    assert len(failures) == 2 and 'nowhere.pkl' in failures[0] and 'garbage.pkl' in failures[1]
    assert all('\n' not in m for m in failures)
    # the broken one first, a good one after it: the good one still renders
    args = dataclasses.replace(args, compare_pkls=(str(pkl_dir / 'garbage.pkl'), str(pkl_dir / 'tiny_sg2.pkl')))
    res = renderer.render(args)
    assert res.error is None and res.panes[1]['error'] and res.panes[2]['error'] is None
    np.testing.assert_array_equal(pane_crop(res.image, res.panes[2]), alone(args, args.pkl.replace(
        'tiny_sg3', 'tiny_sg2')).image)


def test_more_than_two_are_refused_in_one_line(pkl_dir):
    sg2 = str(pkl_dir / 'tiny_sg2.pkl')
    res = Renderer(log_failures=False).render(RenderArgs(pkl=str(pkl_dir / 'tiny_sg3.pkl'),
                                                         compare_pkls=(sg2, sg2, sg2)))
    assert res.image is None and res.error and '\n' not in res.error
    assert 'at most 2' in res.error and 'got 3' in res.error and not res.network  # refused before any network loads


# --- caches -------------------------------------------------------------------------------------------------------
def test_caches_hold_with_compared_networks(pkl_dir):
    renderer = Renderer()
    sg2, aliasing = str(pkl_dir / 'tiny_sg2.pkl'), str(pkl_dir / 'aliasing_sg3.pkl')
    base = RenderArgs(pkl=str(pkl_dir / 'tiny_sg3.pkl'))
    renderer.render(base)
    assert renderer.synthesis_runs == 1
    args = dataclasses.replace(base, compare_pkls=(sg2, aliasing))
    first = renderer.render(args)
    assert renderer.synthesis_runs == 3  # the first pane's synthesis is not redone: only the two new networks ran
    nets = dict(renderer.networks._networks)
    assert len(nets) == 3
    again = renderer.render(args)
    np.testing.assert_array_equal(again.image, first.image)
    shown = renderer.render(dataclasses.replace(args, img_normalize=True, fft_show=True))  # display fields only
    assert renderer.synthesis_runs == 3
    for pane in shown.panes:
        np.testing.assert_array_equal(pane_crop(shown.image, pane),
                                      alone(dataclasses.replace(args, img_normalize=True), pane['pkl']).image)
    assert renderer.view_from_cache(dataclasses.replace(args, img_scale_db=2.0), first) is None  # the render thread's
    renderer.render(dataclasses.replace(args, w0_seeds=((9, 1.0),)))
    assert renderer.synthesis_runs == 6
    assert all(renderer.networks._networks[k] is v for k, v in nets.items())  # no network loaded twice
    renderer.render(dataclasses.replace(args, compare_pkls=(aliasing,)))  # one fewer: its caches go
    assert set(renderer._pane_caches) == {aliasing}
    renderer.render(base)
    assert renderer._pane_caches == {}


# --- sessions -----------------------------------------------------------------------------------------------------
def test_session_round_trip_and_checks(tmp_path):
    from viz.core.session import SessionError, check_changes, load_session, save_session

    args = RenderArgs(pkl='a.pkl', compare_pkls=('b.pkl', '/runs/c.pkl'))
    path = str(tmp_path / 's.json')
    save_session(path, args)
    loaded, _views = load_session(path)
    assert loaded == args and hash(loaded) == hash(args) and loaded.compare_pkls == ('b.pkl', '/runs/c.pkl')
    for bad in (['a', 'b', 'c'], [1], [''], 'b.pkl', [['b.pkl']]):
        (tmp_path / 'bad.json').write_text(json.dumps(dict(version=1, args={'compare_pkls': bad})))
        with pytest.raises(SessionError, match='args.compare_pkls') as err:
            load_session(str(tmp_path / 'bad.json'))
        assert '\n' not in str(err.value)
    accepted, notes = check_changes(args, {'compare_pkls': ('x', 'y', 'z')})
    assert accepted == {} and len(notes) == 1 and notes[0].startswith('compare_pkls')


# --- headless -----------------------------------------------------------------------------------------------------
def test_headless_writes_the_composed_image(pkl_dir, small, tmp_path, capsys):
    from viz.core.headless import run_headless

    out = tmp_path / 'out'
    assert run_headless(pkls=[str(pkl_dir / 'tiny_sg3.pkl')], compare=[small['sg2']], out_dir=str(out),
                        views='image,fft', seed=4) == 0
    printed = capsys.readouterr()
    assert 'compared with: sg2.pkl' in printed.out and 'note: panes shown 32 px high' in printed.out
    assert 'note: FFT of the first pane' in printed.out and printed.err == ''
    info = json.loads((out / 'render_info.json').read_text())
    image = np.asarray(PIL.Image.open(out / 'image.png').convert('RGB'))
    args = RenderArgs(pkl=str(pkl_dir / 'tiny_sg3.pkl'), w0_seeds=((4, 1.0),))
    for pane in info['panes']:
        np.testing.assert_array_equal(pane_crop(image, pane), alone(args, pane['pkl']).image)
    assert info['args']['compare_pkls'] == [small['sg2']] and info['errors'] == []
    # a compared network that fails: the others are written, the failure is one error line, exit status 1
    out2 = tmp_path / 'out2'
    assert run_headless(pkls=[str(pkl_dir / 'tiny_sg3.pkl')], compare=[str(pkl_dir / 'garbage.pkl')],
                        out_dir=str(out2), views='image') == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith('error: compare: garbage.pkl:')
    assert (out2 / 'image.png').exists()
    assert run_headless(pkls=[str(pkl_dir / 'tiny_sg3.pkl')], compare=['a', 'b', 'c'], out_dir=str(tmp_path / 'x'),
                        views='image') == 2
    assert capsys.readouterr().err == 'error: compare with at most 2 other networks (three panes), got 3 (--compare)\n'


def test_visualizer_command_line_refuses_three(pkl_dir, capsys):
    import visualizer

    sg2 = str(pkl_dir / 'tiny_sg2.pkl')
    assert visualizer.main([str(pkl_dir / 'tiny_sg3.pkl'), '--headless', '--compare', sg2, sg2, sg2]) == 1
    assert capsys.readouterr().err == 'error: compare with at most 2 other networks (three panes), got 3 (--compare)\n'
