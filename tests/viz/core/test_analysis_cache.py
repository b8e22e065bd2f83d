"""The renderer's analyses: the library's spectrum, cancellation within one sample, progress, cached failures,
and display-only changes that never run the generator."""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest
import torch

from analysis import spectra
from tests.training.metrics.fakes import write_image_folder
from viz.core import analysis_cache
from viz.core.async_renderer import AsyncRenderer
from viz.core.latents import generate_batch
from viz.core.render_types import RenderArgs
from viz.core.renderer import Renderer


class SynthesisCounter:
    """Counts G.synthesis calls (optionally slowing each down) through a forward pre-hook."""

    def __init__(self, G: torch.nn.Module, delay: float = 0.0) -> None:
        self.calls = 0
        self.delay = delay
        self.lock = threading.Lock()
        self.handle = G.synthesis.register_forward_pre_hook(self._hook)

    def _hook(self, _module, _inputs):
        with self.lock:
            self.calls += 1
        if self.delay:
            time.sleep(self.delay)

    def remove(self) -> None:
        self.handle.remove()


@pytest.mark.parametrize('definition', ['nvlabs', 'whitened'])
def test_panel_spectrum_is_the_library_spectrum(sg3, definition):
    """The panel's spectrum is spectra.network_spectrum on the same seeds, to the bit; the heatmap its view."""
    renderer = Renderer()
    res = renderer.render(dataclasses.replace(sg3, spectrum_seeds=5, spectrum_definition=definition,
                                              w0_seeds=((9, 1.0),), translate_x=0.2))  # neither changes it
    G = renderer.networks.get(sg3.pkl).G
    ref = spectra.network_spectrum(G, 5, definition=definition, batch_size=1)
    spec = res.spectrum
    np.testing.assert_array_equal(spec['data']['spectrum'], ref['spectrum'])
    view = spectra.spectrum_view(ref, 1.25)
    np.testing.assert_array_equal(spec['db'], view['hmap'].astype(np.float32))
    np.testing.assert_array_equal(spec['deg45'], view['deg45'])
    assert spec['definition'] == definition
    if definition == 'whitened':
        assert 'WHITENED' in spec['label']  # the non-default definition is labelled as such
        nv = renderer.render(dataclasses.replace(sg3, spectrum_seeds=5)).spectrum
        assert 'WHITENED' not in nv['label'] and np.abs(nv['db'] - spec['db']).max() > 1


@pytest.mark.parametrize('definition', ['nvlabs', 'whitened'])
def test_layer_spectrum_accumulated_equals_direct(sg3, definition):
    """A layer's spectrum, accumulated seed by seed, equals the library's average over all activations at once."""
    renderer = Renderer()
    first = renderer.render(sg3)
    layer = first.layers[4]
    res = renderer.render(dataclasses.replace(sg3, spectrum_seeds=3, spectrum_layer=True, layer_name=layer.name,
                                              spectrum_definition=definition))
    G = renderer.networks.get(sg3.pkl).G
    with torch.no_grad():
        acts = generate_batch(G, [0, 1, 2], torch.device('cpu'), layer=layer.name).double()
    mean, std = float(acts.mean()), float(acts.std(unbiased=False))
    ref, _size, _n = spectra.average_spectrum(iter([acts]), mean, std, definition, 8.0, 4)
    got = res.spectrum['data']['spectrum']
    assert got.shape == ref.shape == (layer.shape[2] * 4, layer.shape[3] * 4)
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-9 * ref.max())


