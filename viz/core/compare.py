"""Side-by-side comparison of networks: the panes of one render (or one video frame) composed into one image.

Each pane holds its network's picture exactly as that network renders it alone with the same arguments; the
panes stand side by side under one strip that names each network, so a capture or a recording of the composed
image shows them all. Panes of different heights (networks of different resolutions, or layers of different
sizes) are brought to the tallest one's height: by whole-pixel repetition where the factor is whole, else by
nearest-neighbour resampling, so that no pane is blurred or filtered; a note says which panes were scaled and how.
A pane whose network could not be rendered is a plain grey tile (its reason goes into the notes).

Used by the renderer (`RenderArgs.compare_pkls`), headless mode and `python -m tools.gen_video --compare`.
"""

from __future__ import annotations

import os

import numpy as np

from networks.errors import UserError, printable
from viz.core.render_types import DEFAULT_PKL, MAX_COMPARE

__all__ = ['MAX_COMPARE', 'NOTE_PREFIX', 'GAP', 'FAILED_GREY', 'pane_name', 'failure_note', 'check_compare',
           'to_height', 'label_strip', 'compose_panes', 'pane_crop']

NOTE_PREFIX = 'compare: '  # every note the comparison adds to a render's messages starts with it
GAP = 2  # pixels of background between two panes
BACKGROUND = 24  # grey level of the label strip and the gaps (the GUI's dark theme)
FAILED_GREY = 128  # a pane whose network did not render


def pane_name(pkl: str) -> str:
    """What a pane's label says: the network's file name (the default network: 'default network'), printable."""
    if pkl == DEFAULT_PKL:
        return 'default network'
    return printable(os.path.basename(pkl.rstrip('/\\')) or pkl)


def failure_note(name: str, error: str) -> str:
    """The note of a pane whose network failed (the render's messages; headless reports it as an error)."""
    return f'{NOTE_PREFIX}{name} not shown (grey pane): {error}'


def check_compare(pkls) -> tuple[str, ...]:
    """`pkls` as compare_pkls, or UserError in one line: at most MAX_COMPARE non-empty paths."""
    pkls = tuple(pkls)
    if len(pkls) > MAX_COMPARE:
        raise UserError(f'compare with at most {MAX_COMPARE} other networks (three panes), got {len(pkls)}',
                        option='compare')
    if not all(isinstance(p, str) and p.strip() for p in pkls):
        raise UserError('a network to compare with must be a non-empty path', option='compare')
    return pkls


def to_height(img: np.ndarray, height: int) -> tuple[np.ndarray, str]:
    """`img` (HWC) brought to `height` rows: (image, how) where how is '' (unchanged), 'xK' (each pixel repeated
    K times both ways) or 'nearest' (nearest-neighbour rows and columns, the width scaled alike)."""
    h, w = img.shape[:2]
    if h == height:
        return img, ''
    if height % h == 0:
        k = height // h
        return np.repeat(np.repeat(img, k, axis=0), k, axis=1), f'x{k}'
    rows = np.arange(height) * h // height
    cols = np.minimum(np.arange(max(1, round(w * height / h))) * h // height, w - 1)
    return img[rows][:, cols], 'nearest'


MIN_FONT_PX = 8


def _font_px(height: int) -> int:
    """The label font for panes `height` pixels high: a tenth of them, in 8..24 px (the strip stays a small part
    of 32 px panes and readable above 1024 px ones)."""
    return int(min(max(MIN_FONT_PX, height // 10), 24))


def label_strip(widths: list[int], names: list[str], gap: int = GAP, font_px: int = 12) -> np.ndarray:
    """uint8 RGB strip naming each pane (light grey on the background): a name wider than its pane is written
    smaller (down to 8 px), then cut at the pane's edge."""
    import PIL.Image
    import PIL.ImageDraw

    from viz.core.tiles import caption_font

    height = font_px + 4
    total = sum(widths) + gap * (len(widths) - 1)
    strip = np.full((height, total, 3), BACKGROUND, np.uint8)
    x = 0
    for width, name in zip(widths, names):
        cell = PIL.Image.new('RGB', (width, height), (BACKGROUND,) * 3)
        draw = PIL.ImageDraw.Draw(cell)
        size = font_px
        font = caption_font(size)
        while size > MIN_FONT_PX and draw.textlength(name, font=font) > width - 3:
            size -= 1
            font = caption_font(size)
        draw.text((2, height / 2), name, fill=(225, 225, 225), font=font, anchor='lm')
        strip[:, x:x + width] = np.asarray(cell)
        x += width + gap
    return strip


def compose_panes(images: list[np.ndarray | None], names: list[str],
                  gap: int = GAP) -> tuple[np.ndarray, list[dict], list[str]]:
    """The panes side by side under their label strip: (image, boxes, notes).

    `images`: uint8 HWC, None for a pane whose network did not render (a grey square tile). `boxes[i]` says where
    pane i lies in the image (x, y, width, height), the size of its own picture (`source`: height, width) and how it
    was scaled (`scale`: '', 'xK' or 'nearest'). `notes` (at most one, prefixed NOTE_PREFIX) names the scaled panes."""
    if len(images) != len(names):
        raise ValueError(f'{len(images)} panes but {len(names)} names')
    shown = [img for img in images if img is not None]
    if not shown:
        raise ValueError('no pane to show')
    height = max(img.shape[0] for img in shown)
    panes, boxes, scaled = [], [], []
    for img, name in zip(images, names):
        if img is None:
            pane, how, source = np.full((height, height, 3), FAILED_GREY, np.uint8), '', None
        else:
            pane, how = to_height(np.asarray(img, np.uint8), height)
            source = tuple(int(s) for s in img.shape[:2])
            if how:
                scaled.append(f'{name} {img.shape[0]} px ' + (f'enlarged {how} (whole pixels)' if how != 'nearest'
                                                              else 'resampled (nearest neighbour)'))
        panes.append(pane)
        boxes.append(dict(width=int(pane.shape[1]), height=height, source=source, scale=how))
    font_px = _font_px(height)
    strip = label_strip([b['width'] for b in boxes], names, gap, font_px)
    parts, x = [], 0
    for i, (pane, box) in enumerate(zip(panes, boxes)):
        if i:
            parts.append(np.full((height, gap, 3), BACKGROUND, np.uint8))
        parts.append(pane)
        box.update(x=x, y=int(strip.shape[0]))
        x += box['width'] + gap
    image = np.ascontiguousarray(np.concatenate([strip, np.concatenate(parts, axis=1)], axis=0))
    notes = [f'{NOTE_PREFIX}panes shown {height} px high: {"; ".join(scaled)}'] if scaled else []
    return image, boxes, notes


def pane_crop(image: np.ndarray, box: dict) -> np.ndarray:
    """Pane `box` of a composed image at its own size (`box['source']`): an enlarged pane is undone by taking the
    first copy of each of its pixels (exact for both ways `to_height` enlarges), so it can be compared with the
    network's picture rendered alone."""
    crop = image[box['y']:box['y'] + box['height'], box['x']:box['x'] + box['width']]
    if box['scale'] and box['source'] is not None:
        (h, w), (height, width) = box['source'], crop.shape[:2]
        if height > h:  # the first target row (column) of source row i is ceil(i * height / h)
            crop = crop[-(-np.arange(h) * height // h)][:, np.minimum(-(-np.arange(w) * height // h), width - 1)]
    return crop
