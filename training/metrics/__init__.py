"""Metrics registry used by training and `python -m tools.calc_metrics`.

Metrics (NVlabs names): eqt50k_int, eqt50k_frac, eqr50k (equivariance, no dataset needed),
fid50k_full, kid50k_full (need a dataset and a detector file), swd (sliced Wasserstein distance on
Laplacian-pyramid patches, needs a dataset but no external weights).
"""

from training.metrics.detector import DetectorError
from training.metrics.errors import MetricError
from training.metrics.registry import calc_metric, is_valid_metric, list_valid_metrics, report_metric

__all__ = ['DetectorError', 'MetricError', 'calc_metric', 'is_valid_metric', 'list_valid_metrics', 'report_metric']
