"""analysis.projection: recovering a known latent, the saved result, StyleGAN2 noise maps, target loading."""

import math
import os

import numpy as np
import PIL.Image
import pytest
import torch

from analysis.projection import (
    ProjectionError,
    load_projection,
    load_target,
    noise_maps,
    noise_regulariser,
    project,
    psnr,
    render_projection,
    save_projection,
)
from networks.stylegan2 import Generator as G2
from networks.stylegan3 import Generator as G3
from tests.networks.hostile_images import (
    LOOP_PROGRAM,
    eps,
    install_fake_ghostscript,
    jpeg_claiming,
    marker_program,
    measure,
    png_claiming,
)

# Small enough for 2 loaded cores (about 0.1 s per step), yet every layer kind of the full networks.
SMALL_SG3 = dict(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3, channel_base=512, channel_max=32,
                 output_scale=2.0, num_layers=4)
SMALL_SG2 = dict(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3, channel_base=512, channel_max=32)


def small_sg3() -> torch.nn.Module:
    torch.manual_seed(1)
    return G3(**SMALL_SG3).eval().requires_grad_(False)


def small_sg2() -> torch.nn.Module:
    torch.manual_seed(2)
    G = G2(**SMALL_SG2).eval().requires_grad_(False)
    for name, param in G.named_parameters():
        if name.endswith('noise_strength'):
            param.fill_(0.5)  # zero at init: make the noise matter
    return G


def known_ws(G: torch.nn.Module, seed: int = 5) -> torch.Tensor:
    """A w the network maps to: seed's w pulled halfway to the mean w (truncation 0.5), [1, num_ws, w_dim]."""
    z = torch.from_numpy(np.random.RandomState(seed).randn(1, G.z_dim)).float()
    with torch.no_grad():
        w_mean = G.mapping(torch.from_numpy(np.random.RandomState(99).randn(2000, G.z_dim)).float(), None).mean(0)
        return w_mean.lerp(G.mapping(z, None), 0.5)


def test_psnr_definition():
    a = torch.zeros(1, 3, 4, 4)
    assert psnr(a, a + 0.2) == pytest.approx(10 * math.log10(4 / 0.04))
    assert psnr(a, a) == math.inf


def test_w_plus_projection_recovers_a_known_latent_sg3():
    G = small_sg3()
    before = {k: v.clone() for k, v in G.state_dict().items()}
    with torch.no_grad():
        target = G.synthesis(known_ws(G))
    seen = []
    result = project(G, target, space='w+', num_steps=200, learning_rate=0.2, initial_noise_factor=0.0,
                     w_avg_samples=1000, callback=lambda s: seen.append(s.step))
    assert seen == list(range(1, 201)) and not result.stopped
    assert psnr(result.image, target) >= 30.0
    assert result.losses[-1] < 0.05 * result.losses[0]
    assert result.ws.shape == (G.num_ws, G.w_dim) and not result.noise
    # The caller's network is untouched, and the result renders to exactly the final image.
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())
    assert torch.equal(render_projection(G, result.ws), result.image)


def test_saved_w_reproduces_the_final_image_exactly(tmp_path):
    G = small_sg3()
    with torch.no_grad():
        target = G.synthesis(known_ws(G, seed=3))
    result = project(G, target, space='w', num_steps=8, w_avg_samples=500)
    assert torch.equal(result.ws, result.ws[:1].expand_as(result.ws))  # W: one w for every layer
    save_projection(str(tmp_path / 'projected_w.npz'), result)
    ws, noise = load_projection(str(tmp_path / 'projected_w.npz'))
    assert ws.dtype == torch.float32 and ws.shape == (G.num_ws, G.w_dim) and noise == {}
    assert torch.equal(render_projection(G, ws), result.image)


def test_callback_returning_false_stops():
    G = small_sg3()
    with torch.no_grad():
        target = G.synthesis(known_ws(G))
    result = project(G, target, num_steps=50, w_avg_samples=200, callback=lambda s: s.step < 3)
    assert result.stopped and len(result.losses) == 3


