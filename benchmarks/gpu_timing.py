"""Timing helpers and network specs shared by ``gpu_report`` (our side) and ``nvlabs_side`` (NVlabs' side).

Imports only torch, the standard library and ``benchmarks/timing.py`` (the benchmarks' one timing helper), so
that the NVlabs subprocess, whose ``training`` package would clash with ours, can import both by path. Timing is
device-agnostic: ``torch.cuda.synchronize`` runs only for CUDA devices; peak memory is measured only on CUDA
(None elsewhere).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator

import torch

if __package__:
    from . import timing
else:  # imported by path from nvlabs_side.py, whose folder is sys.path[0]
    import timing

# Full sizes, as NVlabs' train.py builds them (num_fp16_res=4 and conv_clamp=256 for G and D; mapping 2
# layers for StyleGAN3, 8 for StyleGAN2; R doubles channel_base and channel_max). 'kind' picks the class.
FULL_NETS: dict[str, dict] = {
    "sg3t-256": dict(kind="sg3", res=256, kwargs=dict(channel_base=32768, channel_max=512)),
    "sg3r-256": dict(kind="sg3", res=256, kwargs=dict(channel_base=65536, channel_max=1024, conv_kernel=1,
                                                       use_radial_filters=True)),
    "sg3t-1024": dict(kind="sg3", res=1024, kwargs=dict(channel_base=32768, channel_max=512)),
    "sg3r-1024": dict(kind="sg3", res=1024, kwargs=dict(channel_base=65536, channel_max=1024, conv_kernel=1,
                                                        use_radial_filters=True)),
    "sg2-1024": dict(kind="sg2", res=1024, kwargs=dict(channel_base=32768, channel_max=512)),
}
# Rehearsal sizes: the same architectures, tiny (CPU, seconds).
TINY_NETS: dict[str, dict] = {
    "sg3t-256": dict(kind="sg3", res=16, kwargs=dict(channel_base=256, channel_max=8)),
    "sg3r-256": dict(kind="sg3", res=16, kwargs=dict(channel_base=512, channel_max=16, conv_kernel=1,
                                                      use_radial_filters=True)),
    "sg3t-1024": dict(kind="sg3", res=32, kwargs=dict(channel_base=256, channel_max=8)),
    "sg3r-1024": dict(kind="sg3", res=32, kwargs=dict(channel_base=512, channel_max=16, conv_kernel=1,
                                                       use_radial_filters=True)),
    "sg2-1024": dict(kind="sg2", res=32, kwargs=dict(channel_base=256, channel_max=8)),
}
TRAIN_NET = "sg3t-256"  # the training step: stylegan3-t at 256 (with a Discriminator in its pickle)
LAYERS_NET = "sg3t-1024"  # filtered_lrelu at every layer of this one; the renderer runs it too


def nets(tiny: bool) -> dict[str, dict]:
    return TINY_NETS if tiny else FULL_NETS


def by_priority(specs: dict[str, dict], tiny: bool = False) -> list[str]:
    """The nets the targets name first (1024), so that a section cut short by its time limit has them. The
    rehearsal times one of each architecture (the 256 ones differ only in size)."""
    names = sorted(specs, key=lambda n: (-specs[n]["res"] if "1024" in n else 0, n.startswith("sg2")))
    return [n for n in names if "1024" in n] if tiny else names


TARGET_NETS = ("sg3t-1024", "sg3r-1024")  # the nets whose images/s the report's targets judge
PARTS = ("targets", "more", "all")


def generator_plan(tiny: bool, part: str, precisions: list[str], names: list[str] | None = None,
                   sizes: list[int] | None = None) -> list[tuple[str, int, str]]:
    """(net, batch, precision) in the order a generators section times them, for both sides.

    'targets': what the report's targets judge, the target nets at the largest batch in the first precision
    (float32); 'more': every other configuration, the target nets' first, the largest batch of a net first;
    'all': both. Splitting them lets NVlabs' side of the targets run before either side's nice-to-haves.
    ``names``, ``sizes``: other nets (in priority order) or batch sizes than the report's.
    """
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    names = by_priority(nets(tiny), tiny) if names is None else names
    sizes = sorted(sizes or batches(tiny), reverse=True)
    targets = [(n, sizes[0], precisions[0]) for n in TARGET_NETS if n in names]
    rest = [(n, b, p) for n in names for b in sizes for p in precisions if (n, b, p) not in targets]
    return {"targets": targets, "more": rest, "all": targets + rest}[part]


def image_nets(tiny: bool, part: str, names: list[str] | None = None) -> list[str]:
    """The nets whose batch-1 float32 image (the fused-vs-eager check, the cross-check with NVlabs) a part of the
    generators section makes: the target nets' in 'targets', the others' in 'more'."""
    names = by_priority(nets(tiny), tiny) if names is None else names
    if part == "targets":
        return [n for n in names if n in TARGET_NETS]
    return [n for n in names if n not in TARGET_NETS] if part == "more" else names


def generator_kwargs(spec: dict, z_dim: int) -> dict:
    """Constructor kwargs of a Generator (ours and NVlabs' take the same names)."""
    common = dict(z_dim=z_dim, c_dim=0, w_dim=z_dim, img_resolution=spec["res"], img_channels=3, num_fp16_res=4,
                  conv_clamp=256, **spec["kwargs"])
    if spec["kind"] == "sg3":
        return dict(common, magnitude_ema_beta=0.5 ** (32 / 20e3), mapping_kwargs=dict(num_layers=2))
    return dict(common, mapping_kwargs=dict(num_layers=8))


def discriminator_kwargs(spec: dict) -> dict:
    kw = {k: v for k, v in spec["kwargs"].items() if k in ("channel_base", "channel_max")}
    return dict(c_dim=0, img_resolution=spec["res"], img_channels=3, num_fp16_res=4, conv_clamp=256, **kw)


def z_dim(tiny: bool) -> int:
    return 16 if tiny else 512


def batches(tiny: bool) -> list[int]:
    return [1] if tiny else [1, 8]


def pick_layers(names: list[str], tiny: bool) -> list[str]:
    """Every layer; in the rehearsal the first, a middle and the last one (the code path is the same)."""
    return [names[0], names[len(names) // 2], names[-1]] if tiny else list(names)


def train_batch(tiny: bool) -> int:
    return 2 if tiny else 32


def fixed_z(batch: int, dim: int, device: torch.device) -> torch.Tensor:
    """The same latents on both sides (a private CPU generator, then moved)."""
    return torch.randn([batch, dim], generator=torch.Generator().manual_seed(1234)).to(device)


def layer_input(L, batch: int, device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """What a StyleGAN3 layer's modulated conv hands its filtered_lrelu (same values on both sides)."""
    k = L.conv_kernel - 1
    shape = [batch, L.out_channels, int(L.in_size[1]) + k, int(L.in_size[0]) + k]
    return torch.randn(shape, generator=torch.Generator().manual_seed(7)).to(device=device, dtype=dtype)


def layer_kwargs(L) -> dict:
    """filtered_lrelu's arguments in a StyleGAN3 layer (ours and NVlabs' use the same names)."""
    return dict(fu=L.up_filter, fd=L.down_filter, b=L.bias, up=L.up_factor, down=L.down_factor, padding=L.padding,
                gain=1 if L.is_torgb else math.sqrt(2), slope=1 if L.is_torgb else 0.2, clamp=L.conv_clamp)


def configure_backends(cudnn_benchmark: bool = False) -> None:
    """The same flags on both sides: no TF32 (the comparison is float32) and, by default, no cuDNN autotuning.

    NVlabs' training loop turns ``cudnn.benchmark`` on; here it is off unless asked for, on both sides alike:
    autotuning runs once per new convolution shape, every net, batch, precision and path brings new shapes, and
    the first runs of a report are what it can least afford (cuDNN's own heuristics choose instead).
    """
    torch.backends.cudnn.benchmark = cudnn_benchmark
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def backend_flags() -> dict:
    """The flags ``configure_backends`` sets, as they are now (for the report)."""
    return dict(cudnn_benchmark=torch.backends.cudnn.benchmark, matmul_tf32=torch.backends.cuda.matmul.allow_tf32,
                cudnn_tf32=torch.backends.cudnn.allow_tf32)


class Progress:
    """What a section has done so far, as it goes.

    Each phase is printed (flushed) when it starts and when it ends and kept with its start and its seconds, so
    that a section killed at its time limit still says what it did, how long each phase took and what it was in
    the middle of. ``on_change`` (writing a partial result) runs at each start and end.
    """

    def __init__(self, section: str, on_change: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.perf_counter, echo: bool = True):
        self.section, self.on_change, self.clock, self.echo = section, on_change, clock, echo
        self.t0 = clock()
        self.phases: list[dict] = []
        self.running: dict | None = None

    def elapsed(self) -> float:
        return self.clock() - self.t0

    def say(self, message: str) -> None:
        if self.echo:
            print(f"[{self.section} {self.elapsed():6.1f} s] {message}", flush=True)

    @contextlib.contextmanager
    def phase(self, what: str) -> Iterator[None]:
        start = self.elapsed()
        self.running = dict(phase=what, start_s=round(start, 3))
        self.say(f"{what} ...")
        self._changed()
        ok = False
        try:
            yield
            ok = True
        finally:
            seconds = self.elapsed() - start
            record = dict(phase=what, start_s=round(start, 3), seconds=round(seconds, 3))
            if not ok:
                record["raised"] = True
            self.phases.append(record)
            self.running = None
            self.say(f"{what}: {seconds:.2f} s{'' if ok else ' (raised)'}")
            self._changed()

    def state(self) -> dict:
        """``phases`` done and, while one runs, ``running`` with its seconds so far."""
        out: dict = dict(phases=list(self.phases))
        if self.running is not None:
            out["running"] = dict(self.running, seconds_so_far=round(self.elapsed() - self.running["start_s"], 3))
        return out

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()


# ----------------------------------------------------------------------------------------------------------
# Timing


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(fns: dict[str, Callable[[], object]], device: torch.device, repeats: int, warmup: int = 1,
               budget_s: float | None = None, cpu: bool = False) -> dict[str, dict]:
    """Per function: median, quartiles and best seconds over ``repeats`` interleaved rounds (A, B, A, B, ...)
    after ``warmup`` rounds (fewer if over budget), with the load average, machine and commit
    (``timing.compare``); ``cpu``: also the median CPU seconds of this process per call."""
    c = timing.compare(fns, max(repeats, 1), warmup, sync=lambda: sync(device), budget_s=budget_s,
                       cpu_clock=time.process_time if cpu else None)
    out = {}
    for name, s in c.wall.items():
        out[name] = dict(median_s=s.median, q1_s=s.q1, q3_s=s.q3, best_s=s.min, runs=s.n, env=c.env)
        if cpu:
            out[name]["cpu_s"] = c.cpu[name].median
    return out


def time_call(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 1,
              budget_s: float | None = None, cpu: bool = False) -> dict:
    """``time_calls`` of one function."""
    return time_calls({"fn": fn}, device, repeats, warmup, budget_s, cpu)["fn"]


def peak_memory_mib(fn: Callable[[], object], device: torch.device) -> float | None:
    """Peak memory ``fn`` allocates above what was allocated before it (CUDA only)."""
    if device.type != "cuda":
        return None
    sync(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    fn()
    sync(device)
    return (torch.cuda.max_memory_allocated(device) - base) / 2**20


def ema_update(G_ema: torch.nn.Module, G: torch.nn.Module, beta: float = 0.999) -> None:
    with torch.no_grad():
        for p_ema, p in zip(G_ema.parameters(), G.parameters(), strict=True):
            p_ema.copy_(p.lerp(p_ema, beta))
        for b_ema, b in zip(G_ema.buffers(), G.buffers(), strict=True):
            b_ema.copy_(b)


def training_step_s_per_kimg(loss, G: torch.nn.Module, D: torch.nn.Module, G_ema: torch.nn.Module,
                             batch: int, device: torch.device, steps: int, budget_s: float, warmup: int = 1,
                             progress: Progress | None = None, label: str = "") -> dict:
    """s/kimg of NVlabs' phase schedule for StyleGAN3 with a synthetic batch (both sides run this same code).

    One step = Gmain (G forward + D + G backward, Adam step) + Dmain (D on fakes and reals, Adam step) + the
    G_ema update; Dreg (R1, every 16 steps with gain 16) is timed on its own and amortized over 16 steps.
    No data loading, no augmentation, no statistics: the same work on both sides. ``progress``: the warm-up, the
    timed steps and Dreg as phases (their names start with ``label``).
    """
    gen = torch.Generator(device=device).manual_seed(0)
    G_opt = torch.optim.Adam(G.parameters(), lr=0.0025, betas=(0.0, 0.99), eps=1e-8)
    D_opt = torch.optim.Adam(D.parameters(), lr=0.002, betas=(0.0, 0.99), eps=1e-8)
    real = torch.rand([batch, G.img_channels, G.img_resolution, G.img_resolution], generator=gen,
                      device=device) * 2 - 1
    c = torch.zeros([batch, G.c_dim], device=device)

    def phase(name: str, opt, module, gain: float) -> None:
        opt.zero_grad(set_to_none=True)
        module.requires_grad_(True)
        z = torch.randn([batch, G.z_dim], generator=gen, device=device)
        loss.accumulate_gradients(phase=name, real_img=real, real_c=c, gen_z=z, gen_c=c, gain=gain, cur_nimg=0)
        module.requires_grad_(False)
        for p in module.parameters():
            if p.grad is not None:
                torch.nan_to_num(p.grad, nan=0, posinf=1e5, neginf=-1e5, out=p.grad)
        opt.step()

    def main_step() -> None:
        phase("Gmain", G_opt, G, 1)
        phase("Dmain", D_opt, D, 1)
        ema_update(G_ema, G)

    def dreg() -> None:
        phase("Dreg", D_opt, D, 16)

    def step(what: str):
        return progress.phase(label + what) if progress is not None else contextlib.nullcontext()

    G.requires_grad_(False)
    D.requires_grad_(False)
    with step(f"warm-up: {warmup} training step(s) and Dreg, batch {batch}"):
        for _ in range(warmup):
            main_step()
            dreg()
            sync(device)
    with step(f"timed training steps (at most {steps})"):
        main = time_call(main_step, device, repeats=steps, warmup=0, budget_s=budget_s)
    with step("timed Dreg"):
        reg = time_call(dreg, device, repeats=2 if warmup else 1, warmup=0, budget_s=budget_s / 4)
    step_s = main["median_s"] + reg["median_s"] / 16
    return dict(s_per_kimg=step_s / batch * 1000, step_s=step_s, main_s=main["median_s"], dreg_s=reg["median_s"],
                steps=main["runs"], batch=batch, env=main["env"])


def device_info(device: torch.device) -> dict:
    info = dict(device=str(device), torch=torch.__version__, cuda=torch.version.cuda, python=sys.version.split()[0],
                **timing.environment())
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["capability"] = ".".join(map(str, torch.cuda.get_device_capability(device)))
    return info


STANDBY = "--standby"  # the argument that starts a process as a standby (serve_standby)


def serve_standby(main: Callable[[list[str]], int], preload: Callable[[], None] | None = None) -> int:
    """The body of a standby process: it imports ahead (``preload``; torch is imported already), then waits for
    one line on stdin, a JSON object ``{"argv": [...], "env": {...}}``, and runs ``main(argv)`` with ``env``
    added to its environment. Ends quietly, running nothing, when stdin closes first.

    The report starts the process for the next section while the current one runs, so that a section's clock
    does not start with the interpreter, torch and the network code loading (seconds each time).
    """
    if preload is not None:
        preload()
    line = sys.stdin.readline()
    if not line.strip():
        return 0
    order = json.loads(line)
    os.environ.update({str(k): str(v) for k, v in (order.get("env") or {}).items()})
    return main(list(order["argv"]))


def write_json(path: str, data: object) -> None:
    def default(o):
        if isinstance(o, float) and not math.isfinite(o):
            return None
        return str(o)

    with open(path, "w") as f:
        json.dump(data, f, indent=1, default=default)