def test_stylegan2_panel_has_fresh_noise_per_image_and_says_so(pkl_dir):
    """A StyleGAN2 network's panel spectrum (output or layer) has NVlabs' fresh noise, the library's to the bit, and
    a line saying so; constant noise on request, said as well; a StyleGAN3 network has no such line."""
    renderer = Renderer()
    args = RenderArgs(pkl=str(pkl_dir / 'tiny_sg2.pkl'), spectrum_seeds=3)
    spec = renderer.render(args).spectrum
    G = renderer.networks.get(args.pkl).G
    ref = spectra.network_spectrum(G, 3, batch_size=1)
    np.testing.assert_array_equal(spec['data']['spectrum'], ref['spectrum'])
    assert spec['noise_mode'] == ref['noise_mode'] == 'random' and 'fresh per image' in spec['noise']
    const = renderer.render(dataclasses.replace(args, spectrum_noise_mode='const')).spectrum
    assert const['noise_mode'] == 'const' and 'constant' in const['noise']
    assert np.abs(const['db'] - spec['db']).max() > 1
    layer = next(info.name for info in renderer.render(args).layers if info.name == 'b16.conv1')
    fresh = renderer.render(dataclasses.replace(args, spectrum_layer=True, layer_name=layer)).spectrum
    assert fresh['noise_mode'] == 'random' and fresh['noise'] == spec['noise']
    with torch.no_grad(), spectra.per_image_noise(G, [0, 1, 2]):  # one batch, each image its own noise
        acts = generate_batch(G, [0, 1, 2], torch.device('cpu'), layer=layer).double()
    direct, _size, _n = spectra.average_spectrum(iter([acts]), float(acts.mean()), float(acts.std(unbiased=False)),
                                                 'nvlabs', 8.0, 4)
    np.testing.assert_allclose(fresh['data']['spectrum'], direct, rtol=1e-6, atol=1e-9 * direct.max())
    fixed = renderer.render(dataclasses.replace(args, spectrum_layer=True, layer_name=layer,
                                                spectrum_noise_mode='const')).spectrum
    assert np.abs(fixed['data']['spectrum'] - direct).max() > 1e-3 * direct.max()
    sg3 = renderer.render(RenderArgs(pkl=str(pkl_dir / 'tiny_sg3.pkl'), spectrum_seeds=2)).spectrum
    assert sg3['noise_mode'] == 'none' and sg3['noise'] == ''


def test_dataset_checked_before_any_seed_and_failure_cached(sg3, tmp_path, monkeypatch):
    text = tmp_path / 'notes.txt'
    text.write_text('not a dataset\n')
    renderer = Renderer()
    renderer.render(sg3)  # load and list layers first
    G = renderer.networks.get(sg3.pkl).G
    opened = []
    real_open = spectra.open_source
    monkeypatch.setattr(spectra, 'open_source', lambda *a, **k: (opened.append(a[0]), real_open(*a, **k))[1])
    counter = SynthesisCounter(G)
    try:
        args = dataclasses.replace(sg3, spectrum_seeds=8, spectrum_dataset=str(text), w0_seeds=((1, 1.0),))
        res = renderer.render(args)
        assert counter.calls == 1  # the view only: no spectrum seed was generated
        err = res.analysis_errors['spectrum']
        assert str(text) in err and res.spectrum is None and err in res.messages
        assert not renderer.analyses_pending(args)  # no eternal "computing": the failure is the answer
        res2 = renderer.render(dataclasses.replace(args, w0_seeds=((2, 1.0),)))
        assert counter.calls == 2 and opened == [str(text)]  # a new view; not opened or computed again
        assert res2.analysis_errors['spectrum'] == err
    finally:
        counter.remove()


def test_fixed_dataset_at_the_same_path_is_retried(sg3, tmp_path):
    """A cached dataset failure is keyed by the file's mtime and size: writing a real dataset to the same path
    makes the next render retry (no restart), while an unchanged bad file stays a cached failure."""
    import os
    import zipfile
    path = tmp_path / 'data.zip'
    path.write_text('not a dataset\n')
    renderer = Renderer()
    args = dataclasses.replace(sg3, spectrum_seeds=3, spectrum_dataset=str(path))
    bad = renderer.render(args)
    assert bad.spectrum is None and str(path) in bad.analysis_errors['spectrum']
    assert not renderer.analyses_pending(args)  # unchanged: the failure is the answer
    folder = write_image_folder(tmp_path / 'imgs', num=4, resolution=32)
    with zipfile.ZipFile(tmp_path / 'tmp.zip', 'w') as zf:
        for name in sorted(os.listdir(folder)):
            zf.write(os.path.join(folder, name), name)
    os.replace(tmp_path / 'tmp.zip', path)  # the same path, a new file (other size and mtime)
    assert renderer.analyses_pending(args)  # the fixed file is a new question
    good = renderer.render(args)
    assert 'spectrum' not in good.analysis_errors, good.messages
    assert good.spectrum is not None and good.spectrum['dataset_size'] == 3


