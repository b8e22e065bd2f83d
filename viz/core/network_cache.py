"""The networks the renderer holds: loaded once per (pickle, device), least recently used dropped first."""

from __future__ import annotations

import contextlib
import os
from collections import OrderedDict
from dataclasses import dataclass

import torch

from networks.errors import UserError
from networks.stylegan3 import input_transform_of
from viz.core.render_types import DEFAULT_PKL, LayerInfo

__all__ = ['PRECISIONS', 'autocast', 'check_device', 'LoadedNetwork', 'NetworkCache']

PRECISIONS = {'float32': torch.float32, 'bfloat16': torch.bfloat16, 'float16': torch.float16}


def autocast(dev: torch.device, dtype: torch.dtype):
    """Mixed precision for bfloat16 / float16 requests; a no-op context for float32."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=dev.type, dtype=dtype)


def check_device(device: str) -> torch.device:
    """torch.device for `device`, or UserError saying why it cannot be used here."""
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise UserError(f'unknown device "{device}"') from exc
    if dev.type == 'cuda' and not torch.cuda.is_available():
        raise UserError(f'CUDA is not available here (torch {torch.__version__}'
                        f'{", built without CUDA" if torch.version.cuda is None else ""}); use the CPU',
                        option='device', value='cpu')
    if dev.type == 'mps' and not (hasattr(torch.backends, 'mps') and torch.backends.mps.is_available()):
        raise UserError('MPS is not available here; use the CPU', option='device', value='cpu')
    if dev.type not in ('cpu', 'cuda', 'mps'):
        raise UserError(f'unsupported device "{device}" (cpu, cuda or mps)')
    return dev


@dataclass
class LoadedNetwork:
    """A float32 generator in eval mode, what the GUI shows about it, and its layers once listed."""

    G: torch.nn.Module
    info: dict
    layers: tuple[LayerInfo, ...] | None = None
    limits: list[dict] | None = None  # every layer's frequency limits (analysis.aliasing.layer_limits), once read


class NetworkCache:
    """At most `max_networks` loaded networks, keyed by (pickle, device)."""

    def __init__(self, max_networks: int = 4) -> None:
        self._networks: OrderedDict[tuple, LoadedNetwork] = OrderedDict()
        self._max_networks = max_networks

    def get(self, pkl: str, device: str = 'cpu', precision: str = 'float32') -> LoadedNetwork:
        """The float32 network (reduced precisions run it under autocast)."""
        if precision not in PRECISIONS:
            raise UserError(f'unknown precision "{precision}" ({", ".join(PRECISIONS)})')
        key = (pkl, device)
        net = self._networks.get(key)
        if net is not None:
            self._networks.move_to_end(key)
            return net
        net = load(pkl, check_device(device))
        self._networks[key] = net
        while len(self._networks) > self._max_networks:
            self._networks.popitem(last=False)
        return net


def sg3_config(G: torch.nn.Module) -> str:
    """'T' or 'R' for a StyleGAN3 (R: 1x1 convolutions in every layer but ToRGB, as configured), '' otherwise."""
    names = getattr(G.synthesis, 'layer_names', None)
    if not hasattr(G.synthesis, 'input') or not names:
        return ''
    return 'R' if getattr(getattr(G.synthesis, names[0]), 'conv_kernel', 3) == 1 else 'T'


def load(pkl: str, dev: torch.device) -> LoadedNetwork:
    """The generator of `pkl` (or the built-in untrained one for DEFAULT_PKL) and its info dict; a shipped
    default network (networks/pretrained) is named by its card ('StyleGAN3-T 64x64, builtin:photos, 123 kimg')."""
    if pkl == DEFAULT_PKL:
        from viz.core.default_network import DEFAULT_NETWORK_NAME, build_default_generator

        G = build_default_generator(dev)
        name, untrained, default_key = DEFAULT_NETWORK_NAME, True, None
    else:
        from networks import load_generator, pretrained
        from viz.core.default_network import card_of_pickle

        card = card_of_pickle(pkl)
        if card is not None:  # a shipped default network: named by its card, loaded with its size check
            G = pretrained.load_card_generator(card, device=dev)
            name, untrained, default_key = pretrained.card_label(card), False, card['key']
        else:
            G = load_generator(pkl, device=dev)
            name, untrained, default_key = os.path.basename(pkl), False, None
    kind = 'StyleGAN3' if hasattr(G.synthesis, 'input') else 'StyleGAN2'
    info = dict(name=name, pkl=pkl, kind=kind, config=sg3_config(G), untrained=untrained, default_key=default_key,
                device=str(dev),
                precision='float32',
                resolution=int(G.img_resolution), num_ws=int(G.num_ws), z_dim=int(G.z_dim),
                c_dim=int(G.c_dim), w_dim=int(G.w_dim), has_noise=(kind == 'StyleGAN2'),
                has_transform=input_transform_of(G) is not None,
                num_params=int(sum(p.numel() for p in G.parameters())))
    return LoadedNetwork(G=G.eval().requires_grad_(False), info=info)