def test_sg2_noise_maps_are_optimised_and_regularised(tmp_path):
    G = small_sg2()
    with torch.no_grad():
        target = G.synthesis(known_ws(G), noise_mode='const')
    results = {weight: project(G, target, space='w+', num_steps=30, w_avg_samples=500, noise_reg_weight=weight)
               for weight in (0.0, 1e5)}
    reg = results[1e5]
    assert set(reg.noise) == set(noise_maps(G)) and len(reg.noise) == 5
    assert reg.losses[-1] < reg.losses[0]
    for name, noise in reg.noise.items():
        assert abs(float(noise.mean())) < 1e-4 and float(noise.square().mean()) == pytest.approx(1, abs=1e-4)
        assert not torch.equal(noise, noise_maps(G)[name])
    # The regulariser keeps the maps white: less autocorrelation than the same run without it.
    regs = {w: float(noise_regulariser(list(r.noise.values()))) for w, r in results.items()}
    assert regs[1e5] < regs[0.0]
    for noise in reg.noise.values():
        if noise.shape[0] >= 8:
            lag1 = float((noise * torch.roll(noise, 1, dims=1)).mean())
            assert abs(lag1) < 0.25
    # Saved with its noise maps, the result renders exactly; the maps matter (without them it differs).
    save_projection(str(tmp_path / 'p.npz'), reg)
    ws, noise = load_projection(str(tmp_path / 'p.npz'))
    assert torch.equal(render_projection(G, ws, noise), reg.image)
    assert not torch.equal(render_projection(G, ws), reg.image)


def test_noise_regulariser_tells_white_from_smooth():
    gen = torch.Generator().manual_seed(0)
    white = torch.randn(32, 32, generator=gen)
    smooth = torch.nn.functional.avg_pool2d(white[None, None], 3, 1, 1)[0, 0]
    smooth = (smooth - smooth.mean()) / smooth.std()
    assert float(noise_regulariser([smooth])) > 20 * float(noise_regulariser([white]))


def test_load_target_resizes_with_a_note_and_rejects_non_images(tmp_path):
    rgb = np.random.RandomState(0).randint(0, 256, (16, 16, 3), dtype=np.uint8)
    PIL.Image.fromarray(rgb).save(tmp_path / 'exact.png')
    target, note = load_target(str(tmp_path / 'exact.png'), 16)
    assert note is None and target.shape == (1, 3, 16, 16)
    np.testing.assert_allclose(((target[0].permute(1, 2, 0) + 1) * 127.5).numpy(), rgb, atol=1e-4)
    PIL.Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / 'wide.png')
    target, note = load_target(str(tmp_path / 'wide.png'), 16)
    assert target.shape == (1, 3, 16, 16) and '30x20' in note and '16x16' in note
    (tmp_path / 'text.png').write_text('not an image at all')
    with pytest.raises(ProjectionError, match='not a readable image'):
        load_target(str(tmp_path / 'text.png'), 16)
    gray = np.random.RandomState(1).randint(0, 256, (16, 16), dtype=np.uint8)
    PIL.Image.fromarray(gray).save(tmp_path / 'gray.bmp')          # any accepted format, any mode
    target, _ = load_target(str(tmp_path / 'gray.bmp'), 16, channels=1)
    np.testing.assert_allclose(((target[0, 0] + 1) * 127.5).numpy(), gray, atol=1e-4)
    with pytest.raises(ProjectionError, match='not a readable image .*file not found'):
        load_target(str(tmp_path / 'missing.png'), 16)


@pytest.mark.parametrize('program', ['marker', 'loop'])
def test_load_target_never_starts_ghostscript(tmp_path, monkeypatch, program):
    marker = tmp_path / 'marker'
    log = install_fake_ghostscript(monkeypatch, tmp_path, str(marker))
    path = tmp_path / 'face.png'
    path.write_bytes(eps(marker_program(str(marker)) if program == 'marker' else LOOP_PROGRAM))
    elapsed, _grown, err, finished = measure(lambda: load_target(str(path), 16), timeout=10)
    assert finished and isinstance(err, ProjectionError) and elapsed < 2.0
    text = str(err)
    assert '\n' not in text and 'not a readable image' in text and 'PostScript' in text
    assert not marker.exists() and not os.path.exists(log)