def test_dataset_compared_in_the_same_units(sg3, tmp_path):
    """With a dataset, both spectra use the dataset's mean / std (NVlabs); a dataset of another size is refused
    before any seed."""
    folder = write_image_folder(tmp_path / 'ds', num=6, resolution=32,
                                pattern=lambda i, size=32: np.random.RandomState(i).randint(0, 256, (size, size, 3),
                                                                                            dtype=np.uint8))
    renderer = Renderer()
    res = renderer.render(dataclasses.replace(sg3, spectrum_seeds=4, spectrum_dataset=str(folder)))
    spec = res.spectrum
    assert spec is not None, res.messages
    ds = spec['dataset_data']
    assert ds['num'] == 4 and spec['dataset_size'] == 4  # NVlabs' seeded subset of the seed count
    ref_ds = spectra.dataset_spectrum(str(folder), num=4, seed=0)
    np.testing.assert_allclose(ds['spectrum'], ref_ds['spectrum'], rtol=1e-12)
    G = renderer.networks.get(sg3.pkl).G
    ref = spectra.network_spectrum(G, 4, mean=ds['mean'], std=ds['std'], batch_size=1)
    np.testing.assert_array_equal(spec['data']['spectrum'], ref['spectrum'])
    # Uniform noise of std s is flat at 10 log10(s^2 / s^2) = 0 dB in the dataset's own units.
    assert abs(float(np.median(spec['dataset_db'])) - 0) < 1.5

    small = write_image_folder(tmp_path / 'small', num=3, resolution=16)
    counter = SynthesisCounter(G)
    try:
        bad = renderer.render(dataclasses.replace(sg3, spectrum_seeds=4, spectrum_dataset=str(small),
                                                  w0_seeds=((3, 1.0),)))
        assert counter.calls == 1 and '16px' in bad.analysis_errors['spectrum']
    finally:
        counter.remove()


def test_display_only_changes_run_no_synthesis(sg3):
    renderer = Renderer()
    moved = dataclasses.replace(sg3, translate_x=0.1, rotate=5.0, fft_show=True)
    base = renderer.render(moved)
    G = renderer.networks.get(sg3.pkl).G
    counter = SynthesisCounter(G)
    try:
        changes = [dict(fft_range_db=20.0), dict(fft_beta=2.0), dict(img_scale_db=6.0), dict(img_normalize=True),
                   dict(sel_channels=1, base_channel=2), dict(fft_all=False, sel_channels=1), dict(fft_show=False),
                   dict(untransform=True)]
        for change in changes:
            res = renderer.render(dataclasses.replace(moved, **change))
            assert res.error is None
            shown = res.fft if 'fft_show' not in change else res.image
            assert shown is not None
            if 'fft_range_db' in change or 'fft_beta' in change or 'fft_all' in change:
                assert not np.array_equal(res.fft, base.fft)  # the change shows
            elif 'fft_show' not in change:
                assert not np.array_equal(res.image, base.image)
        assert counter.calls == 0
        renderer.render(dataclasses.replace(moved, w0_seeds=((4, 1.0),)))
        renderer.render(dataclasses.replace(moved, rotate=6.0))
        assert counter.calls == 2  # the latent and the transform do synthesise
    finally:
        counter.remove()


def _wait(predicate, timeout: float = 60.0, step: float = 0.005) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, 'timed out'
        time.sleep(step)


