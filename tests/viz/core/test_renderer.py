"""Renderer tests without GL: every view on tiny networks, by value."""

from __future__ import annotations

import dataclasses
import math
import shutil

import numpy as np
import pytest
import torch

import networks
from networks.conventions import to_uint8_rgb
from tests.tiny_networks import tiny_generator
from viz.core.latents import compute_ws
from viz.core.render_types import RenderArgs
from viz.core.synthesis import run_synthesis
from viz.core.views import colormap, fft_view, untransform_image


def test_image_layers_and_info(renderer, sg3):
    res = renderer.render(sg3)
    assert res.error is None
    assert res.image.shape == (32, 32, 3) and res.image.dtype == np.uint8
    assert res.image.std() > 1  # not blank
    names = [layer.name for layer in res.layers]
    assert names[0] == 'input' and names[-2].endswith('_3') and len(names) == 17
    assert names[-1] == 'output' and res.layers[-1].shape == (1, 3, 32, 32)  # NVlabs' final entry
    np.testing.assert_array_equal(renderer.render(dataclasses.replace(sg3, layer_name='output')).image, res.image)
    assert all(len(layer.shape) == 4 and layer.dtype == 'float32' for layer in res.layers)
    assert res.network['kind'] == 'StyleGAN3' and res.network['resolution'] == 32 and not res.network['untrained']
    assert res.timings['total'] > 0 and 'synthesis' in res.timings


def test_seed_and_truncation(renderer, sg3):
    a = renderer.render(dataclasses.replace(sg3, w0_seeds=((0, 1.0),))).image.astype(int)
    b = renderer.render(dataclasses.replace(sg3, w0_seeds=((1, 1.0),))).image.astype(int)
    assert np.abs(a - b).mean() > 2
    # psi = 0: every seed maps to w_avg, so the images are equal.
    a0 = renderer.render(dataclasses.replace(sg3, w0_seeds=((0, 1.0),), trunc_psi=0.0)).image
    b0 = renderer.render(dataclasses.replace(sg3, w0_seeds=((1, 1.0),), trunc_psi=0.0)).image
    np.testing.assert_array_equal(a0, b0)
    # Style mixing every ws from seed 1 reproduces seed 1.
    mixed = renderer.render(dataclasses.replace(sg3, w0_seeds=((0, 1.0),), stylemix_seed=1,
                                                stylemix_idx=tuple(range(16)))).image.astype(int)
    assert np.abs(mixed - b).max() <= 1


def test_layer_view_single_channel_and_stats(renderer, sg3):
    full = renderer.render(sg3)
    layer = full.layers[3]
    res = renderer.render(dataclasses.replace(sg3, layer_name=layer.name, sel_channels=1, base_channel=5))
    assert res.error is None
    assert res.image.shape == (layer.shape[2], layer.shape[3], 3)
    assert (res.image[:, :, 0] == res.image[:, :, 1]).all()  # one channel shown as grey
    assert res.stats['base_channel'] == 5 and res.stats['num_channels'] == layer.shape[1]
    normed = renderer.render(dataclasses.replace(sg3, layer_name=layer.name, sel_channels=1, base_channel=5,
                                                 img_normalize=True))
    # Normalising divides by the channel's largest magnitude: that pixel becomes +1 (255) or -1 (0),
    # by the sign of the activation there, computed here without the renderer's view code.
    G = renderer.networks.get(sg3.pkl).G
    ws = compute_ws(G, sg3.w0_seeds, sg3.stylemix_seed, sg3.stylemix_idx, sg3.trunc_psi, sg3.trunc_cutoff,
                    torch.device('cpu'))
    act = run_synthesis(G, ws, capture_layer=layer.name)[0, 5]
    peak = act.flatten()[act.abs().argmax()]
    extreme = (normed.image[:, :, 0] == 255) if peak > 0 else (normed.image[:, :, 0] == 0)
    assert extreme[np.unravel_index(int(act.abs().argmax()), act.shape)]
    # the "shown" stats follow the display settings as the picture does: the layer's own line does not move
    assert res.stats['sel_max'] == pytest.approx(float(act.abs().max()), rel=1e-5)
    assert normed.stats['sel_max'] == pytest.approx(1.0) and normed.stats['max'] == res.stats['max']
    louder = renderer.render(dataclasses.replace(sg3, layer_name=layer.name, sel_channels=1, base_channel=5,
                                                 img_scale_db=40.0))
    assert louder.stats['sel_std'] == pytest.approx(100 * res.stats['sel_std'], rel=1e-5)
    assert louder.stats['std'] == res.stats['std']
    unknown = renderer.render(dataclasses.replace(sg3, layer_name='nope'))
    assert unknown.error is None and unknown.image.shape == (32, 32, 3) and 'no layer' in unknown.messages[0]


