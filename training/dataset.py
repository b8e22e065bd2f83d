"""Image datasets for training and metrics: a zip or folder of PNG/JPEG images in the NVlabs layout.

Labels, when present, come from a `dataset.json` at the root: `{"labels": [["00000/img00000000.png", 3], ...]}`
(an integer class becomes a one-hot vector; a list is used as a float vector). Images and labels are checked
when the dataset opens; see `ImageFolderDataset` for images that fail later. `InfiniteSampler` yields a
deterministic, resumable stream of indices for the training loop.
"""

from __future__ import annotations

import json
import math
import os
import stat
import zipfile
import zlib
from collections.abc import Iterator

import numpy as np
import torch

from networks.errors import UserError
from networks.file_io import FileReadError, parse_json, read_bytes
from networks.image_io import ImageReadError, read_image, read_image_info

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.webp', '.ppm', '.tif', '.tiff')


BAD_IMAGE_MODES = ('stop', 'skip')
MAX_HEADER_PIXELS = 64 * 1024 * 1024   # a header declaring more (beyond 8192 x 8192) is refused at open
MAX_LABEL_DIM = 100_000   # classes or label-vector length: the one-hot/label arrays stay small
MAX_LABEL_ENTRIES = 10_000_000   # [file name, label] pairs in dataset.json (ImageNet has 1.3 million images)
MAX_DATASET_JSON_BYTES = 256 << 20   # dataset.json (NVlabs' FFHQ labels take a few MiB)
# What zipfile raises for a damaged or unsupported archive or member: not a zip, truncated, bad CRC (BadZipFile),
# an unsupported compression method (NotImplementedError), an encrypted member (RuntimeError), corrupt deflate
# data (zlib.error), a member cut short (EOFError), and I/O errors.
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, zlib.error, EOFError,
              OSError, ValueError, KeyError)


# The command that makes a dataset, for the hint of an error about a missing or unreadable one.
_MAKE_DATASET = 'tools.dataset_tool --source ... --dest NEW.zip'


class DatasetError(UserError, ValueError):
    """A dataset that cannot be used for training, with a one-line explanation and a hint."""


class _BadImage(Exception):
    """One image cannot be read; turned into a DatasetError or a skip by the caller."""


def _reason(e: BaseException) -> str:
    text = ' '.join(str(e).split())
    return f'{type(e).__name__}: {text}' if text else type(e).__name__


def _channels_of_mode(mode: str) -> int:
    # As _decode: L stays one channel, RGB/RGBA (alpha dropped) and everything else (converted to RGB) are three.
    return 1 if mode == 'L' else 3


def _max_file_bytes(channels: int, height: int, width: int) -> int:
    # An image file is never much larger than its raw pixels (uncompressed BMP/TIFF with alpha): anything bigger
    # is a bomb or junk; this caps what one read may pull into memory.
    return 4 * (channels + 1) * height * width + (1 << 20)


def check_source_path(path: str, what: str = 'Dataset') -> None:
    """Refuse, before anything opens it, a path that is neither a folder nor a regular file (a FIFO, a device,
    a socket, or a symlink to one): reading those could block forever or never end."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return   # the callers report a missing path in their own words
    except (OSError, ValueError) as e:
        raise DatasetError(f'{what} {path!r} cannot be read: {_reason(e)}') from None
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        raise DatasetError(f'{what} {path!r} is not a regular file or a folder (a FIFO, a device or a socket)')


def open_zip(path: str) -> zipfile.ZipFile:
    """The zip file `path`, or one DatasetError if it is not a readable zip."""
    check_source_path(path)
    try:
        return zipfile.ZipFile(path)
    except ZIP_ERRORS as e:
        raise DatasetError(f'Dataset {path!r} is not a readable zip file ({_reason(e)}); make one',
                           hint_command=_MAKE_DATASET) from None


def read_zip_member(zf: zipfile.ZipFile, name: str, where: str, max_bytes: int = MAX_DATASET_JSON_BYTES) -> bytes:
    """The bytes of member `name` (at most `max_bytes`), or one DatasetError for a damaged or unsupported member."""
    try:
        size = zf.getinfo(name).file_size
        if size > max_bytes:
            raise DatasetError(f'{where} cannot be read: {size} bytes, more than the {max_bytes} allowed')
        with zf.open(name) as member:
            data = member.read(max_bytes + 1)
    except DatasetError:
        raise
    except ZIP_ERRORS as e:
        raise DatasetError(f'{where} cannot be read: {_reason(e)}') from None
    if len(data) > max_bytes:
        raise DatasetError(f'{where} cannot be read: more than the {max_bytes} bytes allowed')
    return data


def read_dataset_json_file(path: str, where: str) -> bytes:
    """The bytes of a folder's dataset.json: a regular file of at most MAX_DATASET_JSON_BYTES, else DatasetError."""
    try:
        return read_bytes(path, max_bytes=MAX_DATASET_JSON_BYTES, what='dataset file', name=where)
    except FileReadError as e:
        raise DatasetError(f'{where} cannot be read: {e.reason}') from None


