"""Running the synthesis network with forward hooks: one layer's output, or the list of every layer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from networks.errors import UserError
from networks.stylegan2 import noise_buffers, replaced_noise_buffers
from viz.core.render_types import LayerInfo

__all__ = ['OUTPUT_LAYER', 'run_synthesis', 'list_layers', 'given_noise']

OUTPUT_LAYER = 'output'  # NVlabs' name of the synthesis output in the layer list


class _CaptureDone(Exception):
    """Raised by a forward hook to stop synthesis once the requested layer has been captured."""


def run_synthesis(G: torch.nn.Module, ws: torch.Tensor, noise_mode: str = 'const', noise_seed: int = 0,
                  capture_layer: str | None = None) -> torch.Tensor:
    """G.synthesis(ws); with `capture_layer`, the output of that submodule (synthesis stops there)."""
    captured: list = []
    handle = None
    if capture_layer is not None:
        base, _, index = capture_layer.partition(':')
        module = dict(G.synthesis.named_modules()).get(base)
        if module is None:
            raise UserError(f'no layer "{capture_layer}"')

        def hook(_module, _inputs, output):
            if isinstance(output, (tuple, list)):
                output = output[int(index or 0)]
            captured.append(output)
            raise _CaptureDone

        handle = module.register_forward_hook(hook)
    try:
        with torch.random.fork_rng(devices=[] if ws.device.type == 'cpu' else [ws.device]):
            torch.manual_seed(noise_seed)
            try:
                out = G.synthesis(ws, noise_mode=noise_mode)
            except _CaptureDone:
                out = captured[0]
    finally:
        if handle is not None:
            handle.remove()
    return out


@contextmanager
def given_noise(G: torch.nn.Module, maps: dict[str, torch.Tensor]) -> Iterator[None]:
    """Within the block, ``G``'s named noise_const buffers are ``maps`` (noise_mode 'const' then uses them);
    afterwards the network's own buffers are back. Every map must name a buffer of ``G`` and have its shape:
    :class:`UserError` otherwise (the maps belong to another network)."""
    have = noise_buffers(G)
    unknown = sorted(set(maps) - set(have))
    if unknown:
        raise UserError(f'noise maps {unknown[:3]} do not belong to this network')
    wrong = [k for k, v in maps.items() if tuple(v.shape) != tuple(have[k].shape)]
    if wrong:
        raise UserError(f'noise map {wrong[0]} is {list(maps[wrong[0]].shape)}, the network\'s is '
                        f'{list(have[wrong[0]].shape)}')
    with replaced_noise_buffers(G, {name: value.to(have[name].device, have[name].dtype)
                                    for name, value in maps.items()}):
        yield


def list_layers(G: torch.nn.Module, device: torch.device) -> tuple[LayerInfo, ...]:
    """(name, shape, dtype) of every 4-D activation in the synthesis network, in execution order, and last
    NVlabs' `output` entry (the synthesis output, the image the renderer shows without a layer).

    Tuple outputs (StyleGAN2 blocks return x and img) are listed as "name:0", "name:1".
    """
    found: list[LayerInfo] = []
    seen: set[str] = set()
    handles = []

    def make_hook(name):
        def hook(_module, _inputs, output):
            outs = [(name, output)] if isinstance(output, torch.Tensor) else [
                (f'{name}:{i}', o) for i, o in enumerate(output) if isinstance(o, torch.Tensor)] \
                if isinstance(output, (tuple, list)) else []
            for n, o in outs:
                if o.ndim == 4 and n not in seen:
                    seen.add(n)
                    found.append(LayerInfo(name=n, shape=tuple(int(s) for s in o.shape), dtype=str(o.dtype)
                                           .replace('torch.', '')))
        return hook

    for name, module in G.synthesis.named_modules():
        if name:
            handles.append(module.register_forward_hook(make_hook(name)))
    try:
        ws = G.mapping.w_avg.to(device, torch.float32)[None, None].repeat(1, G.num_ws, 1)
        out = run_synthesis(G, ws)
    finally:
        for h in handles:
            h.remove()
    if isinstance(out, (tuple, list)):
        out = out[0]
    found.append(LayerInfo(name=OUTPUT_LAYER, shape=tuple(int(s) for s in out.shape),
                           dtype=str(out.dtype).replace('torch.', '')))
    return tuple(found)
