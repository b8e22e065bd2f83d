"""Converting images into a training dataset (NVlabs layout: `00000/img00000000.png` + `dataset.json`).

The logic behind `python -m tools.dataset_tool`: sources (folder, zip, single image, `builtin:photos`),
transforms, and the writer. Bad sources or options raise UserError (one line in a CLI).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import PIL.Image
from tqdm import tqdm

from networks.errors import UserError
from networks.image_io import ImageReadError, read_image
from training.dataset import (
    IMAGE_EXTENSIONS,
    ZIP_ERRORS,
    _is_power_of_two,
    _reason,
    check_source_path,
    dataset_json_labels,
    label_table,
    open_zip,
    parse_labels,
    read_dataset_json_file,
    read_zip_member,
)

TRANSFORMS = ('center-crop', 'center-crop-wide', 'random-crop')
MAX_SOURCE_PIXELS = 64 * 1024 * 1024   # 8192 x 8192: a source image larger than this is skipped as unreadable

# The photographs behind builtin:photos: (name, loader, licence). All ship with the installed packages.
BUILTIN_PHOTOS = (
    ('astronaut', 'skimage', 'public domain (NASA; Eileen Collins)'),
    ('coffee', 'skimage', 'CC0 (Rachel Michetti, courtesy of Pikolo Espresso Bar)'),
    ('chelsea', 'skimage', 'CC0 (Stefan van der Walt)'),
    ('rocket', 'skimage', 'public domain (SpaceX, DSCOVR launch)'),
    ('hubble_deep_field', 'skimage', 'public domain (NASA / HubbleSite)'),
    ('china.jpg', 'sklearn', 'CC BY 2.0 (danielbuechele on Flickr)'),
    ('flower.jpg', 'sklearn', 'CC BY 2.0 (vultilion on Flickr)'),
)


@dataclass
class SourceItem:
    name: str                           # for messages and the label lookup
    load: Callable[[], PIL.Image.Image]
    label: object = None                # int class or list of floats, or None


# ------------------------------------------------------------------------------------------------------
# Sources

def _read_source_image(source, name: str) -> PIL.Image.Image:
    # L and RGB stay as they are, every other mode becomes RGB; ImageReadError for anything that is not one.
    return read_image(source, name=name, mode=('RGB', 'L'), max_pixels=MAX_SOURCE_PIXELS)


def _labels_from_json(data: bytes | None, fnames: list[str], where: str) -> dict:
    """{file name: label} for the images of `fnames` that dataset.json labels, checked as training checks them."""
    if data is None:
        return {}
    labels = dataset_json_labels(data, where)
    if not labels:
        return {}
    table = label_table(labels, where)
    labelled = [f for f in fnames if f in table]
    if labelled:
        parse_labels(table, labelled, where)   # every label an integer class or a list of finite numbers
    return {f: table[f] for f in labelled}


def _folder_source(path: str) -> list[SourceItem]:
    fnames = sorted(os.path.relpath(os.path.join(root, f), path).replace(os.sep, '/')
                    for root, _dirs, files in os.walk(path) for f in files if f.lower().endswith(IMAGE_EXTENSIONS))
    json_path = os.path.join(path, 'dataset.json')
    where = f'{path!r}: dataset.json'
    labels = _labels_from_json(read_dataset_json_file(json_path, where) if os.path.lexists(json_path) else None,
                               fnames, where)

    def loader(fname):
        return lambda: _read_source_image(os.path.join(path, fname), fname)
    return [SourceItem(f, loader(f), labels.get(f)) for f in fnames]


def _zip_source(path: str) -> list[SourceItem]:
    zf = open_zip(path)
    names = set(zf.namelist())
    fnames = sorted(f for f in names if f.lower().endswith(IMAGE_EXTENSIONS))
    where = f'{path!r}: dataset.json'
    labels = _labels_from_json(read_zip_member(zf, 'dataset.json', where) if 'dataset.json' in names else None,
                               fnames, where)

    def loader(fname):
        def load():
            try:
                with zf.open(fname) as member:   # read through the reader's byte cap, not all at once
                    return _read_source_image(member, fname)
            except ImageReadError:
                raise
            except ZIP_ERRORS as e:   # a damaged, encrypted or unsupported member: this image is unreadable
                raise ImageReadError(fname, _reason(e)) from None
        return load
    return [SourceItem(f, loader(f), labels.get(f)) for f in fnames]


def load_builtin_photos() -> list[tuple[str, np.ndarray]]:
    """The built-in photographs as (name, HWC uint8 RGB array)."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    sklearn_images = load_sample_images()
    sklearn_by_name = {os.path.basename(f): img for f, img in zip(sklearn_images.filenames, sklearn_images.images)}
    photos = []
    for name, package, _licence in BUILTIN_PHOTOS:
        image = getattr(skimage.data, name)() if package == 'skimage' else sklearn_by_name[name]
        photos.append((name, np.ascontiguousarray(image[:, :, :3])))
    return photos


