"""500 seeded mutations of a valid small dataset zip (bytes anywhere, local headers, member data and deflate bombs,
the central directory, the end record, cuts and junk, member names, dataset.json's bytes and values), each read by
the training-set reader (both bad-image modes, every item) and converted by tools.dataset_tool (both --on-error
modes, its output read back): every case loads with images of the right shape and dtype or is refused with the
project's one error class (a UserError), within 2 s, and the whole run stays below 1 GB of resident memory.

The fuzz runs in its own process (tests/training/zip_fuzz.py), so its peak memory (VmHWM) is its own and a case
that hangs is named and killed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from tests.test_import_rules import ROOT
from tests.training import zip_fuzz

CASES = 500
FUZZ_SEED = 20260521
CONSUMERS = ('reader_stop', 'reader_skip', 'tool_skip', 'tool_stop')
MAX_CASE_SECONDS = 2.0
MAX_RSS = 1 << 30


def _run_fuzz(tmp_path, cases: int, seed: int, timeout: float) -> tuple[list[dict], int]:
    cmd = [sys.executable, '-m', 'tests.training.zip_fuzz', '--cases', str(cases), '--seed', str(seed),
           '--workdir', str(tmp_path)]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                              env=dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1'))
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or '')
        started = [json.loads(line)['start'] for line in out.splitlines() if line.startswith('{"start"')]
        pytest.fail(f'the fuzz did not finish in {timeout} s; case {started[-1] if started else None} hangs')
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    results = [line for line in lines if 'case' in line]
    peak = [line['peak_rss_bytes'] for line in lines if 'peak_rss_bytes' in line]
    assert len(peak) == 1 and peak[0] > 0, lines[-3:]
    return results, peak[0]


def test_dataset_zip_fuzz(tmp_path):
    results, peak = _run_fuzz(tmp_path, CASES, FUZZ_SEED, timeout=300)
    assert [r['case'] for r in results] == list(range(-1, CASES))

    valid = results[0]
    assert valid['kind'] == 'valid' and all(valid[c]['outcome'] == 'loaded' for c in CONSUMERS), valid

    escapes = [(r['case'], r['kind'], c, r[c]['outcome']) for r in results for c in CONSUMERS
               if not r[c]['outcome'].startswith(('loaded', 'refused: '))]
    assert escapes == [], escapes
    wrong = [(r['case'], r['kind'], c, r[c]['wrong']) for r in results for c in CONSUMERS if r[c]['wrong']]
    assert wrong == [], wrong
    slow = [(r['case'], r['kind'], {c: r[c]['seconds'] for c in CONSUMERS}) for r in results
            if sum(r[c]['seconds'] for c in CONSUMERS) >= MAX_CASE_SECONDS]
    assert slow == [], slow
    assert peak < MAX_RSS, f'peak RSS {peak >> 20} MiB'

    # The mutations reach every part of the archive, and neither all pass nor all fail: each kind has cases
    # the reader loads and cases it refuses (a fuzz that only breaks the zip's signature would test nothing).
    outcomes = Counter((r['kind'], outcome) for r in results[1:]
                       for outcome in {r[c]['outcome'].split(':')[0] for c in CONSUMERS})
    for kind in zip_fuzz.KINDS:
        assert outcomes[kind, 'refused'] >= 5 and outcomes[kind, 'loaded'] >= 3, (kind, outcomes)
    refused_by = Counter(r[c]['outcome'] for r in results for c in CONSUMERS if r[c]['outcome'] != 'loaded')
    assert all(outcome.startswith('refused: ') for outcome in refused_by), refused_by


def test_the_mutations_are_seeded_and_change_the_archive():
    valid = zip_fuzz.build_zip()
    layout = zip_fuzz.Layout(valid)
    assert len(layout.locals) == len(layout.centrals) == zip_fuzz.IMAGES + 1 and layout.end > layout.central_start
    first = [zip_fuzz.mutate(valid, layout, case, 1) for case in range(2 * len(zip_fuzz.KINDS))]
    again = [zip_fuzz.mutate(valid, layout, case, 1) for case in range(2 * len(zip_fuzz.KINDS))]
    other = [zip_fuzz.mutate(valid, layout, case, 2) for case in range(2 * len(zip_fuzz.KINDS))]
    assert first == again and first != other
    assert {kind for kind, _ in first} == set(zip_fuzz.KINDS)
    assert sum(data != valid for _, data in first) >= len(first) - 2


def test_the_harness_reports_escapes_and_wrong_images(tmp_path, monkeypatch):
    path = str(tmp_path / 'data.zip')
    with open(path, 'wb') as f:
        f.write(zip_fuzz.build_zip())
    assert zip_fuzz.read_dataset(path, 'stop') == ('loaded', None)
    assert zip_fuzz.convert(path, str(tmp_path / 'out.zip'), 'stop') == ('loaded', None)

    class Escapes:
        def __init__(self, *args, **kwargs):
            raise KeyError('member')
    monkeypatch.setattr(zip_fuzz, 'ImageFolderDataset', Escapes)
    assert zip_fuzz.read_dataset(path, 'stop')[0] == "escape: KeyError: 'member'"
    monkeypatch.undo()

    real_getitem = zip_fuzz.ImageFolderDataset.__getitem__
    monkeypatch.setattr(zip_fuzz.ImageFolderDataset, '__getitem__',
                        lambda self, i: (real_getitem(self, i)[0][:1], real_getitem(self, i)[1]))
    assert zip_fuzz.read_dataset(path, 'stop') == ('loaded', 'item 0: image uint8 (1, 8, 8)')
