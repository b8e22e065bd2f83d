"""Loading a real-size pickle: the restricted loader of networks.safe_unpickle against PyTorch's own restricted
loader reading the same tensors, timed in the same run.

    python -m benchmarks.bench_load [--res 1024] [--rounds 2] [--cbase 32768] [--cmax 512] [--threads N] [--keep DIR]

Writes a StyleGAN3-T snapshot in NVlabs' format ({G, G_ema, D, augment_pipe, training_set_kwargs}, ~300 MB at
1024 px) with the fake NVlabs writer of the tests, the same networks in our format, and their state dicts with
``torch.save``. Then, interleaved (``benchmarks/timing.py``: one warm-up round, then ``--rounds`` rounds),
loads each pickle with ``networks.load_network_pkl`` and the state dicts with ``torch.load(weights_only=True)``:
the baseline is the cost of reading those tensors at all, so ``ours / torch.load`` is what the restricted
unpickler and the rebuilt modules add. Reports medians and quartiles, the ratios, and checks that every load
gives bit-identical weights.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import tempfile

import torch

import networks
from networks import stylegan2, stylegan3

from . import timing

NETS = ("G", "G_ema", "D")


def _write_files(root: str, res: int, cbase: int = 32768, cmax: int = 512) -> dict:
    from tests.networks.nvlabs_fake import dump_nvlabs_pickle

    torch.manual_seed(0)
    G = stylegan3.Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=res, img_channels=3, channel_base=cbase,
                            channel_max=cmax)
    G_ema = copy.deepcopy(G)
    with torch.no_grad():
        for p in G_ema.parameters():
            p.mul_(0.5)  # distinct tensors: NVlabs' files hold G and G_ema separately
    D = stylegan2.Discriminator(c_dim=0, img_resolution=res, img_channels=3, channel_base=cbase, channel_max=cmax)
    paths = {"nvlabs": os.path.join(root, "network-snapshot-nvlabs.pkl"), "ours": os.path.join(root, "ours.pkl"),
             "tensors": os.path.join(root, "tensors.pt")}
    dump_nvlabs_pickle(paths["nvlabs"], G, D, G_ema=G_ema)
    networks.save_network_pkl(paths["ours"], {"G": G, "G_ema": G_ema, "D": D, "augment_pipe": None})
    torch.save({k: m.state_dict() for k, m in (("G", G), ("G_ema", G_ema), ("D", D))}, paths["tensors"])
    return paths


def _state(data: dict) -> dict:
    """Name -> state dict, from a loaded pickle (modules) or from the saved state dicts."""
    return {k: (v.state_dict() if isinstance(v, torch.nn.Module) else v) for k, v in data.items() if k in NETS}


def _same(a: dict, b: dict) -> bool:
    for key in NETS:
        sa, sb = a[key], b[key]
        if list(sa) != list(sb) or not all(torch.equal(sa[k], sb[k]) for k in sa):
            return False
    return True


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--res", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cbase", type=int, default=32768, help="channel_base of G and D")
    parser.add_argument("--cmax", type=int, default=512, help="channel_max of G and D")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--keep", default=None, help="write the files here (and keep them) instead of a temp dir")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or tmp
        os.makedirs(root, exist_ok=True)
        paths = _write_files(root, args.res, args.cbase, args.cmax)
        loaded: dict = {}

        def loader(name: str):
            def run():
                loaded.pop(name, None)
                gc.collect()  # the previous result's memory is freed before, not during, the timed call
                if name == "tensors":
                    loaded[name] = torch.load(paths[name], weights_only=True)
                else:
                    loaded[name] = networks.load_network_pkl(paths[name])
            return run

        cmp = timing.compare({name: loader(name) for name in ("tensors", "nvlabs", "ours")}, args.rounds)
        reference = _state(loaded["tensors"])
        report = dict(env=cmp.env, baseline="torch.load(weights_only=True) of the same state dicts")
        print(f"{timing.describe(cmp.env)}; medians of {cmp.rounds} interleaved rounds after one warm-up round")
        for name, path in paths.items():
            s = cmp.wall[name]
            report[name] = dict(file_mb=round(os.path.getsize(path) / 2**20, 1), median_s=round(s.median, 3),
                                q1_s=round(s.q1, 3), q3_s=round(s.q3, 3),
                                ratio_over_torch_load=round(cmp.ratio(name), 3),
                                identical=_same(_state(loaded[name]), reference))
            r = report[name]
            print(f"{name:7s} {r['file_mb']:7.1f} MB  {s.format(digits=3)} s  x{r['ratio_over_torch_load']:.3f} "
                  f"torch.load  identical {r['identical']}", flush=True)
        loaded.clear()
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
