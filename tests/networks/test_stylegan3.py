import numpy as np
import pytest
import scipy.signal
import torch

from networks import stylegan3
from networks.filters import design_lowpass_filter

EXPECTED_NAMES = {
    ("T", 256): "L0_36_512 L1_36_512 L2_36_512 L3_52_512 L4_52_512 L5_84_512 L6_84_512 L7_148_512 L8_148_512 "
                "L9_148_362 L10_276_256 L11_276_181 L12_276_128 L13_256_128 L14_256_3",
    ("T", 512): "L0_36_512 L1_36_512 L2_52_512 L3_52_512 L4_84_512 L5_84_512 L6_148_512 L7_148_483 L8_276_323 "
                "L9_276_215 L10_532_144 L11_532_96 L12_532_64 L13_512_64 L14_512_3",
    ("T", 1024): "L0_36_512 L1_36_512 L2_52_512 L3_52_512 L4_84_512 L5_148_512 L6_148_512 L7_276_323 L8_276_203 "
                 "L9_532_128 L10_1044_81 L11_1044_51 L12_1044_32 L13_1024_32 L14_1024_3",
    ("R", 1024): "L0_36_1024 L1_36_1024 L2_52_1024 L3_52_1024 L4_84_1024 L5_148_1024 L6_148_1024 L7_276_645 "
                 "L8_276_406 L9_532_256 L10_1044_161 L11_1044_102 L12_1044_64 L13_1024_64 L14_1024_3",
}
R_KWARGS = dict(channel_base=65536, channel_max=1024, conv_kernel=1, use_radial_filters=True)


def _meta_generator(cfg, res):
    with torch.device("meta"):  # full-size architectures without allocating their weights
        return stylegan3.Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=res, img_channels=3,
                                   **(R_KWARGS if cfg == "R" else {}))


@pytest.mark.parametrize("cfg,res", sorted(EXPECTED_NAMES))
def test_layer_schedule_names(cfg, res):
    G = _meta_generator(cfg, res)
    assert " ".join(G.synthesis.layer_names) == EXPECTED_NAMES[(cfg, res)]
    assert G.num_ws == 16


@pytest.mark.parametrize("cfg,count", [("T", 22_313_167), ("R", 15_093_151)])
def test_parameter_counts_at_1024(cfg, count):
    assert sum(p.numel() for p in _meta_generator(cfg, 1024).parameters()) == count


def test_schedule_follows_design_formulas():
    G = _meta_generator("T", 256)
    syn = G.synthesis
    N, res = 14, 256
    e = np.minimum(np.arange(N + 1) / (N - 2), 1)
    fc = 2 * (res / 2 / 2) ** e
    ft = 2**2.1 * (res / 2 * 2**0.3 / 2**2.1) ** e
    s = 2 ** np.ceil(np.log2(np.minimum(2 * ft, res)))
    np.testing.assert_allclose(syn.cutoffs, fc)
    np.testing.assert_allclose(syn.sampling_rates, s)
    np.testing.assert_allclose(syn.half_widths, np.maximum(ft, s / 2) - fc)
    layer = syn.L3_52_512  # 16 -> 32 Hz layer: upsamples by 4 in the nonlinearity, then down by 2
    assert (layer.up_factor, layer.down_factor, layer.up_taps, layer.down_taps) == (4, 2, 24, 12)
    last = syn.L14_256_3
    assert last.is_torgb and last.up_filter is None and last.down_filter is None and last.conv_kernel == 1


def test_filters_are_the_papers_designs():
    f = design_lowpass_filter(numtaps=12, cutoff=8, width=6, fs=32)
    np.testing.assert_allclose(f.numpy(), scipy.signal.firwin(12, 8, width=6, fs=32), rtol=1e-6)
    radial = design_lowpass_filter(numtaps=12, cutoff=8, width=6, fs=32, radial=True).numpy()
    assert radial.shape == (12, 12) and abs(radial.sum() - 1) < 1e-6
    np.testing.assert_allclose(radial, radial.T, atol=1e-7)  # radially symmetric
    np.testing.assert_allclose(radial, radial[::-1, ::-1], atol=1e-7)
    assert design_lowpass_filter(1, 8, 6, 32) is None


