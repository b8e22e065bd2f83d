"""Running statistics for the training loop: named scalars reported during a tick, reduced across processes.

`report(name, values)` accumulates count, sum and sum of squares on the values' device (no sync);
`reduce()` sums the accumulators over all processes (same names on every rank, in sorted order) and returns
`{name: {'num', 'mean', 'std'}}`, then starts afresh.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


class StatsCollector:
    def __init__(self, names: tuple[str, ...] | None = None):
        self._names = None if names is None else set(names)   # None: collect every name
        self._acc: dict[str, torch.Tensor] = {}

    def report(self, name: str, values: torch.Tensor | float) -> None:
        if self._names is not None and name not in self._names:
            return
        values = torch.as_tensor(values).detach().flatten().to(torch.float32)
        moments = torch.stack([torch.tensor(float(values.numel()), device=values.device),
                               values.sum(), values.square().sum()])
        if name in self._acc:
            self._acc[name] = self._acc[name] + moments.to(self._acc[name].device)
        else:
            self._acc[name] = moments

    def state(self) -> dict[str, list[float]]:
        """The accumulators as plain data (for snapshots)."""
        return {name: acc.cpu().tolist() for name, acc in self._acc.items()}

    def load_state(self, state: dict[str, list[float]], device) -> None:
        self._acc = {name: torch.tensor(acc, dtype=torch.float32, device=device) for name, acc in state.items()}

    def reduce(self, device=None) -> dict[str, dict[str, float]]:
        names = sorted(self._acc)
        if not names:
            return {}
        stacked = torch.stack([self._acc[n].to(device or self._acc[n].device) for n in names])
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            dist.all_reduce(stacked)
        self._acc = {}
        result = {}
        for name, (num, total, total_sq) in zip(names, stacked.cpu().tolist()):
            mean = total / max(num, 1)
            var = max(total_sq / max(num, 1) - mean * mean, 0.0)
            result[name] = dict(num=num, mean=mean, std=var ** 0.5)
        return result
