"""The generated images the quality metrics measure (``feature_stats.iterate_generator_images``): a StyleGAN2's
noise inputs are drawn afresh for every image, as NVlabs' metrics do, from one seeded stream per image
(``networks.stylegan2.noise_maps``), so a measurement is reproducible and its batch size does not choose the
draws; a network without noise inputs is unchanged."""

import torch

from networks.conventions import to_uint8
from networks.stylegan2 import has_noise_inputs, noise_maps, noise_seed, replaced_noise_buffers
from tests.tiny_networks import tiny_generator
from training.metrics import feature_stats as fs

CPU = torch.device('cpu')


def _sg2_with_noise():
    G = tiny_generator('sg2', resolution=16, seed=1)
    for name, p in G.named_parameters():
        if name.endswith('noise_strength'):    # 0 at initialisation: the noise would not show
            p.fill_(0.7)
    return G


def _images(G, n, batch, seed=0):
    return torch.cat(list(fs.iterate_generator_images(G, n, batch, CPU, seed=seed))).int()


def _latents(G, n, seed=0):
    return torch.randn([n, G.z_dim], generator=torch.Generator().manual_seed(seed))   # no labels: z only


def test_each_image_has_its_own_seeded_noise():
    G = _sg2_with_noise()
    assert has_noise_inputs(G)
    got = _images(G, 5, 5, seed=3)
    z = _latents(G, 5, seed=3)
    c = torch.zeros([1, 0])
    for k in range(5):
        # Independently: image k alone, its noise maps drawn by a generator seeded with noise_seed(3, k).
        gen = torch.Generator().manual_seed(noise_seed(3, k))
        maps = {name: torch.randn(tuple(buf.shape), generator=gen)[None, None]
                for name, buf in G.synthesis.named_buffers() if name.endswith('noise_const')}
        with replaced_noise_buffers(G, maps):
            alone = to_uint8(G(z[k:k + 1], c, noise_mode='const')).int()[0]
        assert int((alone - got[k]).abs().max()) <= 1
        fixed = to_uint8(G(z[k:k + 1], c, noise_mode='const')).int()[0]
        assert float((fixed - got[k]).abs().float().mean()) > 2      # the fixed noise map is not what is measured
    assert len({noise_seed(s, k) for s in range(3) for k in range(1000)}) == 3000
    assert noise_seed(7) != noise_seed(0, 7) and list(noise_maps(G, (3, 0))) == list(maps)


def test_noise_does_not_depend_on_the_batch_and_repeats():
    G = _sg2_with_noise()
    one, four, all_ = _images(G, 7, 1), _images(G, 7, 4), _images(G, 7, 7)
    for other in (four, all_):
        diff = (one - other).abs()
        assert int(diff.max()) <= 1 and float((diff > 0).float().mean()) < 0.01   # float rounding of a batch
    assert torch.equal(_images(G, 7, 4), four)
    assert not torch.equal(_images(G, 7, 4, seed=1), four)
    assert all(torch.equal(b, G.synthesis.get_buffer(n)) for n, b in _sg2_with_noise().synthesis.named_buffers()
               if n.endswith('noise_const'))          # the network's own maps are back


def test_networks_without_noise_inputs_are_measured_as_before():
    G = tiny_generator('sg3', resolution=16, seed=2)
    assert not has_noise_inputs(G)
    got = _images(G, 3, 3)
    want = to_uint8(G(_latents(G, 3), torch.zeros([3, 0]), noise_mode='const')).int()
    assert torch.equal(got, want)
