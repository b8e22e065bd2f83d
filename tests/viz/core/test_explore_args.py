"""The exploration fields of RenderArgs: explicit latent, class, directions, input scale/shear/mirror;
rendered by value and kept (and checked) by session files."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

import networks
from networks.conventions import to_uint8_rgb
from tests.tiny_networks import tiny_generator
from viz.core.render_types import RenderArgs, layer_range
from viz.core.session import SessionError, load_session, save_session


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


def test_layer_presets() -> None:
    assert layer_range('coarse', 18) == (0, 4) and layer_range('middle', 18) == (4, 8)
    assert layer_range('fine', 18) == (8, 18) and layer_range('all', 16) == (0, 16)
    assert layer_range('2-4', 16) == (2, 5) and layer_range('10-99', 12) == (10, 12)
    from networks.errors import UserError

    for bad in ('5-2', 'top', '1-'):
        with pytest.raises(UserError):
            layer_range(bad, 16)


# --- sessions ---------------------------------------------------------------------------------------------------

def test_session_round_trip_of_the_new_fields(tmp_path):
    args = RenderArgs(latent=(0.5, -1.25), latent_file='p.npz', class_idx=3,
                      directions=(('pca', 2, -1.5, 'coarse'), ('smile.npy', 0, 3.0, '4-7')),
                      input_scale=2.0, shear_x=0.1, shear_y=-0.2, mirror_x=True, mirror_y=False)
    path = str(tmp_path / 's.json')
    save_session(path, args)
    loaded, _views = load_session(path)
    assert loaded == args and hash(loaded) == hash(args)


@pytest.mark.parametrize('field, value', [
    ('latent', [1.0, 'x']), ('latent', 3.0), ('latent', [0.0] * 70000), ('class_idx', -1), ('class_idx', 1.5),
    ('directions', [['pca', 0, 1.0]]), ('directions', [['pca', 0, 1.0, 'sideways']]),
    ('directions', [['pca', -1, 1.0, 'all']]), ('directions', [['', 0, 1.0, 'all']]),
    ('directions', [['pca', 0, 1e9, 'all']]), ('input_scale', 0), ('shear_x', 1e6), ('mirror_x', 1),
])
def test_sessions_refuse_bad_new_fields_whole(tmp_path, field, value):
    path = tmp_path / 'bad.json'
    path.write_text(json.dumps(dict(version=1, args={'trunc_psi': 0.5, field: value})))
    with pytest.raises(SessionError, match=f'args.{field}'):
        load_session(str(path))


def test_session_nan_in_latent_is_refused(tmp_path):
    path = tmp_path / 'nan.json'
    path.write_text(json.dumps(dict(version=1, args={'latent': [0.0, float('nan')]})))
    with pytest.raises(SessionError, match='args.latent'):
        load_session(str(path))
