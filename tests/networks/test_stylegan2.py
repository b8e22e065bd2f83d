import numpy as np
import pytest
import torch

from networks import stylegan2


def test_parameter_counts_at_1024():
    with torch.device("meta"):
        G = stylegan2.Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=1024, img_channels=3)
    assert sum(p.numel() for p in G.parameters()) == 30_370_060
    assert G.num_ws == 18


def _tiny(c_dim=0, seed=0):
    torch.manual_seed(seed)
    G = stylegan2.Generator(z_dim=16, c_dim=c_dim, w_dim=16, img_resolution=16, img_channels=3, channel_base=512,
                            channel_max=32)
    D = stylegan2.Discriminator(c_dim=c_dim, img_resolution=16, img_channels=3, channel_base=512, channel_max=32)
    return G, D


def test_noise_modes():
    G, _ = _tiny()
    z = torch.randn(2, 16)
    with torch.no_grad():
        a, b = G(z, None, noise_mode="const"), G(z, None, noise_mode="const")
        assert a.shape == (2, 3, 16, 16) and torch.equal(a, b)
        for blk in G.synthesis.block_resolutions:  # make noise matter, then random noise differs per call
            for name in ("conv0", "conv1"):
                layer = getattr(getattr(G.synthesis, f"b{blk}"), name, None)
                if layer is not None:
                    layer.noise_strength.fill_(0.5)
        r1, r2 = G(z, None, noise_mode="random"), G(z, None, noise_mode="random")
        assert not torch.equal(r1, r2)
    with pytest.raises(ValueError, match="noise_mode"):
        G(z, None, noise_mode="bogus")


def _block_outputs(G, ws):
    """Each synthesis block's (x, img) output for `ws` (noise off), in order, and the final image."""
    outputs = []
    handles = [getattr(G.synthesis, f"b{res}").register_forward_hook(lambda _m, _a, out: outputs.append(out))
               for res in G.synthesis.block_resolutions]
    try:
        with torch.no_grad():
            image = G.synthesis(ws, noise_mode="none")
    finally:
        for h in handles:
            h.remove()
    return outputs, image


@pytest.mark.parametrize("cut", [1, 3, 5])
def test_style_mixing_keeps_every_block_before_the_cut(cut):
    """Style mixing is a per-layer choice of w: with rows < cut from one latent and the rest from another, every
    block that reads only rows < cut gives exactly its output for the first latent, and the first block that reads
    a row >= cut (ToRGB shares the next conv's w) differs; all rows from one latent is exactly that latent's image."""
    G, _ = _tiny()
    with torch.no_grad():
        ws, ws2 = G.mapping(torch.randn(2, 16), None), G.mapping(torch.randn(2, 16), None)
    mixed = torch.cat([ws[:, :cut], ws2[:, cut:]], dim=1)
    plain, plain_image = _block_outputs(G, ws)
    mix, mix_image = _block_outputs(G, mixed)
    first_row = 0
    for res, (x0, img0), (x1, img1) in zip(G.synthesis.block_resolutions, plain, mix, strict=True):
        block = getattr(G.synthesis, f"b{res}")
        last_row = first_row + block.num_conv + block.num_torgb - 1  # the rows this block reads
        if last_row < cut:
            assert torch.equal(x0, x1) and torch.equal(img0, img1), res
        else:
            assert not torch.equal(img0, img1), res
            break
        first_row += block.num_conv
    else:
        raise AssertionError("no block read a row at or after the cut")
    assert (mix_image - plain_image).abs().mean() > 1e-3
    assert torch.equal(_block_outputs(G, torch.cat([ws[:, :G.num_ws], ws2[:, G.num_ws:]], dim=1))[1], plain_image)
    assert torch.equal(_block_outputs(G, torch.cat([ws[:, :0], ws2], dim=1))[1], _block_outputs(G, ws2)[1])


def test_unfused_modconv_matches_fused():
    G, _ = _tiny()
    ws = G.mapping(torch.randn(2, 16), None)
    with torch.no_grad():
        a = G.synthesis(ws, noise_mode="const", fused_modconv=True)
        b = G.synthesis(ws, noise_mode="const", fused_modconv=False)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_minibatch_std_closed_form():
    layer = stylegan2.MinibatchStdLayer(group_size=2, num_channels=1)
    x = torch.randn(4, 3, 2, 2, dtype=torch.float64)
    y = layer(x)
    # Groups pair samples (0, 2) and (1, 3); the extra channel is the mean std over C, H, W.
    for i, j in [(0, 2), (1, 3)]:
        expected = (((x[i] - x[j]) / 2).square() + 1e-8).sqrt().mean()
        assert torch.allclose(y[i, 3], expected) and torch.allclose(y[j, 3], expected)


def test_discriminator_conditioning_r1_double_backward():
    G, D = _tiny(c_dim=3)
    img = torch.randn(4, 3, 16, 16, requires_grad=True)
    c = torch.eye(3)[[0, 1, 2, 0]]
    logits = D(img, c)
    assert logits.shape == (4, 1)
    (grad,) = torch.autograd.grad(logits.sum(), img, create_graph=True)
    penalty = grad.square().sum([1, 2, 3]).mean()
    penalty.backward()  # R1 needs the double backward through every op of D
    assert D.b16.conv0.weight.grad is not None and torch.isfinite(D.b16.conv0.weight.grad).all()


def test_freeze_layers_become_buffers():
    D = stylegan2.Discriminator(c_dim=0, img_resolution=16, img_channels=3, channel_base=512, channel_max=32,
                                block_kwargs={"freeze_layers": 2})
    assert "b16.fromrgb.weight" in dict(D.named_buffers()) and "b16.conv0.weight" in dict(D.named_buffers())
    assert "b16.conv1.weight" in dict(D.named_parameters())


def test_state_dict_names_follow_nvlabs():
    G, D = _tiny()
    names = set(G.state_dict())
    for key in ["synthesis.b4.const", "synthesis.b4.conv1.noise_const", "synthesis.b4.conv1.noise_strength",
                "synthesis.b8.conv0.resample_filter", "synthesis.b8.torgb.affine.weight",
                "synthesis.b8.resample_filter",
                "mapping.fc7.weight", "mapping.w_avg"]:
        assert key in names, key
    dnames = set(D.state_dict())
    for key in ["b16.fromrgb.weight", "b16.skip.weight", "b8.conv1.bias", "b4.fc.weight", "b4.out.bias",
                "b4.conv.weight"]:
        assert key in dnames, key
    assert np.isclose(float(D.b16.resample_filter.sum()), 1.0)