def _small_generator(seed=0, **kwargs):
    torch.manual_seed(seed)
    G = stylegan3.Generator(z_dim=32, c_dim=0, w_dim=32, img_resolution=32, img_channels=3, channel_base=1024,
                            channel_max=32, **kwargs).eval()
    with torch.no_grad():  # calibrate the magnitude EMAs as training would
        for _ in range(4):
            G(torch.randn(4, 32), None, update_emas=True)
    return G


def _psnr_shifted(img_moved, img_ref, dx, dy):
    """PSNR (I_max = 2) of img_moved against img_ref shifted by (dx, dy) pixels, over the common region."""
    H, W = img_ref.shape[-2:]
    a = img_moved[..., max(dy, 0): H + min(dy, 0), max(dx, 0): W + min(dx, 0)]
    b = img_ref[..., max(-dy, 0): H + min(-dy, 0), max(-dx, 0): W + min(-dx, 0)]
    mse = (a.double() - b.double()).square().mean().item()
    return 20 * np.log10(2) - 10 * np.log10(mse)


def test_integer_translation_of_the_input_moves_the_output():
    G = _small_generator()
    with torch.no_grad():
        ws = G.mapping(torch.randn(2, 32), None)
        ref = G.synthesis(ws)
        psnrs = []
        for dx, dy in [(1, 0), (0, 2), (-3, 1)]:
            m = torch.eye(3)
            m[0, 2], m[1, 2] = dx / 32, dy / 32  # user transform: translate by whole pixels (image = 1 unit)
            G.synthesis.input.transform.copy_(torch.linalg.inv(m))  # the buffer holds the inverse
            moved = G.synthesis(ws)
            psnrs.append(_psnr_shifted(moved, ref, dx, dy))
            # Shifting the wrong way must look clearly worse: the test can tell directions apart.
            assert _psnr_shifted(moved, ref, -dx, -dy) < psnrs[-1] - 20
    # Measured 73-83 dB (seed 0) for this untrained 32 px SG3-T on CPU float32; 65 leaves margin for other
    # BLAS builds. An output that ignored the transform would score about 36-46 dB here (the wrong-way check).
    assert min(psnrs) > 65, psnrs


def test_truncation_and_w_avg():
    G = _small_generator()
    z = torch.randn(3, 32)
    with torch.no_grad():
        ws = G.mapping(z, None)
        assert ws.shape == (3, 16, 32) and torch.equal(ws[:, 0], ws[:, 15])
        assert G.mapping.w_avg.abs().sum() > 0  # tracked during the update_emas passes
        trunc = G.mapping(z, None, truncation_psi=0.5, truncation_cutoff=8)
        expected = G.mapping.w_avg + 0.5 * (ws[:, :8] - G.mapping.w_avg)
        torch.testing.assert_close(trunc[:, :8], expected)
        torch.testing.assert_close(trunc[:, 8:], ws[:, 8:])
        assert torch.allclose(G.mapping(z, None, truncation_psi=0)[:, 3], G.mapping.w_avg.expand(3, -1))


def test_forward_r_config_conditioning_and_grads():
    torch.manual_seed(1)
    G = stylegan3.Generator(z_dim=16, c_dim=4, w_dim=16, img_resolution=32, img_channels=3, channel_base=1024,
                            channel_max=32, conv_kernel=1, use_radial_filters=True)
    assert G.synthesis.L2_36_32.down_filter.ndim == 2  # radial jinc in non-critical layers
    assert G.synthesis.L13_32_32.down_filter.ndim == 1  # critically sampled: separable, as NVlabs'
    z, c = torch.randn(2, 16), torch.eye(4)[:2]
    img = G(z, c)
    assert img.shape == (2, 3, 32, 32) and img.dtype == torch.float32 and torch.isfinite(img).all()
    img.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in G.parameters())


