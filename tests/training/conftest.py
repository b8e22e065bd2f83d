"""Shared fixtures for the training tests: a tiny built-in photo-crop dataset and tiny-network CLI options."""

import pytest

from training.dataset_convert import convert_dataset

# Tiny networks: fast on two shared CPU cores, yet every code path of the full ones.
_TINY_NET_ARGS = ['--cbase', '256', '--cmax', '16', '--z-dim', '16', '--w-dim', '16', '--map-depth', '2',
                 '--mbstd-group', '2', '--workers', '0', '--device', 'cpu']


@pytest.fixture(scope='session')
def photos16(tmp_path_factory) -> str:
    """96 random 16x16 crops of the built-in photographs, as a zip (with photo-index labels)."""
    path = str(tmp_path_factory.mktemp('data') / 'photos16.zip')
    convert_dataset('builtin:photos', path, resolution='16x16', count=96, seed=1, progress=False,
                    log=lambda *_: None)
    return path


@pytest.fixture(scope='session')
def tiny_net_args() -> list[str]:
    """tools.train flags for tiny networks on the CPU."""
    return list(_TINY_NET_ARGS)