def random_photo_crop(photo: np.ndarray, rng: np.random.Generator, max_rotation: float = 45.0,
                      min_scale: float = 0.2, max_scale: float = 0.7) -> PIL.Image.Image:
    """A square crop at a random rotation, scale (as a fraction of the short side) and position, kept inside."""
    height, width = photo.shape[:2]
    angle = np.deg2rad(rng.uniform(-max_rotation, max_rotation))
    cos, sin = np.cos(angle), np.sin(angle)
    extent = abs(cos) + abs(sin)                                     # bounding box of a rotated unit square
    side = min(height, width) * np.exp(rng.uniform(np.log(min_scale), np.log(max_scale)))
    side = min(side, min(height, width) / extent * 0.999)
    half_box = side * extent / 2
    cx = rng.uniform(half_box, width - half_box)
    cy = rng.uniform(half_box, height - half_box)
    out = int(np.ceil(side))
    # PIL's affine maps output (x, y) to input: centre + R(angle) @ ((x, y) - out/2) * side/out
    k = side / out
    coeffs = (k * cos, -k * sin, cx - k * (cos - sin) * out / 2,
              k * sin, k * cos, cy - k * (sin + cos) * out / 2)
    return PIL.Image.fromarray(photo).transform((out, out), PIL.Image.Transform.AFFINE, coeffs,
                                                resample=PIL.Image.Resampling.BICUBIC)


def _builtin_photos_source(count: int, seed: int) -> list[SourceItem]:
    photos = load_builtin_photos()
    rng = np.random.default_rng(seed)
    choice = rng.integers(0, len(photos), size=count)   # each photograph equally often
    crop_seeds = rng.integers(0, 2**63 - 1, size=count)

    def loader(i):
        return lambda: random_photo_crop(photos[choice[i]][1], np.random.default_rng(crop_seeds[i]))
    return [SourceItem(f'{photos[choice[i]][0]}#{i}', loader(i), int(choice[i])) for i in range(count)]


def _single_image_source(path: str, count: int) -> list[SourceItem]:
    # One large image: `count` items, each re-read and cropped by the transform (random-crop gives distinct crops).
    return [SourceItem(f'{os.path.basename(path)}#{i}', lambda: _read_source_image(path, os.path.basename(path)))
            for i in range(count)]


def open_source(source: str, count: int | None, seed: int) -> list[SourceItem]:
    if source == 'builtin:photos':
        return _builtin_photos_source(count or 1000, seed)
    if source.startswith('builtin:'):
        raise UserError(f'Unknown built-in source {source!r}; the only one is builtin:photos')
    check_source_path(source, 'Source')   # a FIFO or a device would block or never end
    if os.path.isdir(source):
        return _folder_source(source)
    if os.path.isfile(source) and source.lower().endswith('.zip'):
        return _zip_source(source)
    if os.path.isfile(source) and source.lower().endswith(IMAGE_EXTENSIONS):
        return _single_image_source(source, count or 1)
    raise UserError(f'Source not found or not supported: {source!r} (a folder, a .zip, an image file, '
                           'or builtin:photos)')