def dataset_json_labels(data: bytes, where: str) -> object:
    """The `labels` value of dataset.json's bytes (None when absent or null); DatasetError for anything that is
    not a JSON object (invalid, not UTF-8, nested too deeply, numbers beyond float range)."""
    try:
        meta = parse_json(data, name=where, what='dataset file')
    except FileReadError as e:
        raise DatasetError(f'{where} cannot be read: {e.reason}') from None
    if not isinstance(meta, dict):
        raise DatasetError(f'{where} must hold an object {{"labels": [...]}}, found {type(meta).__name__}')
    return meta.get('labels')


def label_table(labels: object, where: str = 'dataset.json') -> dict[str, object]:
    """dataset.json's `labels` (a list of `[file name, label]` pairs, or an object) -> {file name: label}; the
    labels themselves are checked by `parse_labels`."""
    if isinstance(labels, dict):
        pairs = list(labels.items())
    elif isinstance(labels, list):
        pairs = labels
    else:
        raise DatasetError(f'{where}: "labels" must be a list of [file name, label] pairs, '
                           f'found {type(labels).__name__}')
    if len(pairs) > MAX_LABEL_ENTRIES:
        raise DatasetError(f'{where}: {len(pairs)} labels, more than the {MAX_LABEL_ENTRIES} allowed')
    table = {}
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, list | tuple) and len(pair) == 2 and isinstance(pair[0], str)):
            raise DatasetError(f'{where}: label entry {i} must be a [file name, label] pair, found {_short(pair)}')
        table[pair[0]] = pair[1]
    return table


def parse_labels(labels: object, image_fnames: list[str], where: str = 'dataset.json') -> np.ndarray:
    """`labels` from dataset.json -> int64 [N] classes or float32 [N, D] vectors, in the order of `image_fnames`.

    Accepted: a list of `[file name, label]` pairs (or an object mapping names to labels) where every label is an
    integer class 0 <= c < 100000, or every label is a flat list of D <= 100000 finite numbers. Anything else
    (strings, nesting, non-integer or negative classes, mixed kinds, missing images) is one DatasetError.
    """
    table = label_table(labels, where)
    missing = [f for f in image_fnames if f not in table]
    if missing:
        raise DatasetError(f'{where} has no label for {len(missing)} of {len(image_fnames)} images, '
                           f'e.g. {missing[0]!r}')
    values = [table[f] for f in image_fnames]
    first = values[0]
    if _is_int(first):
        for fname, value in zip(image_fnames, values):
            if not _is_int(value):
                raise DatasetError(f'{where}: the label of {fname!r} is {_short(value)}; with integer classes '
                                   'elsewhere every label must be an integer class')
            if not 0 <= value < MAX_LABEL_DIM:
                raise DatasetError(f'{where}: the label of {fname!r} is class {value}; classes must be integers '
                                   f'from 0 to {MAX_LABEL_DIM - 1}')
        return np.array(values, dtype=np.int64)
    if isinstance(first, list):
        dim = len(first)
        if not 0 < dim <= MAX_LABEL_DIM:
            raise DatasetError(f'{where}: the label of {image_fnames[0]!r} has {dim} numbers; label vectors need '
                               f'1 to {MAX_LABEL_DIM}')
        for fname, value in zip(image_fnames, values):
            if not isinstance(value, list) or len(value) != dim:
                raise DatasetError(f'{where}: the label of {fname!r} is {_short(value)}; every label must be a '
                                   f'list of {dim} numbers like the first')
            if not all(_is_number(x) for x in value):
                raise DatasetError(f'{where}: the label of {fname!r} is {_short(value)}; label vectors must hold '
                                   'finite numbers only (no strings, no nesting)')
        return np.array(values, dtype=np.float32)
    kind = 'a non-integer number' if isinstance(first, float) else _short(first)
    raise DatasetError(f'{where}: the label of {image_fnames[0]!r} is {kind}; a label must be an integer class '
                       f'(0 to {MAX_LABEL_DIM - 1}) or a list of numbers')


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _short(value: object) -> str:
    text = json.dumps(value) if isinstance(value, str | int | float | list | dict | bool | None) else repr(value)
    return text if len(text) <= 40 else text[:37] + '...'


