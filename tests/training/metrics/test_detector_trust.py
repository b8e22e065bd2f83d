"""Detectors: TorchScript is code and is loaded only with trust=True; detector pickles go through the one restricted
unpickler (networks.safe_unpickle) with its bounds (a detector file is untrusted input, including a decompression
bomb)."""

from __future__ import annotations

import io
import time

import pytest
import torch

from networks import PickleError
from tests.networks import hostile as h
from tests.training.metrics.fakes import write_nvlabs_persistent_pkl
from training.metrics import detector as detector_lib
from training.metrics.detector import DetectorError, detector_features, load_detector

pytestmark = pytest.mark.filterwarnings('ignore:`torch.jit:DeprecationWarning')

MARKER_TEXT = 'TORCHSCRIPT-RAN-AT-LOAD'


class _CodeAtLoad(torch.nn.Module):
    """A detector whose TorchScript __setstate__ runs when the archive is loaded (prints a marker)."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.full([1], 2.0))

    def forward(self, img: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        return img.float().mean(dim=[2, 3]) * self.scale

    @torch.jit.export
    def __getstate__(self):
        return (self.scale, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[torch.Tensor, bool]):
        print('TORCHSCRIPT-RAN-AT-LOAD')
        self.scale = state[0]
        self.training = state[1]


@pytest.fixture(scope='module')
def archives(tmp_path_factory):
    root = tmp_path_factory.mktemp('trust')
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(_CodeAtLoad()), buf)
    pt = root / 'code.pt'
    pt.write_bytes(buf.getvalue())
    pkl = root / 'code.pkl'
    write_nvlabs_persistent_pkl(pkl, dict(torchscript=buf.getvalue()))
    return dict(pt=str(pt), pkl=str(pkl))


@pytest.fixture
def jit_marker(monkeypatch, tmp_path):
    """A marker file written by any call of torch.jit.load: it exists iff TorchScript was loaded."""
    marker = tmp_path / 'jit-load-called'
    real = torch.jit.load

    def spy(*args, **kwargs):
        marker.write_text('x')
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.jit, 'load', spy)
    return marker


@pytest.mark.parametrize('kind', ['pt', 'pkl'])
def test_torchscript_is_refused_without_trust(archives, jit_marker, capfd, kind):
    with pytest.raises(DetectorError) as info:
        load_detector(archives[kind])
    message = str(info.value)
    assert 'TorchScript is code' in message and info.value.option == 'trust_detector' and '\n' not in message
    assert not jit_marker.exists()
    assert MARKER_TEXT not in capfd.readouterr().out

    det = load_detector(archives[kind], trust=True)  # with trust, the archive's own code runs: that is the point
    assert jit_marker.exists()
    assert MARKER_TEXT in capfd.readouterr().out
    images = torch.full([2, 3, 8, 8], 10, dtype=torch.uint8)
    torch.testing.assert_close(detector_features(det, images), torch.full([2, 3], 20.0))


def test_detector_pickles_use_the_shared_unpickler(tmp_path, jit_marker):
    assert issubclass(DetectorError, PickleError)
    assert not hasattr(detector_lib, '_RestrictedUnpickler') and not hasattr(detector_lib, '_ALLOWED')
    evil = tmp_path / 'evil.pkl'
    marker = tmp_path / 'pwned'
    evil.write_bytes(h.asm(h.G('os', 'system'), h.V((f'touch {marker}',)), h.REDUCE))
    with pytest.raises(DetectorError, match='refused global os.system'):
        load_detector(str(evil), trust=True)
    defaults = torch._utils._rebuild_tensor_v2.__defaults__
    poison = tmp_path / 'poison.pkl'
    poison.write_bytes(h.asm(h.G('torch._utils', '_rebuild_tensor_v2'), h.NONE, h.V({'__defaults__': (-1,)}),
                             h.TUPLE2, h.BUILD))
    with pytest.raises(DetectorError, match='refused BUILD'):
        load_detector(str(poison), trust=True)
    assert torch._utils._rebuild_tensor_v2.__defaults__ == defaults
    assert not marker.exists() and not jit_marker.exists()


def test_fan_out_detector_pickle_is_refused_fast(tmp_path):
    """A persistence pickle whose state is a DAG with 2**60 paths and no TorchScript: one visit per node."""
    levels = [h.V('leaf'), h.PUT(1000), h.POP]
    for i in range(60):
        levels += [h.MARK, h.GET(1000 + i), h.GET(1000 + i), h.LIST, h.PUT(1001 + i), h.POP]
    state = h.EMPTY_DICT + h.V('graph') + h.GET(1060) + h.SETITEM
    path = tmp_path / 'fanout.pkl'
    path.write_bytes(h.asm(*levels, h.persistent('InceptionV3', state)))
    assert path.stat().st_size < 2048
    start = time.perf_counter()
    with pytest.raises(DetectorError, match='billion laughs'):
        load_detector(str(path), trust=True)
    assert time.perf_counter() - start < 2.0
