"""viz.core.render_types: RenderArgs to and from plain data (what session files hold) and the layer presets of
directions ("coarse", "middle", "fine", "all", "a-b"). How the renderer draws the fields: test_renderer.py; how session
files keep and check them: test_session.py."""

from __future__ import annotations

import json

import pytest

from networks.errors import UserError
from viz.core.render_types import RenderArgs, args_from_dict, args_to_dict, layer_range


def test_args_round_trip_through_plain_data():
    args = RenderArgs(pkl='x.pkl', w0_seeds=((3, 0.25), (4, 0.75)), stylemix_idx=(1, 2), translate_x=0.1,
                      layer_name='L3_52_32', trunc_cutoff=4)
    data = json.loads(json.dumps(args_to_dict(args)))
    assert args_from_dict(data) == args
    hash(args_from_dict(data))
    with pytest.raises(ValueError, match='unknown render settings: bogus'):
        args_from_dict({'bogus': 1})


def test_layer_presets() -> None:
    assert layer_range('coarse', 18) == (0, 4) and layer_range('middle', 18) == (4, 8)
    assert layer_range('fine', 18) == (8, 18) and layer_range('all', 16) == (0, 16)
    assert layer_range('2-4', 16) == (2, 5) and layer_range('10-99', 12) == (10, 12)
    for bad in ('5-2', 'top', '1-'):
        with pytest.raises(UserError):
            layer_range(bad, 16)