def test_load_target_refuses_bombs_and_special_files_in_one_line(tmp_path):
    cases = {'tall.png': png_claiming(1, 178_000_000), 'photo.jpg': jpeg_claiming(13_000, 13_000)}
    for name, payload in cases.items():
        (tmp_path / name).write_bytes(payload)
    os.mkfifo(tmp_path / 'pipe.png')
    os.symlink('/dev/zero', tmp_path / 'zero.png')
    for name in [*cases, 'pipe.png', 'zero.png']:
        elapsed, grown, err, finished = measure(lambda name=name: load_target(str(tmp_path / name), 16), timeout=10)
        assert finished and isinstance(err, ProjectionError), (name, err)
        assert '\n' not in str(err) and elapsed < 2.0 and grown < 300 << 20, (name, elapsed, grown)


def test_bad_arguments_are_user_errors():
    G = small_sg3()
    with pytest.raises(ProjectionError, match='space'):
        project(G, torch.zeros(1, 3, 16, 16), space='z')
    with pytest.raises(ProjectionError, match='target must be'):
        project(G, torch.zeros(1, 3, 8, 8))
    with pytest.raises(ProjectionError, match='ws must be'):
        render_projection(G, torch.zeros(3, 16))


def small_d(res: int = 16) -> torch.nn.Module:
    from networks.stylegan2 import Discriminator

    torch.manual_seed(3)
    return Discriminator(c_dim=0, img_resolution=res, img_channels=3, channel_base=256, channel_max=16).eval()


def _watch_d(D: torch.nn.Module, seen: list[int]) -> list[tuple[int, torch.Tensor]]:
    """Hook D's first block (project() deep-copies D; the hook goes with the copy): for each call on a projection
    step's image, (steps completed so far, the gradient at the block's output features: only the D term's)."""
    calls: list[tuple[int, torch.Tensor]] = []

    def hook(module, args, out):
        img = args[1]
        if img.requires_grad:  # a step's image (the target's features are taken without a graph)
            index = len(calls)
            calls.append((len(seen), None))
            out[0].register_hook(lambda g: calls.__setitem__(index, (calls[index][0], g.clone())))

    getattr(D, f'b{D.block_resolutions[0]}').register_forward_hook(hook)
    return calls


def test_d_term_is_lazy_and_its_gradient_is_scaled_by_the_interval():
    G = small_sg3()
    with torch.no_grad():
        target = G.synthesis(known_ws(G))
    grads = {}
    for every, steps in ((4, 9), (1, 2)):
        seen: list[int] = []
        D = small_d()  # the same weights each time
        calls = _watch_d(D, seen)
        project(G, target, num_steps=steps, D=D, d_every=every, w_avg_samples=200,
                callback=lambda s, seen=seen: seen.append(s.step))
        assert [step for step, _ in calls] == list(range(0, steps, every))  # D on steps 0, k, 2k, ... only
        assert all(g is not None and float(g.abs().max()) > 0 for _, g in calls)  # its gradient flows back
        grads[every] = calls[0][1]
    # Step 0 is the same image in both runs: the lazy term's gradient is d_every times the every-step one.
    torch.testing.assert_close(grads[4], 4 * grads[1], rtol=1e-5, atol=1e-9)


def test_w_plus_projection_with_the_lazy_d_term_still_recovers_a_known_latent():
    G = small_sg3()
    with torch.no_grad():
        target = G.synthesis(known_ws(G))
    result = project(G, target, space='w+', num_steps=200, learning_rate=0.2, initial_noise_factor=0.0,
                     w_avg_samples=1000, D=small_d(), d_every=4)
    assert psnr(result.image, target) >= 30.0  # measured 32.1 dB (every step, d_every=1: 32.3 dB)
    assert result.losses[-1] < 0.05 * result.losses[0]


def test_a_diverging_projection_stops_with_one_line_instead_of_a_nan_result():
    # A D term weighted 1e308 overflows at the first step; every step after would be NaN, and so the latent.
    G = small_sg3()
    with torch.no_grad():
        target = G.synthesis(known_ws(G))
    steps = []
    with pytest.raises(ProjectionError, match='diverged at step 1'):
        project(G, target, num_steps=3, w_avg_samples=200, D=small_d(), d_weight=1e308, callback=steps.append)
    assert steps == []
    result = project(G, target, num_steps=2, w_avg_samples=200, D=small_d(), d_weight=0.1)
    assert all(math.isfinite(v) for v in result.losses)