def _is_power_of_two(n: int) -> bool:
    return n > 0 and (n & (n - 1)) == 0


def image_to_chw(image: np.ndarray) -> np.ndarray:
    """HW or HWC uint8 -> CHW uint8 (alpha dropped)."""
    if image.ndim == 2:
        image = image[:, :, np.newaxis]
    if image.shape[2] == 4:
        image = image[:, :, :3]
    return np.ascontiguousarray(image.transpose(2, 0, 1))


class ImageFolderDataset(torch.utils.data.Dataset):
    """A zip file or a directory tree of images, all square with a power-of-two side and the same channel count.

    `__getitem__(i)` returns `(image uint8 [C, H, W], label float32 [label_dim])`. With `xflip=True` the
    dataset doubles in size: indices past the original ones return horizontally mirrored images.

    Opening checks every image's header (size, mode; PIL reads headers only) and, with `use_labels`, every label,
    so a bad dataset fails at once with one `DatasetError` line. An image whose pixels cannot be decoded later on
    either raises a `DatasetError` naming it (`bad_images='stop'`) or is replaced by the next good image in file
    order, deterministically, and remembered in `bad_images_seen` (`bad_images='skip'`); images whose header is
    unreadable are then left out at open (`skipped_at_open`).
    """

    def __init__(self, path: str, resolution: int | None = None, use_labels: bool = False,
                 max_size: int | None = None, xflip: bool = False, random_seed: int = 0, name: str | None = None,
                 bad_images: str = 'stop'):
        if bad_images not in BAD_IMAGE_MODES:
            raise DatasetError(f'bad_images must be one of {", ".join(BAD_IMAGE_MODES)}, got {bad_images!r}')
        self._path = str(path)
        self._bad_images = bad_images
        self._zipfile = None
        self._zip_pid = None
        check_source_path(self._path)
        if os.path.isdir(self._path):
            self._type = 'dir'
            self._all_fnames = {os.path.relpath(os.path.join(root, f), start=self._path).replace(os.sep, '/')
                                for root, _dirs, files in os.walk(self._path) for f in files}
        elif os.path.isfile(self._path) and (self._path.lower().endswith('.zip') or zipfile.is_zipfile(self._path)):
            self._type = 'zip'
            try:
                self._all_fnames = set(self._get_zipfile().namelist())
            except ZIP_ERRORS as e:
                raise DatasetError(f'Dataset {self._path!r} is not a readable zip file ({e}); make one',
                                   hint_command=_MAKE_DATASET) from None
        elif os.path.isfile(self._path):
            raise DatasetError(f'Dataset {self._path!r} is neither a folder nor a zip file; make one',
                               hint_command=_MAKE_DATASET)
        else:
            raise DatasetError(f'Dataset not found: {self._path!r} must be a directory or a .zip file; make one',
                               hint_command=_MAKE_DATASET)
        self._image_fnames = sorted(f for f in self._all_fnames if f.lower().endswith(IMAGE_EXTENSIONS))
        if not self._image_fnames:
            raise DatasetError(f'No image files found in {self._path!r}')

        self._name = name or os.path.splitext(os.path.basename(self._path.rstrip('/')))[0]
        self.skipped_at_open: list[tuple[str, str]] = []     # (file name, reason), in skip mode
        self.bad_images_seen: dict[str, str] = {}            # file name -> reason, found while decoding
        channels, height, width = self._check_headers()
        self._raw_shape = [len(self._image_fnames), channels, height, width]
        if height != width or not _is_power_of_two(width):
            side = _nearest_pow2(max(width, height))
            raise DatasetError(
                f'Dataset {self._path!r} has {width}x{height} images; training needs square images whose side is a '
                f'power of two: convert them', hint_command=f'tools.dataset_tool --source {self._path} --dest NEW.zip '
                f'--resolution {side}x{side} --transform center-crop')
        if resolution is not None and resolution != width:
            raise DatasetError(f'Dataset {self._path!r} has resolution {width}, but {resolution} was requested')

        self._use_labels = use_labels
        self._raw_labels: np.ndarray | None = None
        self._label_shape = None
        if use_labels:
            self._get_raw_labels()   # validated now, not at the first batch

        # Subset and mirror: the index map is fixed at construction.
        self._raw_idx = np.arange(self._raw_shape[0], dtype=np.int64)
        if max_size is not None and self._raw_idx.size > max_size:
            rnd = np.random.RandomState(random_seed % (1 << 31))
            self._raw_idx = np.sort(rnd.permutation(self._raw_idx)[:max_size])
        self._xflip = np.zeros(self._raw_idx.size, dtype=np.uint8)
        if xflip:
            self._raw_idx = np.tile(self._raw_idx, 2)
            self._xflip = np.concatenate([self._xflip, np.ones_like(self._xflip)])

    # Checks at open -------------------------------------------------------------------------------------
    def _read_header(self, fname: str) -> tuple[int, int, int]:
        """(channels, height, width) from the header alone; raises _BadImage."""
        try:
            if self._type == 'zip':
                size = self._get_zipfile().getinfo(fname).file_size
                with self._open_file(fname) as f:
                    info = read_image_info(f, name=fname, max_pixels=MAX_HEADER_PIXELS)
            else:
                info = read_image_info(os.path.join(self._path, fname), name=fname, max_pixels=MAX_HEADER_PIXELS)
                size = info.file_bytes
            width, height = info.width, info.height
            channels = _channels_of_mode(info.mode)
        except ImageReadError as e:
            raise _BadImage(e.reason) from None
        except Exception as e:  # noqa: BLE001  (opening a zip member: bad headers, encryption, methods)
            raise _BadImage(_reason(e)) from None
        if size > _max_file_bytes(channels, height, width):
            raise _BadImage(f'{size} bytes is too large for a {width}x{height} image')
        return channels, height, width

    def _check_headers(self) -> tuple[int, int, int]:
        shapes: dict[tuple[int, int, int], list[str]] = {}
        unreadable = []
        for fname in self._image_fnames:
            try:
                shapes.setdefault(self._read_header(fname), []).append(fname)
            except _BadImage as e:
                unreadable.append((fname, str(e)))
        if unreadable and self._bad_images == 'stop':
            fname, reason = unreadable[0]
            more = f' (and {len(unreadable) - 1} more)' if len(unreadable) > 1 else ''
            raise DatasetError(f'Cannot read image {fname!r} in {self._path!r}: {reason}{more}; rebuild the '
                               'dataset, or leave such images out', option='bad_images', value='skip',
                               hint_command='tools.dataset_tool')
        if unreadable:
            self.skipped_at_open = unreadable
            bad = {f for f, _ in unreadable}
            self._image_fnames = [f for f in self._image_fnames if f not in bad]
        if not shapes:
            raise DatasetError(f'No readable image in {self._path!r} ({len(unreadable)} unreadable)')
        if len(shapes) > 1:
            ordered = sorted(shapes.items(), key=lambda item: -len(item[1]))
            (c, h, w), _ = ordered[0]
            sizes = {(sh, sw) for (_sc, sh, sw) in shapes}
            if len(sizes) > 1:
                what = '; '.join(f'{len(f)} of {sw}x{sh} (e.g. {f[0]!r})' for (_sc, sh, sw), f in ordered[:3])
                raise DatasetError(f'Dataset {self._path!r} mixes image sizes: {what}. Rebuild it', hint_command=
                                   f'tools.dataset_tool --source {self._path} --dest NEW.zip --resolution {w}x{h}')
            what = '; '.join(f'{len(f)} with {sc} channel{"s" if sc > 1 else ""} (e.g. {f[0]!r})'
                             for (sc, _sh, _sw), f in ordered[:3])
            raise DatasetError(f'Dataset {self._path!r} mixes grayscale and colour images: {what}. Rebuild it',
                               hint_command=f'tools.dataset_tool --source {self._path} --dest NEW.zip')
        return next(iter(shapes))

    # File access ----------------------------------------------------------------------------------------
    def _get_zipfile(self) -> zipfile.ZipFile:
        # A forked DataLoader worker inherits the parent's open file and its shared file offset: reading through
        # it from two processes corrupts both, so each process opens the zip for itself.
        if self._zipfile is None or self._zip_pid != os.getpid():
            self._zipfile = zipfile.ZipFile(self._path)
            self._zip_pid = os.getpid()
        return self._zipfile

    def _open_file(self, fname: str):
        # A zip member; a folder's images are read by path, through networks.image_io (regular files only).
        assert self._type == 'zip', fname
        return self._get_zipfile().open(fname, 'r')

    def close(self) -> None:
        if self._zipfile is not None and self._zip_pid == os.getpid():
            self._zipfile.close()
        self._zipfile = None

    def __getstate__(self):
        return dict(self.__dict__, _zipfile=None)  # DataLoader workers reopen the zip themselves

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001  (interpreter shutdown)
            pass

    def _decode(self, raw_idx: int) -> np.ndarray:
        """CHW uint8 of image `raw_idx`; raises _BadImage if it cannot be decoded or has the wrong shape.

        Once the dataset is open, an image must declare exactly the dataset's size (checked before decoding) and be
        no larger than such an image's file can be."""
        fname = self._image_fnames[raw_idx]
        if hasattr(self, '_raw_shape'):
            channels, height, width = self._raw_shape[1:]
            limits = dict(size=(width, height), max_pixels=width * height,
                          max_bytes=_max_file_bytes(channels, height, width))
        else:
            limits = dict(max_pixels=MAX_HEADER_PIXELS)
        # L, RGB and RGBA (alpha dropped below) stay as they are; every other mode becomes RGB.
        modes = ('RGB', 'L', 'RGBA')
        try:
            if self._type == 'dir':
                img = read_image(os.path.join(self._path, fname), name=fname, mode=modes, **limits)
            else:
                with self._open_file(fname) as f:
                    img = read_image(f, name=fname, mode=modes, **limits)
            image = np.array(img)
        except ImageReadError as e:
            raise _BadImage(e.reason) from None
        except Exception as e:  # noqa: BLE001  (opening a zip member: bad headers, encryption, methods)
            raise _BadImage(_reason(e)) from None
        image = image_to_chw(image)
        if hasattr(self, '_raw_shape') and list(image.shape) != self.image_shape:
            raise _BadImage(f'decoded shape {list(image.shape)} differs from the dataset\'s {self.image_shape}')
        return image

    def _load_raw_image(self, raw_idx: int) -> np.ndarray:
        try:
            return self._decode(raw_idx)
        except _BadImage as e:
            raise DatasetError(f'Cannot decode image {self._image_fnames[raw_idx]!r} in {self._path!r}: {e}; '
                               'skip such images', option='bad_images', value='skip') from None

    def _load_or_replace(self, raw_idx: int) -> tuple[int, np.ndarray, tuple[str, str] | None]:
        """(raw index used, image, first failure (file name, reason) or None): a bad image is replaced by the next
        good one in file order, so the replacement (and a resumed run) is deterministic."""
        failure = None
        n = len(self._image_fnames)
        for step in range(n):
            candidate = (raw_idx + step) % n
            try:
                return candidate, self._decode(candidate), failure
            except _BadImage as e:
                fname = self._image_fnames[candidate]
                self.bad_images_seen.setdefault(fname, str(e))
                if failure is None:
                    failure = (fname, str(e))
        raise DatasetError(f'No image of {self._path!r} can be decoded (first failure {failure[0]!r}: {failure[1]})')

    def _load_raw_labels(self) -> np.ndarray | None:
        if 'dataset.json' not in self._all_fnames:
            return None
        where = f'{self._path!r}: dataset.json'
        if self._type == 'dir':
            data = read_dataset_json_file(os.path.join(self._path, 'dataset.json'), where)
        else:
            data = read_zip_member(self._get_zipfile(), 'dataset.json', where)
        labels = dataset_json_labels(data, where)
        if labels is None:
            return None
        return parse_labels(labels, self._image_fnames, where)

    def _get_raw_labels(self) -> np.ndarray:
        if self._raw_labels is None:
            raw = self._load_raw_labels() if self._use_labels else None
            if raw is None:
                raw = np.zeros([self._raw_shape[0], 0], dtype=np.float32)
            self._raw_labels = raw
        return self._raw_labels

    # Dataset protocol -----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._raw_idx.size

    def __getitem__(self, idx: int) -> tuple[np.ndarray, np.ndarray]:
        raw_idx = int(self._raw_idx[idx])
        if self._bad_images == 'stop':
            image = self._load_raw_image(raw_idx)
        else:
            raw_idx, image, _failure = self._load_or_replace(raw_idx)
        return self._finish(idx, raw_idx, image)

    def get_item_checked(self, idx: int) -> tuple[np.ndarray, np.ndarray, str, str]:
        """`(image, label, bad name, reason)` that never raises for an undecodable image, whatever the mode: the
        image is replaced as in skip mode and the last two name it ('' when none). The training loop reads this way
        so a DataLoader worker hands the failure over as data, and the main process reports it as one line
        (an exception from a worker would come back wrapped around the worker's traceback)."""
        raw_idx, image, failure = self._load_or_replace(int(self._raw_idx[idx]))
        return (*self._finish(idx, raw_idx, image), *(failure or ('', '')))

    def _finish(self, idx: int, raw_idx: int, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._xflip[idx]:
            image = image[:, :, ::-1]
        return np.ascontiguousarray(image), self._label_of_raw(raw_idx)

    def get_label(self, idx: int) -> np.ndarray:
        return self._label_of_raw(int(self._raw_idx[idx]))

    def _label_of_raw(self, raw_idx: int) -> np.ndarray:
        label = self._get_raw_labels()[raw_idx]
        if label.dtype == np.int64:
            onehot = np.zeros(self.label_shape, dtype=np.float32)
            onehot[label] = 1
            label = onehot
        return label.copy()

    # Properties -----------------------------------------------------------------------------------------
    @property
    def bad_images(self) -> str:
        return self._bad_images

    @property
    def name(self) -> str:
        return self._name

    @property
    def path(self) -> str:
        return self._path

    @property
    def image_shape(self) -> list[int]:
        return list(self._raw_shape[1:])

    @property
    def num_channels(self) -> int:
        return self.image_shape[0]

    @property
    def resolution(self) -> int:
        return self.image_shape[2]

    @property
    def label_shape(self) -> list[int]:
        if self._label_shape is None:
            raw = self._get_raw_labels()
            self._label_shape = [int(raw.max()) + 1] if raw.dtype == np.int64 else list(raw.shape[1:])
        return list(self._label_shape)

    @property
    def label_dim(self) -> int:
        return int(np.prod(self.label_shape))

    @property
    def has_labels(self) -> bool:
        return self.label_dim > 0

    @property
    def has_onehot_labels(self) -> bool:
        return self._get_raw_labels().dtype == np.int64


def _nearest_pow2(n: int) -> int:
    return 1 << max(int(np.floor(np.log2(max(n, 1)))), 2)


class InfiniteSampler(torch.utils.data.Sampler):
    """An endless, deterministic stream of dataset indices, split across ranks, that can start anywhere.

    The global stream is a fresh permutation per epoch (seeded by `seed` and the epoch number); rank `r` of
    `num_replicas` takes every `num_replicas`-th element starting at `r`. `start` is the number of global
    items already consumed, so a resumed run sees exactly the images the uninterrupted run would have seen.
    """

    def __init__(self, dataset_size: int, rank: int = 0, num_replicas: int = 1, shuffle: bool = True,
                 seed: int = 0, start: int = 0):
        assert dataset_size > 0 and 0 <= rank < num_replicas
        self.dataset_size = dataset_size
        self.rank = rank
        self.num_replicas = num_replicas
        self.shuffle = shuffle
        self.seed = seed
        self.start = start

    def _epoch_order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.dataset_size)
        return np.random.default_rng([self.seed, epoch]).permutation(self.dataset_size)

    def __iter__(self) -> Iterator[int]:
        pos = self.start + self.rank
        epoch, order = -1, None
        while True:
            if pos // self.dataset_size != epoch:
                epoch = pos // self.dataset_size
                order = self._epoch_order(epoch)
            yield int(order[pos % self.dataset_size])
            pos += self.num_replicas
