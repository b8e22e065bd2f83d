"""What storing a training state compactly changes: weight rounding against one optimizer step, and SWD.

    .venv/bin/python -m benchmarks.compact_state --state pilot/t-b8-cmax32 --data data/photos-64.zip \\
        [--level 3] [--swd-images 1024]

Reads a full-precision state (storage level 0), encodes it at `--level` (training.slice.STORAGE_LEVELS) as a
slice would save it, and decodes it again, as the next slice would resume. Prints, per network, the median and
largest |rounding| of the weights, beside the median size of one Adam step (lr * |g| / sqrt(v) with g^2
estimated by the stored second moments, i.e. about lr); and the SWD of G_ema before and after (same images,
same seed), against the untrained network's for scale.
"""

from __future__ import annotations

import argparse
import io
import json
import sys

import torch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--state', required=True)
    parser.add_argument('--data', required=True)
    parser.add_argument('--level', type=int, default=3)
    parser.add_argument('--swd-images', type=int, default=1024)
    opts = parser.parse_args(argv)

    from tools.export_default import _from_state
    from training.metrics.registry import calc_metric
    from training.slice import STORAGE_LEVELS, encode_payload, read_state
    manifest, payload = read_state(opts.state)
    if manifest['storage']['level'] != 0:
        print(f'{opts.state} is stored at level {manifest["storage"]["level"]}; a full-precision state is needed')
        return 1
    snapshot = dict(payload, augment_pipe=None)
    buffer = io.BytesIO()
    torch.save(encode_payload(_as_modules(snapshot), opts.level), buffer)
    compact = torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)
    print(f'level {opts.level} {STORAGE_LEVELS[opts.level]}: payload {buffer.tell() / 2**20:.2f} MiB '
          f'(full: {manifest["payload_bytes"] / 2**20:.2f} MiB)')
    lr = {name: manifest['options'][f'{name[0]}_opt_kwargs']['lr'] for name in ('G', 'D')}
    for name in ('G', 'D', 'G_ema'):
        deltas = torch.cat([(compact[name][k].float() - v).abs().flatten() for k, v in payload[name].items()
                            if v.is_floating_point()])
        step = lr['G' if name == 'G_ema' else name]
        print(f'{name:6s} |rounding| median {deltas.median():.2e}, max {deltas.max():.2e}; '
              f'one Adam step is about lr = {step:g}')
    G, tsk, _ = _from_state(opts.state, opts.data)
    tsk = dict(tsk, xflip=False)
    before = calc_metric('swd', G, dataset_kwargs=tsk, num_samples=opts.swd_images, batch_size=32)['results']
    G.load_state_dict({k: v.float() for k, v in compact['G_ema'].items()}, strict=False)
    after = calc_metric('swd', G, dataset_kwargs=tsk, num_samples=opts.swd_images, batch_size=32)['results']
    print('SWD of G_ema, full precision:', json.dumps({k: round(v, 2) for k, v in before.items()}))
    print('SWD of G_ema, compact:       ', json.dumps({k: round(v, 2) for k, v in after.items()}))
    return 0


class _Tensors(torch.nn.Module):
    """A stand-in module whose named tensors are a payload's, for encode_payload."""

    def __init__(self, tensors: dict):
        super().__init__()
        self._tensors = tensors

    def named_parameters(self, *args, **kwargs):
        return iter(self._tensors.items())

    def named_buffers(self, *args, **kwargs):
        return iter(())


def _as_modules(payload: dict) -> dict:
    return dict(payload, **{name: _Tensors(payload[name]) for name in ('G', 'D', 'G_ema')})


if __name__ == '__main__':
    sys.exit(main())