def test_new_request_cancels_spectrum_within_one_sample_and_it_resumes(sg3):
    renderer = Renderer()
    renderer.render(sg3)
    G = renderer.networks.get(sg3.pkl).G
    counter = SynthesisCounter(G, delay=0.03)
    ar = AsyncRenderer(renderer)
    seen = []
    try:
        long = dataclasses.replace(sg3, spectrum_seeds=40)
        ar.set_args(long)
        _wait(lambda: (seen.append(ar.progress) or True) and (ar.progress or ('', 0, 0))[1] >= 5)
        assert ar.analysing
        first = ar.get_result()
        assert first is not None and first.partial and first.spectrum is None  # the view came first
        calls_at_request = counter.calls
        done_at_request = ar.progress[1]
        plain = dataclasses.replace(long, w0_seeds=((7, 1.0),), spectrum_seeds=0)
        ar.set_args(plain)
        assert ar.wait_idle(30)
        res = ar.get_result()
        assert res.args == plain and res.image is not None
        # At most the sample in flight (stopped inside it) plus the new view.
        assert counter.calls - calls_at_request <= 2
        assert ar.stats['dropped'] >= 1  # the cancelled full result was not shown
        progress = [p for p in seen if p is not None]
        assert all(p[0] == 'spectrum' and p[2] == 40 for p in progress)
        dones = [p[1] for p in progress]
        assert dones == sorted(dones) and dones[-1] >= 5

        # Asking again resumes where it stopped and ends with the library's spectrum.
        before = counter.calls
        ar.set_args(long)
        assert ar.wait_idle(60)
        full = ar.get_result()
        assert full.spectrum is not None and not full.partial
        assert counter.calls - before <= 40 - done_at_request + 2  # the rest, the view, one redone sample
        counter.remove()
        ref = spectra.network_spectrum(G, 40, batch_size=1)
        np.testing.assert_array_equal(full.spectrum['data']['spectrum'], ref['spectrum'])
    finally:
        counter.remove()
        ar.close()


def test_cancel_button_stops_the_analysis(sg3):
    renderer = Renderer()
    renderer.render(sg3)
    G = renderer.networks.get(sg3.pkl).G
    counter = SynthesisCounter(G, delay=0.03)
    ar = AsyncRenderer(renderer)
    try:
        args = dataclasses.replace(sg3, sticking=True, sticking_num=30, sticking_frames=30)
        ar.set_args(args)
        _wait(lambda: (ar.progress or ('', 0, 0))[1] >= 3)
        assert ar.progress[0] == 'sticking' and ar.progress[2] == 60
        calls = counter.calls
        ar.cancel_analysis()
        assert ar.wait_idle(30)
        res = ar.get_result()
        assert counter.calls - calls <= 1 and res.sticking is None and res.image is not None
        assert 'texture-sticking view cancelled' in res.messages and ar.stats['cancelled'] == 1
        assert ar.progress is None
        assert renderer.analyses_pending(args)  # a cancel is not a failure: asked again, it runs
    finally:
        counter.remove()
        ar.close()


def test_eq_progress_counts_its_samples(sg3):
    renderer = Renderer()
    res = renderer.render(sg3)
    G = renderer.networks.get(sg3.pkl).G
    reports = []

    class Recorder(analysis_cache.AnalysisControl):
        def report(self, what, done, total):
            reports.append((what, done, total))

    ws = G.mapping(torch.from_numpy(np.random.RandomState(0).randn(1, G.z_dim)).float(), None)
    with torch.no_grad():
        analysis_cache.eq_readout(G, ws, 2, Recorder())
    assert res.error is None and reports[0] == ('EQ readout', 0, 7) and reports[-1] == ('EQ readout', 7, 7)
    assert [r[1] for r in reports] == list(range(8))


def test_eq_readout_key_follows_the_latent(tmp_path):
    """The readout is of the shown w: an explicit latent, class or direction edit must not reuse another's."""
    import os

    from viz.core.analysis_cache import analysis_keys

    base = RenderArgs(eq_readout=True)
    key = analysis_keys(base, None)['eq']
    assert analysis_keys(dataclasses.replace(base, latent=(0.5,) * 4), None)['eq'] != key
    assert analysis_keys(dataclasses.replace(base, class_idx=1), None)['eq'] != key
    path = tmp_path / 'w.npy'
    path.write_bytes(b'x')
    with_file = dataclasses.replace(base, latent_file=str(path))
    first = analysis_keys(with_file, None)['eq']
    os.utime(path, ns=(1, 10**18))  # a new projection written into the same file
    assert analysis_keys(with_file, None)['eq'] != first
