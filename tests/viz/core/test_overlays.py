"""viz.core.overlays: the frequency-limit circles drawn on a layer's FFT come from the layer's own attributes and
land at the right radius."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.tiny_networks import tiny_generator


@pytest.mark.parametrize('kind', ['sg3', 'sg3r'])
def test_circles_are_the_layers_attributes(kind):
    from analysis.aliasing import layer_limits
    from viz.core.overlays import LIMIT_COLOURS, limit_circles, shown_limits

    G = tiny_generator(kind, 32, seed=0)
    rows = layer_limits(G)
    for name in G.synthesis.layer_names:
        layer = getattr(G.synthesis, name)
        row = shown_limits(rows, name, int(layer.out_size[0]))
        half = layer.out_sampling_rate / 2
        got = {(colour, dashed): frac * half for frac, colour, dashed, _ in limit_circles(row)}
        want = {
            (LIMIT_COLOURS['cutoff'], False): layer.out_cutoff,
            (LIMIT_COLOURS['stopband'], False): layer.out_cutoff + layer.out_half_width,
            (LIMIT_COLOURS['half_rate'], False): layer.out_sampling_rate / 2,
            (LIMIT_COLOURS['cutoff'], True): layer.in_cutoff,
            (LIMIT_COLOURS['stopband'], True): layer.in_cutoff + layer.in_half_width,
            (LIMIT_COLOURS['half_rate'], True): layer.in_sampling_rate / 2,
        }
        assert got.keys() == want.keys(), name
        for key, value in want.items():
            assert got[key] == pytest.approx(float(value), rel=1e-9), (name, key)
    # the output image is the last layer's map: its limits
    last = getattr(G.synthesis, G.synthesis.layer_names[-1])
    assert shown_limits(rows, None, 32)['out_cutoff'] == pytest.approx(float(last.out_cutoff))


def test_stylegan2_and_unknown_maps_get_their_own_half_rate_only():
    from analysis.aliasing import layer_limits
    from viz.core.overlays import LIMIT_COLOURS, limit_circles, shown_limits

    G = tiny_generator('sg2', 32, seed=0)
    rows = layer_limits(G)
    for name, width in (('b16.conv0', 16), ('b8:0', 8), (None, 32)):
        circles = limit_circles(shown_limits(rows, name, width))
        out = [c for c in circles if not c[2]]
        assert [(c[0], c[1]) for c in out] == [(1.0, LIMIT_COLOURS['half_rate'])], name
    # a map the network says nothing about: its own width's s/2, the square's edge
    assert limit_circles(shown_limits(None, 'mystery', 24)) == [(1.0, LIMIT_COLOURS['half_rate'], False, 's/2 out 12')]


def test_a_circle_is_drawn_at_its_radius_around_the_dc_bin():
    from viz.core.overlays import draw_limit_circles

    bins, factor = 16, 4
    rgb = np.zeros((bins * factor, bins * factor, 3), np.uint8)
    colour = (10, 200, 30)
    out = draw_limit_circles(rgb, [(0.5, colour, False, '')], bins)
    assert not rgb.any()  # a copy
    centre = (bins // 2 + 0.5) * factor - 0.5  # 33.5: the middle of the DC bin (bin 8 of 16 after the shift)
    radius = 0.5 * bins / 2 * factor  # f = s/4: half way to the square's edge, 16 px
    yy, xx = np.mgrid[0:bins * factor, 0:bins * factor]
    dist = np.hypot(xx - centre, yy - centre)
    drawn = (out == colour).all(axis=2)
    assert drawn.any() and np.all(np.abs(dist[drawn] - radius) <= 0.75)
    assert not drawn[np.abs(dist - radius) > 0.75].any()
    # every direction is covered: a solid circle crosses each ray from the centre
    for a in np.linspace(0, 2 * math.pi, 24, endpoint=False):
        x, y = centre + radius * math.cos(a), centre + radius * math.sin(a)
        near = drawn[max(int(y) - 1, 0):int(y) + 2, max(int(x) - 1, 0):int(x) + 2]
        assert near.any(), a
    from viz.core.overlays import HALO

    grey = np.full_like(rgb, 128)  # the halo is black: visible on a grey spectrum
    on_grey = draw_limit_circles(grey, [(0.5, colour, False, '')], bins)
    halo = (on_grey == HALO).all(axis=2)
    assert halo.any() and np.all(np.abs(dist[halo] - radius) <= 1.75) and not (halo & drawn).any()
    assert np.all(on_grey[np.abs(dist - radius) > 1.75] == 128)  # nothing else touched
    dashed = (draw_limit_circles(rgb, [(0.5, colour, True, '')], bins) == colour).all(axis=2)
    assert 0.3 < dashed.sum() / drawn.sum() < 0.7  # about half the ring


def test_legend_names_the_limits_in_their_colours():
    from viz.core.overlays import LIMIT_COLOURS, draw_legend

    rgb = np.zeros((256, 256, 3), np.uint8)
    circles = [(0.4, LIMIT_COLOURS['cutoff'], False, ''), (1.0, LIMIT_COLOURS['half_rate'], True, '')]
    out = draw_legend(rgb, circles)
    corner = out[:40, :160].reshape(-1, 3)
    # text in the cutoff's colour (antialiased: its exact colour somewhere), none in the stopband's
    assert (corner == LIMIT_COLOURS['cutoff']).all(axis=1).any()
    assert not (corner == LIMIT_COLOURS['stopband']).all(axis=1).any()
    assert not out[128:, 128:].any()  # only the corner is touched
    assert draw_legend(rgb, []) is rgb
