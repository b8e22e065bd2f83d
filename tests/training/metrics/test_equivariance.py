"""EQ-T / EQ-T_frac / EQ-R on constructed generators with known answers."""

import pytest
import torch

from tests.training.metrics.fakes import FourierGenerator
from training.metrics import calc_metric
from training.metrics.equivariance import compute_equivariance, equivariance_readout, psnr_from_sums


def test_psnr_formula():
    assert psnr_from_sums(4.0, 4.0) == pytest.approx(20 * 0.30102999566398)  # mse 1 -> 20 log10(2)
    assert psnr_from_sums(0.04, 4.0) == pytest.approx(6.0206 + 20, abs=1e-3)


def test_exactly_equivariant_generator_scores_very_high():
    G = FourierGenerator(img_resolution=32, bandlimit=3.0)
    eqt_int = compute_equivariance(G, 'eqt50k_int', num_samples=8, batch_size=4)
    eqt_frac = compute_equivariance(G, 'eqt50k_frac', num_samples=8, batch_size=4)
    eqr = compute_equivariance(G, 'eqr50k', num_samples=8, batch_size=4)
    assert eqt_int > 100  # exact up to float32 rounding
    assert eqt_frac > 50  # limited by the Lanczos-3 reference
    assert eqr > 50
    assert torch.equal(G.synthesis.input.transform, torch.eye(3))  # restored


def test_generator_ignoring_the_transform_scores_low():
    G = FourierGenerator(img_resolution=32, bandlimit=3.0, follow_transform=False)
    for metric in ('eqt50k_int', 'eqt50k_frac', 'eqr50k'):
        assert compute_equivariance(G, metric, num_samples=8, batch_size=4) < 25


def test_readout_per_latent_and_deterministic():
    G = FourierGenerator(img_resolution=32)
    ws = G.mapping(torch.randn(1, G.z_dim))
    a = equivariance_readout(G, ws, num_transforms=2, seed=3)
    b = equivariance_readout(G, ws, num_transforms=2, seed=3)
    assert a == b and set(a) == {'eqt_int', 'eqt_frac', 'eqr'}
    assert a['eqt_int'] > 100 and a['eqt_frac'] > 50 and a['eqr'] > 50
    bad = FourierGenerator(img_resolution=32, follow_transform=False)
    assert equivariance_readout(bad, ws, num_transforms=2)['eqr'] < 25


def test_network_without_input_transform_is_refused_clearly():
    G = FourierGenerator(with_transform=False)
    with pytest.raises(ValueError, match='input transform'):
        equivariance_readout(G, G.mapping(torch.randn(1, G.z_dim)))
    with pytest.raises(ValueError, match='StyleGAN2'):
        calc_metric('eqt50k_int', G, num_samples=2)


def test_registry_result_and_num_samples_override():
    G = FourierGenerator(img_resolution=16)
    result = calc_metric('eqt50k_frac', G, num_samples=4, batch_size=2)
    assert result['metric'] == 'eqt50k_frac' and result['results']['eqt50k_frac'] > 40
    assert result['num_samples'] == 4
    conditional = FourierGenerator(img_resolution=16, c_dim=3)  # random classes when no dataset is given
    assert calc_metric('eqt50k_int', conditional, num_samples=2, batch_size=2)['results']['eqt50k_int'] > 100


def test_stylegan3_r_is_more_rotation_equivariant_than_t(tmp_path):
    """The paper's ordering on real (tiny, untrained) networks: config R keeps EQ-R high, config T does not."""
    from networks import load_generator
    from tests.tiny_networks import write_tiny_networks
    paths = write_tiny_networks(tmp_path)
    eqr = {name: compute_equivariance(load_generator(paths[name]), 'eqr50k', num_samples=8, batch_size=4)
           for name in ('sg3', 'sg3r')}
    eqt = compute_equivariance(load_generator(paths['sg3']), 'eqt50k_frac', num_samples=8, batch_size=4)
    assert eqr['sg3r'] > eqr['sg3'] + 15
    assert eqt > eqr['sg3'] + 10  # T is translation- but not rotation-equivariant
