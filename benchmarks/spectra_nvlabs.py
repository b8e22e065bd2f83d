"""StyleGAN2 average spectra against NVlabs' own avg_spectra, with noise: how far apart they are, in dB.

    .venv/bin/python -m benchmarks.spectra_nvlabs --nvlabs nvlabs [--num 2000] [--out /tmp/spectra-nvlabs]

`nvlabs_side.py spectra` (NVlabs' code, its own process) writes a tiny NVlabs-format StyleGAN2 pickle whose
noise strengths are non-zero and computes NVlabs' spectrum of it twice; NVlabs draws unseeded fresh noise, so
its two runs differ by that noise alone, which is the spread any other run can be expected to show. Then
`tools.avg_spectra calc` computes ours with `--noise-mode random` (the nvlabs default) and `const`, and every
spectrum is compared with NVlabs' first run: max, median and mean |difference| over all bins, in dB. NVlabs'
avg_spectra needs `click`: `pip install --target DIR click` and put DIR on PYTHONPATH for this command.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np


def _db(path: str) -> np.ndarray:
    return 10 * np.log10(np.load(path)['spectrum'])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--nvlabs', required=True, help='a checkout of NVlabs/stylegan3')
    parser.add_argument('--num', type=int, default=2000)
    parser.add_argument('--out', default='/tmp/spectra-nvlabs')
    args = parser.parse_args(argv)
    here = os.path.dirname(os.path.abspath(__file__))
    side = subprocess.run([sys.executable, os.path.join(here, 'nvlabs_side.py'), 'spectra', '--nvlabs', args.nvlabs,
                           '--out', os.path.join(args.out, 'nvlabs.json'), '--outdir', args.out, '--device', 'cpu',
                           '--num', str(args.num)], capture_output=True, text=True)
    result = json.load(open(os.path.join(args.out, 'nvlabs.json')))
    if side.returncode != 0 or not result.get('ok'):
        print(result.get('error', side.stderr[-2000:]))
        return 1
    ours = {}
    for mode in ('random', 'const'):
        dest = os.path.join(args.out, f'ours-{mode}.npz')
        subprocess.run([sys.executable, '-m', 'tools.avg_spectra', 'calc', '--source', result['pickle'], '--num',
                        str(args.num), '--seed', '0', '--mean', '128', '--std', '64', '--device', 'cpu',
                        '--noise-mode', mode, '--dest', dest], check=True, capture_output=True)
        ours[mode] = dest
    reference = _db(result['runs'][0])
    print(f'StyleGAN2 32x32, {args.num} images, |ours - NVlabs run a| in dB over all bins:')
    for name, path in [('NVlabs run b (its noise only)', result['runs'][1]),
                       ('ours, --noise-mode random', ours['random']), ('ours, --noise-mode const', ours['const'])]:
        d = np.abs(_db(path) - reference)
        print(f'  {name:32s} max {d.max():6.3f}  median {np.median(d):6.3f}  mean {d.mean():6.3f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
