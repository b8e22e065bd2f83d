"""Loading a real-size pickle: the restricted loader of networks.safe_unpickle against the loader it replaced.

    python -m benchmarks.bench_load [--res 1024] [--rounds 2] [--threads N] [--keep DIR]

Writes a StyleGAN3-T snapshot in NVlabs' format ({G, G_ema, D, augment_pipe, training_set_kwargs}, ~300 MB at
1024 px) with the fake NVlabs writer of the tests, and the same networks in our format. Then loads each file
with the new ``networks.load_network_pkl`` and with the old one (``networks/pickle_io.py`` of commit 1d65846,
read with ``git show`` and imported as a module; it used ``torch.load(weights_only=True)`` per storage blob),
alternating, ``--rounds`` times; reports the best time of each and the ratio new / old, and checks that both
give bit-identical networks.
"""

from __future__ import annotations

import argparse
import copy
import gc
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time

import torch

import networks
from networks import stylegan2, stylegan3

OLD_COMMIT = "1d65846"


def old_loader():
    """``load_network_pkl`` as it was at OLD_COMMIT, imported from git (it uses today's networks.persistence)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    source = subprocess.run(["git", "show", f"{OLD_COMMIT}:networks/pickle_io.py"], cwd=root, check=True,
                            capture_output=True, text=True).stdout
    name = "networks._pickle_io_" + OLD_COMMIT
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "networks"
    sys.modules[name] = module
    exec(compile(source, f"{OLD_COMMIT}:networks/pickle_io.py", "exec"), module.__dict__)
    return module.load_network_pkl


def _write_files(root: str, res: int) -> dict:
    from tests.networks.nvlabs_fake import dump_nvlabs_pickle

    torch.manual_seed(0)
    G = stylegan3.Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=res, img_channels=3)
    G_ema = copy.deepcopy(G)
    with torch.no_grad():
        for p in G_ema.parameters():
            p.mul_(0.5)  # distinct tensors: NVlabs' files hold G and G_ema separately
    D = stylegan2.Discriminator(c_dim=0, img_resolution=res, img_channels=3)
    paths = {"nvlabs": os.path.join(root, "network-snapshot-nvlabs.pkl"), "ours": os.path.join(root, "ours.pkl")}
    dump_nvlabs_pickle(paths["nvlabs"], G, D, G_ema=G_ema)
    networks.save_network_pkl(paths["ours"], {"G": G, "G_ema": G_ema, "D": D, "augment_pipe": None})
    return paths


def _same(a: dict, b: dict) -> bool:
    for key in ("G", "G_ema", "D"):
        sa, sb = a[key].state_dict(), b[key].state_dict()
        if list(sa) != list(sb) or not all(torch.equal(sa[k], sb[k]) for k in sa):
            return False
    return True


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--res", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--keep", default=None, help="write the files here (and keep them) instead of a temp dir")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    loaders = {"new": networks.load_network_pkl, "old": old_loader()}
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or tmp
        os.makedirs(root, exist_ok=True)
        paths = _write_files(root, args.res)
        for fmt, path in paths.items():
            times = {"new": [], "old": []}
            results = {}
            for _ in range(args.rounds):
                for which in ("old", "new"):
                    gc.collect()
                    start = time.perf_counter()
                    results[which] = loaders[which](path)
                    times[which].append(time.perf_counter() - start)
            best = {k: min(v) for k, v in times.items()}
            report[fmt] = dict(file_mb=round(os.path.getsize(path) / 2**20, 1), old_s=round(best["old"], 3),
                               new_s=round(best["new"], 3), ratio_new_over_old=round(best["new"] / best["old"], 3),
                               identical=_same(results["new"], results["old"]))
            print(f"{fmt:7s} {report[fmt]['file_mb']:7.1f} MB  old {best['old']:.3f} s  new {best['new']:.3f} s  "
                  f"new/old {best['new'] / best['old']:.3f}  identical {report[fmt]['identical']}", flush=True)
            del results
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