def test_fft_view_of_sinusoid_peaks_at_its_frequency():
    h = w = 64
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing='ij')
    sig = torch.cos(2 * math.pi * (5 * xx / w + 3 * yy / h))[None].float()
    db, rgb = fft_view(sig, beta=8, range_db=50)
    assert db.shape == (h, w) and rgb.shape == (h, w, 3) and rgb.dtype == np.uint8
    # A real cosine has two mirror-image peaks of equal power: they are the two largest bins.
    top2 = {tuple(int(i) for i in np.unravel_index(k, db.shape)) for k in np.argsort(db, axis=None)[-2:]}
    assert top2 == {(h // 2 + 3, w // 2 + 5), (h // 2 - 3, w // 2 - 5)}
    assert db[h // 2 + 3, w // 2 + 5] == pytest.approx(db[h // 2 - 3, w // 2 - 5], abs=1e-3)


def test_fft_in_render(renderer, sg3):
    res = renderer.render(dataclasses.replace(sg3, fft_show=True, fft_range_db=30.0))
    # The 32 px FFT enlarged 8x to 256 rows (whole pixels), then a colour bar from +30 dB (top) to -30 dB.
    x = run_synthesis(renderer.networks.get(sg3.pkl).G, renderer._ws_cache[1])[0]
    _db, rgb = fft_view(x, beta=8.0, range_db=30.0)
    assert res.fft.shape[0] == 256 and res.fft.shape[1] > 256 + 8
    np.testing.assert_array_equal(res.fft[:, :256], np.repeat(np.repeat(rgb, 8, axis=0), 8, axis=1))
    bar_col = next(c for c in range(256, res.fft.shape[1]) if res.fft[:, c].std() > 20)  # first gradient column
    np.testing.assert_array_equal(res.fft[:, bar_col], colormap(1 - np.linspace(0, 1, 256)))


def test_whole_pixel_translation_shifts_image(renderer, sg3):
    base = renderer.render(sg3).image.astype(float)
    shifted = renderer.render(dataclasses.replace(sg3, translate_x=4 / 32, translate_y=-2 / 32)).image.astype(float)
    # Content moves right by 4 and up by 2 pixels; compare away from the borders.
    diff = np.abs(shifted[6:-6, 8:-6] - base[8:-4, 4:-10]).mean()
    unrelated = np.abs(shifted[6:-6, 8:-6] - base[6:-6, 8:-6]).mean()
    assert diff < 2.0 and diff < unrelated / 3
    back = renderer.render(dataclasses.replace(sg3, translate_x=4 / 32, translate_y=-2 / 32, untransform=True))
    assert np.abs(back.image.astype(float)[6:-6, 6:-6] - base[6:-6, 6:-6]).mean() < 2.0


def test_untransform_is_the_band_limited_operator(renderer, sg3):
    """The untransformed view is ops.resample.untransform of the transformed output, and the stats are its."""
    from ops.resample import untransform

    img = torch.rand(3, 16, 16)
    expected, _mask = untransform(img, (0.1, -0.05), 7.0)
    torch.testing.assert_close(untransform_image(img, 0.1, -0.05, 7.0), expected, rtol=0, atol=0)
    moved = dataclasses.replace(sg3, translate_x=0.1, translate_y=-0.05, rotate=7.0)
    res = renderer.render(dataclasses.replace(moved, untransform=True))
    G = renderer.networks.get(sg3.pkl).G
    ws = compute_ws(G, sg3.w0_seeds, sg3.stylemix_seed, sg3.stylemix_idx, sg3.trunc_psi, sg3.trunc_cutoff,
                    torch.device('cpu'))
    from networks.stylegan3 import input_transform

    with torch.no_grad(), input_transform(G, (0.1, -0.05), 7.0):
        out = run_synthesis(G, ws)[0]
    back, mask = untransform(out, (0.1, -0.05), 7.0)
    np.testing.assert_array_equal(res.image, to_uint8_rgb(back))
    assert res.stats['untransformed'] and res.stats['mean'] == pytest.approx(float(back.mean()), abs=1e-6)
    assert res.stats['std'] == pytest.approx(float(back.std()), abs=1e-6)
    plain = renderer.render(moved)
    assert not plain.stats['untransformed'] and plain.stats['mean'] == pytest.approx(float(out.mean()), abs=1e-6)
    assert mask.min() == 0 and mask.max() == 1  # the test transform moves something out of the frame


@pytest.mark.parametrize('name, expect', [
    ('garbage.pkl', 'not a network pickle'),
    ('truncated.pkl', 'truncated or corrupt'),
    ('malicious.pkl', 'refused global'),
    ('no_generator.pkl', 'generator'),
    ('missing.pkl', 'not found'),
])
def test_bad_pickles_give_error_results(renderer, pkl_dir, name, expect):
    res = renderer.render(RenderArgs(pkl=str(pkl_dir / name)))
    assert res.error and res.image is None
    assert '\n' not in res.error and expect in res.error.lower()
    assert not (pkl_dir / 'PWNED').exists()


def test_directory_and_unavailable_device(renderer, pkl_dir):
    assert 'directory' in renderer.render(RenderArgs(pkl=str(pkl_dir))).error
    if not torch.cuda.is_available():
        err = renderer.render(RenderArgs(device='cuda')).error
        assert 'CUDA is not available' in err
    assert 'unsupported device' in renderer.render(RenderArgs(device='xla')).error


def test_stylegan2_noise_and_layers(renderer, pkl_dir):
    args = RenderArgs(pkl=str(pkl_dir / 'tiny_sg2.pkl'))
    res = renderer.render(args)
    assert res.error is None and res.network['kind'] == 'StyleGAN2' and res.network['has_noise']
    names = [layer.name for layer in res.layers]
    assert any(n.startswith('b4') for n in names) and res.image.shape == (32, 32, 3)
    r1 = renderer.render(dataclasses.replace(args, noise_mode='random', noise_seed=1)).image
    r1b = renderer.render(dataclasses.replace(args, noise_mode='random', noise_seed=1)).image
    r2 = renderer.render(dataclasses.replace(args, noise_mode='random', noise_seed=2)).image
    np.testing.assert_array_equal(r1, r1b)
    assert not np.array_equal(r1, r2)
    layer = next(n for n in names if ':' in n or 'conv1' in n)
    assert renderer.render(dataclasses.replace(args, layer_name=layer)).error is None
    eq = renderer.render(dataclasses.replace(args, eq_readout=True))
    assert eq.eq is None and any('StyleGAN3' in m for m in eq.messages)


def test_average_spectrum(renderer, sg3):
    res = renderer.render(dataclasses.replace(sg3, spectrum_seeds=4))
    spec = res.spectrum
    # NVlabs' heatmap of a 32 px network with 4x padding: 129 x 129 bins, absolute dB, DC at the centre.
    assert spec is not None and spec['db'].shape == (129, 129) and spec['image'].shape == (129, 129, 3)
    assert spec['definition'] == 'nvlabs' and 'NVlabs' in spec['label'] and spec['num_seeds'] == 4
    assert len(spec['freqs']) == len(spec['deg0']) == len(spec['freqs45']) == len(spec['deg45']) == 65
    assert spec['freqs'][-1] == pytest.approx(16)  # 0 degrees: to Nyquist
    assert spec['freqs45'][-1] == pytest.approx(16 * math.sqrt(2))  # 45 degrees: to the corner
    assert spec['colorbar'].shape[0] >= spec['image'].shape[0]
    layer = res.layers[2].name
    res2 = renderer.render(dataclasses.replace(sg3, spectrum_seeds=4, spectrum_layer=True, layer_name=layer))
    assert res2.spectrum['layer'] == layer and 'activations' in res2.spectrum['label']


def test_sticking_values(renderer, sg3):
    """Radius 0: the average is the seed's image and the walk (z0 + 4 * radius * z(seed + 1)) stays on it; a real
    radius moves the streak's end away from the image's centre column."""
    args = dataclasses.replace(sg3, w0_seeds=((3, 1.0),))
    res = renderer.render(dataclasses.replace(args, sticking=True, sticking_radius=0.0, sticking_num=2,
                                              sticking_frames=5))
    assert res.sticking is not None, res.messages
    image = res.image.astype(int)
    # The render's w is w_avg + (w - w_avg): equal to the analysis' w up to float rounding (one grey level).
    assert np.abs(res.sticking['average'].astype(int) - image).max() <= 1
    streak = res.sticking['streak'].astype(int)
    assert np.abs(streak - image[:, 16:17]).max() <= 1
    moved = renderer.render(dataclasses.replace(args, sticking=True, sticking_radius=0.5, sticking_num=2,
                                                sticking_frames=5)).sticking['streak'].astype(int)
    assert np.abs(moved[:, 0] - image[:, 16]).max() <= 1
    assert np.abs(moved[:, -1] - image[:, 16]).max() > 10  # the two ends differ: the check above can fail


def test_render_leaves_no_transform_behind(renderer, sg3):
    """A moved render restores the input transform: the next plain render and the analyses are unmoved."""
    plain = renderer.render(sg3).image
    renderer.render(dataclasses.replace(sg3, translate_x=0.25, rotate=30))
    G = renderer.networks.get(sg3.pkl).G
    torch.testing.assert_close(G.synthesis.input.transform, torch.eye(3))
    np.testing.assert_array_equal(renderer.render(sg3).image, plain)


def test_eq_readout_alias_free_far_above_aliasing(renderer, sg3, pkl_dir):
    alias_free = renderer.render(dataclasses.replace(sg3, eq_readout=True)).eq
    aliasing = renderer.render(RenderArgs(pkl=str(pkl_dir / 'aliasing_sg3.pkl'), eq_readout=True)).eq
    assert alias_free['eqt_int'] > aliasing['eqt_int'] + 20
    assert alias_free['eqt_frac'] > aliasing['eqt_frac'] + 20


def test_eq_readout_and_sticking(renderer, sg3):
    res = renderer.render(dataclasses.replace(sg3, eq_readout=True, eq_transforms=2))
    assert res.eq is not None, res.messages
    assert set(res.eq) >= {'eqt_int', 'eqt_frac', 'eqr'}
    assert res.eq['eqt_int'] > 30  # an SG3-T is translation equivariant
    res = renderer.render(dataclasses.replace(sg3, sticking=True, sticking_num=3, sticking_frames=6))
    assert res.sticking is not None, res.messages
    assert res.sticking['average'].shape == (32, 32, 3)
    assert res.sticking['streak'].shape == (32, 6, 3)


def test_blend_seeds():
    from viz.gui.widgets.latent_widget import blend_seeds

    assert blend_seeds(3.0, 0.0) == ((3, 1.0),)
    seeds = blend_seeds(3.25, 0.5)
    assert len(seeds) == 4 and abs(sum(w for _s, w in seeds) - 1) < 1e-9
    assert dict(seeds)[3] == pytest.approx(0.75 * 0.5)


def test_reduced_precision_close_to_float32(renderer, sg3):
    ref = renderer.render(sg3).image.astype(int)
    res = renderer.render(dataclasses.replace(sg3, precision='bfloat16'))
    assert res.error is None and res.network['precision'] == 'bfloat16'
    assert np.abs(res.image.astype(int) - ref).mean() < 8
    assert 'unknown precision' in renderer.render(dataclasses.replace(sg3, precision='int3')).error


@pytest.mark.parametrize('ext', ['mp4', 'gif'])
def test_video_recorder(tmp_path, ext):
    import imageio.v3 as iio

    from viz.core.video_writer import VideoRecorder

    rec = VideoRecorder(str(tmp_path / f'v.{ext}'), fps=10)
    for i in range(6):
        frame = np.zeros((33, 48, 3), np.uint8)  # odd height: cropped to even for H.264
        frame[:, i * 8:(i + 1) * 8] = 255
        rec.add(frame)
    path = rec.close()
    frames = iio.imread(path, index=None)
    assert frames.shape[0] == 6 and frames.shape[1:3] == (32, 48)
    assert frames[3][:, 24:32].mean() > 150 and frames[3][:, :8].mean() < 60


# --- the exploration fields: explicit latent, class, directions, input transforms --------------------------------

@pytest.fixture(scope='module')
def G(pkl_dir):
    return networks.load_generator(str(pkl_dir / 'tiny_sg3.pkl'), 'cpu')


@pytest.fixture(scope='module')
def conditional(tmp_path_factory):
    """A 4-class tiny StyleGAN3 and its pickle."""
    G = tiny_generator('sg3', c_dim=4, seed=3, output_scale=2.0)
    path = str(tmp_path_factory.mktemp('cond') / 'cond.pkl')
    networks.save_network_pkl(path, dict(G_ema=G))
    return G, path


def _image(G, ws) -> np.ndarray:
    with torch.no_grad():
        return to_uint8_rgb(G.synthesis(ws, noise_mode='const')[0])


def _seed_ws(G, seed: int, c=None) -> torch.Tensor:
    from networks.conventions import seed_to_zc

    z, c_seed = seed_to_zc(seed, G.z_dim, G.c_dim)
    c = c_seed if c is None else c
    with torch.no_grad():
        return G.mapping(torch.from_numpy(z[None]).float(), torch.from_numpy(np.asarray(c)[None]).float())


# --- explicit latent -----------------------------------------------------------------------------------------

def test_explicit_w_plus_renders_exactly_that_latent(renderer, sg3, G):
    ws = _seed_ws(G, 5)
    ws[:, 3:] = _seed_ws(G, 9)[:, 3:]  # a w+ no seed gives
    res = renderer.render(dataclasses.replace(sg3, latent=tuple(ws.flatten().tolist())))
    assert res.error is None
    np.testing.assert_array_equal(res.image, _image(G, ws))
    # the same w as a seed, given explicitly, is bit-identical to the seed's render
    by_seed = renderer.render(dataclasses.replace(sg3, w0_seeds=((5, 1.0),))).image
    by_w = renderer.render(dataclasses.replace(sg3, latent=tuple(_seed_ws(G, 5)[0, 0].tolist()))).image
    np.testing.assert_array_equal(by_seed, by_w)


def test_latent_file_projected_w_npz(renderer, sg3, G, tmp_path):
    ws = _seed_ws(G, 11)
    ws[:, ::2] += 0.3
    path = str(tmp_path / 'projected_w.npz')
    np.savez(path, w=ws[0].numpy(), space=np.array('w+'))
    res = renderer.render(dataclasses.replace(sg3, latent_file=path))
    assert res.error is None
    np.testing.assert_array_equal(res.image, _image(G, ws))
    # rewriting the file (a new projection) updates the view, though the args are the same
    import os
    import time

    np.savez(path, w=_seed_ws(G, 12)[0].numpy())
    os.utime(path, ns=(time.time_ns() + 10**9,) * 2)
    np.testing.assert_array_equal(renderer.render(dataclasses.replace(sg3, latent_file=path)).image,
                                  _image(G, _seed_ws(G, 12)))


def test_style_mixing_takes_exactly_the_chosen_ws_from_the_mix_seed(renderer, sg3, G):
    """Rows 2, 5 and 7 from seed 1, the rest from seed 0: the image is G's image of exactly that ws; indices past
    num_ws are ignored."""
    idx = [2, 5, 7]
    ws = _seed_ws(G, 0)
    ws[:, idx] = _seed_ws(G, 1)[:, idx]
    res = renderer.render(dataclasses.replace(sg3, w0_seeds=((0, 1.0),), stylemix_seed=1,
                                              stylemix_idx=(*idx, G.num_ws + 3)))
    assert res.error is None
    np.testing.assert_array_equal(res.image, _image(G, ws))
    for seed in (0, 1):  # a mix of the two, not either seed's image
        assert np.abs(res.image.astype(int) - _image(G, _seed_ws(G, seed)).astype(int)).mean() > 1


def test_truncation_applies_to_the_explicit_latent(renderer, sg3, G):
    ws = _seed_ws(G, 2)
    at_zero = renderer.render(dataclasses.replace(sg3, latent=tuple(ws.flatten().tolist()), trunc_psi=0.0)).image
    seed_zero = renderer.render(dataclasses.replace(sg3, w0_seeds=((7, 1.0),), trunc_psi=0.0)).image
    np.testing.assert_array_equal(at_zero, seed_zero)  # both are w_avg


@pytest.mark.parametrize('change, text', [
    (dict(latent=(1.0, 2.0, 3.0)), 'w+'),
    (dict(latent=(float('nan'),) * 16), 'non-finite'),
    (dict(latent=(0.0,) * 16, latent_file='x.npz'), 'not both'),
    (dict(latent_file='/nonexistent/projected_w.npz'), 'does not exist'),
])
def test_bad_latents_are_one_line_errors(renderer, sg3, change, text):
    res = renderer.render(dataclasses.replace(sg3, **change))
    assert res.error is not None and text in res.error and '\n' not in res.error


def test_a_pickle_disguised_as_a_latent_is_not_unpickled(renderer, sg3, tmp_path):
    path = str(tmp_path / 'evil.npy')
    np.save(path, np.array([{'a': 1}], dtype=object), allow_pickle=True)
    res = renderer.render(dataclasses.replace(sg3, latent_file=path))
    assert res.error is not None and 'never unpickled' in res.error


# --- class -------------------------------------------------------------------------------------------------

def test_classes_render_different_images_and_none_is_the_seeds_own(renderer, conditional):
    G, path = conditional
    args = RenderArgs(pkl=path, w0_seeds=((3, 1.0),))
    images = [renderer.render(dataclasses.replace(args, class_idx=k)).image for k in range(4)]
    for k in range(4):
        np.testing.assert_array_equal(images[k], _image(G, _seed_ws(G, 3, np.eye(4, dtype=np.float32)[k])))
    assert all(np.abs(images[0].astype(int) - im.astype(int)).mean() > 1 for im in images[1:])
    from networks.conventions import seed_to_zc

    drawn = int(np.argmax(seed_to_zc(3, G.z_dim, G.c_dim)[1]))  # NVlabs' visualizer: the class comes from the seed
    np.testing.assert_array_equal(renderer.render(args).image, images[drawn])
    res = renderer.render(dataclasses.replace(args, class_idx=4))
    assert res.error is not None and 'out of range' in res.error


# --- directions and transforms in the renderer -----------------------------------------------------------------

def test_direction_at_strength_zero_is_bit_identical(renderer, sg3, tmp_path):
    renderer.directions.cache_dir = str(tmp_path)
    plain = renderer.render(sg3).image
    zero = renderer.render(dataclasses.replace(sg3, directions=(('pca', 0, 0.0, 'all'), ('pca', 1, 0.0, 'fine'))))
    assert zero.error is None
    np.testing.assert_array_equal(plain, zero.image)
    moved = renderer.render(dataclasses.replace(sg3, directions=(('pca', 0, 3.0, 'all'),)))
    assert moved.error is None and np.abs(moved.image.astype(int) - plain.astype(int)).mean() > 1


def test_mirror_scale_shear_render_with_eq_readout_and_fft(renderer, sg3):
    plain = renderer.render(sg3)
    args = dataclasses.replace(sg3, mirror_x=True, input_scale=1.5, shear_x=0.2, eq_readout=True, eq_transforms=1,
                               fft_show=True)
    res = renderer.render(args)
    assert res.error is None and res.eq is not None and res.fft is not None
    assert any('trained to be equivariant' in m for m in res.messages)
    assert np.abs(res.image.astype(int) - plain.image.astype(int)).mean() > 1
    assert res.eq == renderer.render(dataclasses.replace(sg3, eq_readout=True, eq_transforms=1)).eq  # same latent
    bad = renderer.render(dataclasses.replace(sg3, shear_x=2.0, shear_y=0.5))
    assert bad.error is not None and 'collapses' in bad.error


def test_a_failed_render_names_the_windows_control_not_a_flag():
    """The renderer serves the window: a user error's option comes back as the control's name (and a suggested
    value), never as a command-line flag, and a command to run is left out."""
    from viz.core.renderer import Renderer

    res = Renderer(log_failures=False).render(RenderArgs(device='mps'))
    assert res.error == 'MPS is not available here; use the CPU (Performance > Device: cpu)'


def test_error_text_words_hints_for_the_window():
    from networks.errors import UserError
    from viz.core.render_types import error_text

    assert error_text(UserError('bad noise mode', option='noise_mode')) == 'bad noise mode (Noise)'
    assert error_text(UserError('no input transform', option=('translate', 'rotate'))) == \
        'no input transform (Translate, Rotate)'
    assert error_text(UserError('odd', option='num_keyframes', value='3')) == \
        'odd (the "num keyframes" setting: 3)'
    assert error_text(UserError("spectrum file not found: 'x.npz'", hint_command='tools.avg_spectra calc ...')) \
        == "spectrum file not found: 'x.npz'"
    assert error_text(UserError('plain')) == 'plain'


def test_a_first_pca_reports_its_progress_and_clears_it(sg3, tmp_path):
    """The first PCA of a network (10,000 samples of w; 40 s on a loaded CPU for a 64 px network) showed only
    "rendering...": the renderer now reports it through the analysis control, which the window shows."""
    from analysis.directions import DirectionResolver
    from viz.core.analysis_cache import PCA_PROGRESS, AnalysisControl
    from viz.core.renderer import Renderer

    renderer = Renderer()
    renderer.directions = DirectionResolver(cache_dir=str(tmp_path), num_samples=2500)
    reports = []
    control = AnalysisControl()
    real = control.report
    control.report = lambda what, done, total: (reports.append((what, done, total)), real(what, done, total))
    res = renderer.render(dataclasses.replace(sg3, directions=(('pca', 0, 2.0, 'all'),)), control)
    assert res.error is None
    assert reports == [(PCA_PROGRESS, 1000, 2500), (PCA_PROGRESS, 2000, 2500), (PCA_PROGRESS, 2500, 2500)]
    assert control.progress is None                  # cleared once the PCA is there
    reports.clear()
    renderer.render(dataclasses.replace(sg3, directions=(('pca', 0, 3.0, 'all'),)), control)
    assert reports == []                             # known now: nothing to report
    # A compared network's first PCA reports too, and the first pane's stays known.
    other = shutil.copy(sg3.pkl, tmp_path / 'compared.pkl')
    renderer.directions.num_samples = 1500                # another key: the disk cache does not answer
    res = renderer.render(dataclasses.replace(sg3, directions=(('pca', 0, 4.0, 'all'),),
                                              compare_pkls=(str(other),)), control)
    assert res.error is None and len(res.panes) == 2
    assert reports == [(PCA_PROGRESS, 1000, 1500), (PCA_PROGRESS, 1500, 1500)] and control.progress is None
