"""The registry: metric name -> function(opts) -> dict of results."""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from networks.stylegan2 import has_noise_inputs
from training.metrics import equivariance, feature_stats, frechet
from training.metrics import swd as swd_lib
from training.metrics.errors import MetricError

__all__ = ['MetricOptions', 'MetricError', 'register_metric', 'list_valid_metrics', 'is_valid_metric',
           'calc_metric', 'report_metric', 'CONST_NOISE_METRICS']


@dataclass
class MetricOptions:
    G: torch.nn.Module
    dataset_kwargs: dict | None = None
    device: torch.device = field(default_factory=lambda: torch.device('cpu'))
    num_gpus: int = 1
    rank: int = 0
    num_samples: int | None = None
    cache_dir: str | None = None
    detector: str | None = None
    trust_detector: bool = False  # TorchScript detectors are code: loaded only when the user says so
    batch_size: int = 16
    seed: int = 0  # equivariance metrics: the draws of latents and transforms
    progress: Callable[[str, int, int], None] | None = None  # (tag, done, total)

    def samples(self, default: int) -> int:
        return int(self.num_samples) if self.num_samples else default


_METRICS: dict[str, Callable[[MetricOptions], dict]] = {}


def register_metric(fn: Callable[[MetricOptions], dict]) -> Callable[[MetricOptions], dict]:
    _METRICS[fn.__name__] = fn
    return fn


def list_valid_metrics() -> list[str]:
    return list(_METRICS)


def is_valid_metric(name: str) -> bool:
    return name in _METRICS


def _eq_metric(name: str) -> Callable[[MetricOptions], dict]:
    def fn(opts: MetricOptions) -> dict:
        total = opts.samples(50000)

        def progress(done):
            if opts.progress is not None:
                opts.progress(name, done, total)

        dataset = None
        if opts.G.c_dim and opts.dataset_kwargs and opts.dataset_kwargs.get('path'):
            dataset = feature_stats.open_dataset(dict(opts.dataset_kwargs, use_labels=True), opts.G.img_resolution)
        value = equivariance.compute_equivariance(opts.G, name, total, opts.batch_size, opts.device,
                                                  seed=opts.seed, progress=progress, rank=opts.rank,
                                                  num_gpus=opts.num_gpus, dataset=dataset)
        return {name: value}
    fn.__name__ = name
    return fn


for _name in equivariance.EQ_METRICS:
    register_metric(_eq_metric(_name))
# Metrics that render a StyleGAN2 with its fixed noise map (NVlabs' equivariance metrics do); the others draw
# the noise per image (feature_stats.iterate_generator_images).
CONST_NOISE_METRICS = frozenset(equivariance.EQ_METRICS)


@register_metric
def fid50k_full(opts: MetricOptions) -> dict:
    return dict(fid50k_full=frechet.compute_fid(opts, max_real=None, num_gen=opts.samples(50000)))


@register_metric
def kid50k_full(opts: MetricOptions) -> dict:
    return dict(kid50k_full=frechet.compute_kid(opts, max_real=1000000, num_gen=opts.samples(50000)))


@register_metric
def swd(opts: MetricOptions) -> dict:
    return swd_lib.compute_swd(opts, num_images=opts.samples(16384))


def calc_metric(metric: str, G: torch.nn.Module, dataset_kwargs: dict | None = None, device='cpu', num_gpus: int = 1,
                rank: int = 0, num_samples: int | None = None, cache_dir: str | None = None,
                detector: str | None = None, batch_size: int = 16,
                progress: Callable[[str, int, int], None] | None = None, trust_detector: bool = False,
                seed: int = 0) -> dict:
    """Run one metric; returns dict(metric=..., results={...}, total_time=..., total_time_str=..., num_gpus=...)."""
    if not is_valid_metric(metric):
        raise MetricError(f'unknown metric {metric!r}; valid metrics: {", ".join(list_valid_metrics())}')
    device = torch.device(device)
    G = copy.deepcopy(G).eval().requires_grad_(False).to(device)
    opts = MetricOptions(G=G, dataset_kwargs=dataset_kwargs, device=device, num_gpus=num_gpus, rank=rank,
                         num_samples=num_samples, cache_dir=cache_dir, detector=detector, batch_size=batch_size,
                         progress=progress, trust_detector=trust_detector, seed=seed)
    start = time.time()
    results = _METRICS[metric](opts)
    total = time.time() - start
    out = dict(metric=metric, results={k: float(v) for k, v in results.items()}, total_time=total,
               total_time_str=f'{total:.1f}s', num_gpus=num_gpus, num_samples=num_samples)
    if has_noise_inputs(G):   # recorded: logs from before per-image noise lack it
        out['noise_mode'] = 'const' if metric in CONST_NOISE_METRICS else 'random'
    return out


def report_metric(result_dict: dict, run_dir: str | None = None, snapshot_pkl: str | None = None) -> str:
    """Append the result as one JSON line to run_dir/metric-<name>.jsonl (if run_dir); returns the line."""
    record = dict(result_dict, snapshot_pkl=snapshot_pkl, timestamp=time.time())
    line = json.dumps(record)
    if run_dir is not None:
        os.makedirs(run_dir, exist_ok=True)
        with open(os.path.join(run_dir, f'metric-{result_dict["metric"]}.jsonl'), 'a') as f:
            f.write(line + '\n')
    return line
