"""Tiny networks saved as pickles, shared by the visualizer tests."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from networks import pretrained
from tests.networks.pretrained_fixture import write_default_folder
from tests.tiny_networks import tiny_generator


def build_tiny_sg3() -> torch.nn.Module:
    """The 32 px StyleGAN3-T of tiny_sg3.pkl (output scaled up so its images use the whole range)."""
    return tiny_generator('sg3', seed=1, output_scale=2.0)


@pytest.fixture(scope='session', autouse=True)
def _private_config_dir(tmp_path_factory):
    """The app's settings file (recent pickles) goes to a test folder, never the user's ~/.config."""
    old = os.environ.get('XDG_CONFIG_HOME')
    os.environ['XDG_CONFIG_HOME'] = str(tmp_path_factory.mktemp('config'))
    yield
    if old is None:
        os.environ.pop('XDG_CONFIG_HOME', None)
    else:
        os.environ['XDG_CONFIG_HOME'] = old


@pytest.fixture(scope='module')
def renderer():
    """A renderer per test module (its network and analysis caches do not leak between modules)."""
    from viz.core.renderer import Renderer

    torch.set_num_threads(1)  # the machine is shared: more threads only contend
    return Renderer()


@pytest.fixture(scope='module')
def sg3(pkl_dir):
    """Render arguments of the tiny StyleGAN3-T pickle."""
    from viz.core.render_types import RenderArgs

    torch.set_num_threads(1)
    return RenderArgs(pkl=str(pkl_dir / 'tiny_sg3.pkl'))


@pytest.fixture(scope='session')
def pkl_dir(tmp_path_factory):
    """tiny_sg3.pkl, tiny_sg2.pkl, aliasing_sg3.pkl, garbage.pkl, truncated.pkl, malicious.pkl, no_generator.pkl."""
    import networks

    root = tmp_path_factory.mktemp('pkls')
    networks.save_network_pkl(str(root / 'tiny_sg3.pkl'), dict(G_ema=build_tiny_sg3()))
    g2 = tiny_generator('sg2', seed=2, mapping_kwargs={})  # NVlabs' default 8-layer mapping
    with torch.no_grad():
        for name, param in g2.named_parameters():
            if name.endswith('noise_strength'):
                param.fill_(0.5)  # zero at init: make the noise visible
    networks.save_network_pkl(str(root / 'tiny_sg2.pkl'), dict(G_ema=g2))
    # "StyleGAN2-like with Fourier input": the same schedule without anti-aliasing (no upsampling around the
    # nonlinearity, one-tap filters), as the paper's baseline configurations.
    networks.save_network_pkl(str(root / 'aliasing_sg3.pkl'), dict(
        G_ema=tiny_generator('sg3', seed=1, output_scale=2.0, lrelu_upsampling=1, filter_size=1)))
    (root / 'garbage.pkl').write_bytes(os.urandom(4096))
    data = (root / 'tiny_sg3.pkl').read_bytes()
    (root / 'truncated.pkl').write_bytes(data[: len(data) // 3])
    marker = root / 'PWNED'

    class Evil:
        def __reduce__(self):
            return (os.system, (f'touch {marker}',))

    (root / 'malicious.pkl').write_bytes(pickle.dumps({'G_ema': Evil()}, protocol=4))
    networks.save_network_pkl(str(root / 'no_generator.pkl'), dict(note='nothing here'))
    return root


@pytest.fixture(scope='session')
def pretrained_folder(tmp_path_factory):
    """A networks/pretrained-style folder of tiny shipped networks (card, pickle, reference PNG for every key)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp('pretrained')
    write_default_folder(root)
    return str(root)


@pytest.fixture
def shipped(pretrained_folder, monkeypatch):
    """networks/pretrained replaced by `pretrained_folder` (all three keys)."""
    monkeypatch.setattr(pretrained, '_PACKAGE_DIR', pretrained_folder)
    return pretrained_folder