# ------------------------------------------------------------------------------------------------------
# Transforms

def parse_resolution(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        width, height = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise UserError(f'resolution must look like 256x256, got {text!r}', option='resolution') from None
    return width, height


def make_transform(transform: str | None, resolution: tuple[int, int] | None,
                   rng: np.random.Generator) -> Callable[[PIL.Image.Image], PIL.Image.Image]:
    """A function from a PIL image to the output image (size checks happen afterwards)."""
    def resize(img, width, height):
        if img.size == (width, height):
            return img
        return img.resize((width, height), PIL.Image.Resampling.LANCZOS)

    if transform is None:
        return (lambda img: img) if resolution is None else (lambda img: resize(img, *resolution))
    if resolution is None:
        raise UserError(f'transform {transform} needs a resolution', option='resolution', value='WxH')
    width, height = resolution

    if transform == 'center-crop':
        def center_crop(img):
            side = min(img.size)
            left, top = (img.size[0] - side) // 2, (img.size[1] - side) // 2
            return resize(img.crop((left, top, left + side, top + side)), width, height)
        return center_crop
    if transform == 'center-crop-wide':
        def center_crop_wide(img):
            # Crop to the aspect of width x height, then pad to a square canvas of side `width`.
            w, h = img.size
            ch = min(h, w * height // width)
            cw = ch * width // height
            left, top = (w - cw) // 2, (h - ch) // 2
            img = resize(img.crop((left, top, left + cw, top + ch)), width, height)
            canvas = PIL.Image.new(img.mode, (width, width))
            canvas.paste(img, (0, (width - height) // 2))
            return canvas
        return center_crop_wide
    if transform == 'random-crop':
        def random_crop(img):
            side = int(min(img.size) * rng.uniform(0.5, 1.0))
            left = int(rng.integers(0, img.size[0] - side + 1))
            top = int(rng.integers(0, img.size[1] - side + 1))
            return resize(img.crop((left, top, left + side, top + side)), width, height)
        return random_crop
    raise UserError(f'Unknown transform {transform!r}; choose from {", ".join(TRANSFORMS)}', option='transform')


# ------------------------------------------------------------------------------------------------------
# Writers

class _Writer:
    def __init__(self, dest: str):
        self.dest = dest
        if dest.lower().endswith('.zip'):
            os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
            self.zip = zipfile.ZipFile(dest + '.tmp', 'w', compression=zipfile.ZIP_STORED)
        else:
            if os.path.isdir(dest) and os.listdir(dest):
                raise UserError(f'dest folder {dest!r} is not empty', option='dest')
            self.created = not os.path.isdir(dest)
            os.makedirs(dest, exist_ok=True)
            self.zip = None
            self.written: list[str] = []

    def write(self, fname: str, data: bytes) -> None:
        if self.zip is not None:
            self.zip.writestr(fname, data)
        else:
            os.makedirs(os.path.dirname(os.path.join(self.dest, fname)), exist_ok=True)
            self.written.append(os.path.join(self.dest, fname))
            with open(os.path.join(self.dest, fname), 'wb') as f:
                f.write(data)

    def close(self, ok: bool = True) -> None:
        if self.zip is not None:
            self.zip.close()
            if ok:
                os.replace(self.dest + '.tmp', self.dest)   # the zip appears only when complete
            else:
                os.remove(self.dest + '.tmp')
        elif not ok:   # a failed run leaves nothing behind: the folder it made, or the files it wrote
            if self.created:
                shutil.rmtree(self.dest, ignore_errors=True)
            else:
                for path in self.written:
                    try:
                        os.remove(path)
                    except OSError:
                        pass
                for folder in sorted({os.path.dirname(p) for p in self.written} - {self.dest}, reverse=True):
                    try:
                        os.rmdir(folder)   # only when empty
                    except OSError:
                        pass


def _iter_items(items: list[SourceItem], max_images: int | None) -> Iterator[tuple[int, SourceItem]]:
    for i, item in enumerate(items):
        if max_images is not None and i >= max_images:
            return
        yield i, item


def convert_dataset(source: str, dest: str, resolution: str | None = None, transform: str | None = None,
                    max_images: int | None = None, count: int | None = None, seed: int = 0,
                    on_error: str = 'skip', progress: bool = True, log=print) -> dict:
    """Convert `source` into a dataset at `dest`; returns dict(written, skipped=[(name, reason)], resolution)."""
    if on_error not in ('skip', 'stop'):
        raise UserError(f'on-error must be skip or stop, got {on_error!r}', option='on_error')
    size = parse_resolution(resolution)
    if size is not None and (size[0] != size[1] or not _is_power_of_two(size[0])):
        if transform != 'center-crop-wide' or not _is_power_of_two(size[0]) or size[1] > size[0]:
            raise UserError(f'resolution {resolution}: training needs square images with a power-of-two '
                            'side (e.g. 256x256); wide images need a resolution such as 256x128 and the '
                            'transform center-crop-wide', option=('resolution', 'transform'))
    if source.startswith('builtin:') and size is None:
        raise UserError(f'{source} needs a resolution, e.g. 64x64', option='resolution')
    items = open_source(source, count, seed)
    if not items:
        raise UserError(f'No images found in {source!r}')
    apply_transform = make_transform(transform, size, np.random.default_rng(seed))

    writer = _Writer(dest)
    labels, skipped = [], []
    shape = None
    ok = False
    total = len(items) if max_images is None else min(max_images, len(items))
    try:
        for _i, item in tqdm(_iter_items(items, max_images), total=total, disable=not progress, unit='img'):
            reason = None
            try:
                img = apply_transform(item.load())   # L or RGB
                image = np.array(img)
            except ImageReadError as e:
                reason = f'unreadable ({e.reason})'
            except (OSError, ValueError) as e:   # the transform of a degenerate image, a zip member's I/O
                reason = f'unreadable ({e})'
            if reason is None:
                channels = 1 if image.ndim == 2 else image.shape[2]
                if shape is None:
                    width, height = image.shape[1], image.shape[0]
                    if width != height or not _is_power_of_two(width):
                        raise UserError(
                            f'Images are {width}x{height} after the transform; training needs square power-of-two '
                            'images: give a resolution such as 256x256 and the transform center-crop',
                            option=('resolution', 'transform'))
                    shape = (image.shape[0], image.shape[1], channels)
                elif channels == 3 and shape[2] == 1:
                    reason = 'colour image in a grayscale dataset'
                elif image.shape[:2] != shape[:2]:
                    reason = (f'size {image.shape[1]}x{image.shape[0]} differs from {shape[1]}x{shape[0]} '
                              '(a resolution with a transform makes them one size)')
                if reason is None and channels == 1 and shape[2] == 3:
                    image = np.repeat(image[:, :, np.newaxis], 3, axis=2)
            if reason is not None:
                if on_error == 'stop':
                    raise UserError(f'{item.name}: {reason}; skip such images', option='on_error', value='skip')
                skipped.append((item.name, reason))
                continue
            index = len(labels)
            fname = f'{index // 1000:05d}/img{index:08d}.png'
            buf = io.BytesIO()
            PIL.Image.fromarray(image).save(buf, format='png', compress_level=1)
            writer.write(fname, buf.getvalue())
            labels.append([fname, item.label] if item.label is not None else None)
        if not labels:
            raise UserError(f'No usable images in {source!r} ({len(skipped)} skipped)')
        has_labels = all(entry is not None for entry in labels)
        writer.write('dataset.json', json.dumps({'labels': labels if has_labels else None}).encode())
        ok = True
    finally:
        writer.close(ok)
    for name, reason in skipped:
        log(f'skipped {name}: {reason}')
    log(f'wrote {len(labels)} images of {shape[1]}x{shape[0]}x{shape[2]} to {dest}'
        + (f'; skipped {len(skipped)}' if skipped else ''))
    return dict(written=len(labels), skipped=skipped, resolution=shape[0])
