"""Image datasets for training and metrics: a zip or folder of PNG/JPEG images in the NVlabs layout.

Labels, when present, come from a `dataset.json` at the root: `{"labels": [["00000/img00000000.png", 3], ...]}`
(an integer class becomes a one-hot vector; a list is used as a float vector). `InfiniteSampler` yields a
deterministic, resumable stream of indices for the training loop.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Iterator

import numpy as np
import PIL.Image
import torch

from networks.errors import UserError

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.webp', '.ppm', '.tif', '.tiff')


class DatasetError(UserError, ValueError):
    """A dataset that cannot be used for training, with a one-line explanation and a hint."""


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
    """

    def __init__(self, path: str, resolution: int | None = None, use_labels: bool = False,
                 max_size: int | None = None, xflip: bool = False, random_seed: int = 0, name: str | None = None):
        self._path = str(path)
        self._zipfile = None
        self._zip_pid = None
        if os.path.isdir(self._path):
            self._type = 'dir'
            self._all_fnames = {os.path.relpath(os.path.join(root, f), start=self._path).replace(os.sep, '/')
                                for root, _dirs, files in os.walk(self._path) for f in files}
        elif self._path.lower().endswith('.zip') and os.path.isfile(self._path):
            self._type = 'zip'
            self._all_fnames = set(self._get_zipfile().namelist())
        else:
            raise DatasetError(f'Dataset not found: {self._path!r} must be a directory or a .zip file '
                               '(make one with: python -m training.dataset_tool --source ... --dest ...)')
        self._image_fnames = sorted(f for f in self._all_fnames if f.lower().endswith(IMAGE_EXTENSIONS))
        if not self._image_fnames:
            raise DatasetError(f'No image files found in {self._path!r}')

        self._name = name or os.path.splitext(os.path.basename(self._path.rstrip('/')))[0]
        first = self._load_raw_image(0)
        self._raw_shape = [len(self._image_fnames), *first.shape]
        channels, height, width = first.shape
        if height != width or not _is_power_of_two(width):
            raise DatasetError(
                f'Dataset {self._path!r} has {width}x{height} images; training needs square images whose side is a '
                f'power of two. Hint: python -m training.dataset_tool --source {self._path} --dest NEW.zip '
                f'--resolution {_nearest_pow2(max(width, height))}x{_nearest_pow2(max(width, height))} '
                '--transform center-crop')
        if resolution is not None and resolution != width:
            raise DatasetError(f'Dataset {self._path!r} has resolution {width}, but {resolution} was requested')
        if channels not in (1, 3):
            raise DatasetError(f'Dataset images must have 1 or 3 channels, found {channels}')

        self._use_labels = use_labels
        self._raw_labels: np.ndarray | None = None
        self._label_shape = None

        # Subset and mirror: the index map is fixed at construction.
        self._raw_idx = np.arange(self._raw_shape[0], dtype=np.int64)
        if max_size is not None and self._raw_idx.size > max_size:
            rnd = np.random.RandomState(random_seed % (1 << 31))
            self._raw_idx = np.sort(rnd.permutation(self._raw_idx)[:max_size])
        self._xflip = np.zeros(self._raw_idx.size, dtype=np.uint8)
        if xflip:
            self._raw_idx = np.tile(self._raw_idx, 2)
            self._xflip = np.concatenate([self._xflip, np.ones_like(self._xflip)])

    # File access ----------------------------------------------------------------------------------------
    def _get_zipfile(self) -> zipfile.ZipFile:
        # A forked DataLoader worker inherits the parent's open file and its shared file offset: reading through
        # it from two processes corrupts both, so each process opens the zip for itself.
        if self._zipfile is None or self._zip_pid != os.getpid():
            self._zipfile = zipfile.ZipFile(self._path)
            self._zip_pid = os.getpid()
        return self._zipfile

    def _open_file(self, fname: str):
        if self._type == 'dir':
            return open(os.path.join(self._path, fname), 'rb')
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

    def _load_raw_image(self, raw_idx: int) -> np.ndarray:
        fname = self._image_fnames[raw_idx]
        with self._open_file(fname) as f:
            data = f.read()
        try:
            with PIL.Image.open(io.BytesIO(data)) as img:
                if img.mode not in ('L', 'RGB', 'RGBA'):
                    img = img.convert('RGB')
                image = np.array(img)
        except (OSError, ValueError) as e:
            raise DatasetError(f'Cannot read image {fname!r} in {self._path!r}: {e}') from e
        return image_to_chw(image)

    def _load_raw_labels(self) -> np.ndarray | None:
        if 'dataset.json' not in self._all_fnames:
            return None
        with self._open_file('dataset.json') as f:
            labels = json.load(f).get('labels')
        if labels is None:
            return None
        labels = dict(labels)
        missing = [f for f in self._image_fnames if f not in labels]
        if missing:
            raise DatasetError(f'dataset.json has no label for {len(missing)} images, e.g. {missing[0]!r}')
        labels = np.array([labels[f] for f in self._image_fnames])
        return labels.astype({1: np.int64, 2: np.float32}[labels.ndim])

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
        image = self._load_raw_image(int(self._raw_idx[idx]))
        if list(image.shape) != self.image_shape:
            raise DatasetError(f'Image {self._image_fnames[self._raw_idx[idx]]!r} has shape {list(image.shape)}, '
                               f'the dataset has {self.image_shape}; rebuild it with python -m training.dataset_tool')
        if self._xflip[idx]:
            image = image[:, :, ::-1]
        return np.ascontiguousarray(image), self.get_label(idx)

    def get_label(self, idx: int) -> np.ndarray:
        label = self._get_raw_labels()[self._raw_idx[idx]]
        if label.dtype == np.int64:
            onehot = np.zeros(self.label_shape, dtype=np.float32)
            onehot[label] = 1
            label = onehot
        return label.copy()

    # Properties -----------------------------------------------------------------------------------------
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