def test_state_dict_names_follow_nvlabs():
    G = _small_generator()
    names = list(G.state_dict())
    assert names[0].startswith("synthesis.") and names[-1].startswith("mapping.")
    for key in ["synthesis.input.weight", "synthesis.input.transform", "synthesis.input.freqs",
                "synthesis.input.phases", "synthesis.input.affine.weight", "synthesis.input.affine.bias",
                "synthesis.L3_36_32.weight", "synthesis.L3_36_32.magnitude_ema", "synthesis.L3_36_32.up_filter",
                "synthesis.L3_36_32.down_filter", "synthesis.L3_36_32.affine.weight", "mapping.w_avg",
                "mapping.fc0.weight", "mapping.fc1.bias"]:
        assert key in names, key
    assert not any("noise" in n for n in names)


def test_bad_input_messages():
    G = _small_generator()
    with pytest.raises(ValueError, match=r"z must be \[N, 32\]"):
        G(torch.randn(2, 31), None)
    with pytest.raises(ValueError, match=r"ws must be \[N, 16, 32\]"):
        G.synthesis(torch.randn(2, 15, 32))


def test_set_input_transform_writes_the_inverse_of_the_user_transform():
    from networks import stylegan2

    G = _small_generator()
    assert stylegan3.set_input_transform(G, (0.25, -0.125), 30.0)
    c, s = np.cos(np.radians(30.0)), np.sin(np.radians(30.0))
    user = np.array([[c, s, 0.25], [-s, c, -0.125], [0, 0, 1]])  # rotation, then translation (NVlabs convention)
    np.testing.assert_allclose(G.synthesis.input.transform.numpy() @ user, np.eye(3), atol=1e-6)
    G2 = stylegan2.Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=8, img_channels=3, channel_base=64,
                             channel_max=8)
    assert not stylegan3.set_input_transform(G2, (0.1, 0.0), 0.0)


def test_input_transform_context_restores_the_buffer_and_skips_stylegan2():
    G = _small_generator()
    before = torch.tensor([[1.0, 0.0, 0.1], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    G.synthesis.input.transform.copy_(before)
    with stylegan3.input_transform(G, (0.25, 0.0), 90.0) as buffer:
        assert buffer is G.synthesis.input.transform and stylegan3.input_transform_of(G) is buffer
        # user matrix [[0, 1, 1/4], [-1, 0, 0], [0, 0, 1]] (90 degrees, then x + 1/4), inverted by hand
        expected = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, -0.25], [0.0, 0.0, 1.0]])
        torch.testing.assert_close(buffer, expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(G.synthesis.input.transform, before)
    with pytest.raises(RuntimeError), stylegan3.input_transform(G, (0.5, 0.5)):
        raise RuntimeError('restored on errors too')
    torch.testing.assert_close(G.synthesis.input.transform, before)
    from networks import stylegan2
    G2 = stylegan2.Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=8, img_channels=3, channel_base=64,
                             channel_max=8)
    assert stylegan3.input_transform_of(G2) is None
    with stylegan3.input_transform(G2, (0.1, 0.0)) as buffer:
        assert buffer is None


@pytest.mark.parametrize('num_critical', [-1, 4, 5])
def test_num_critical_must_leave_a_schedule(num_critical):
    # num_critical = num_layers would divide by zero in the cutoff schedule (NaN cutoffs, then filters of NaN).
    with pytest.raises(ValueError, match=f'below num_layers \\(4\\), got {num_critical}'):
        stylegan3.SynthesisNetwork(w_dim=8, img_resolution=16, img_channels=3, channel_base=64, channel_max=8,
                                   num_layers=4, num_critical=num_critical)
    net = stylegan3.SynthesisNetwork(w_dim=8, img_resolution=16, img_channels=3, channel_base=64, channel_max=8,
                                     num_layers=4, num_critical=3)
    assert np.isfinite(net.cutoffs).all() and net.cutoffs[-1] == 8
