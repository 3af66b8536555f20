"""MNIST (LeCun et al. 1998) from its four IDX files, parsed here with numpy (and gzip).

IDX format: a big-endian int32 magic number (2051 for images, 2049 for labels: 0x08 =
unsigned bytes, then the number of dimensions), one big-endian int32 per dimension, then
the unsigned bytes in C order. The constructor parses all four files and checks magic
numbers, dimensions, file lengths, that images and labels agree in count and that labels
are digits, so a bad file stops the run before training.

Splits: train = the 60,000-image file minus its last ``n_val`` images, which form val;
test = the t10k files. Items: ``image`` (1, size, size) float32 in [-1, 1] (28 px scans
resized bilinearly) and ``label`` (int64).
"""

import gzip
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from ganlab.data.real import RealDataModule

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MNIST_LAYOUT = """\
<root>/
├── train-images-idx3-ubyte   (or train-images-idx3-ubyte.gz)
├── train-labels-idx1-ubyte   (or .gz)
├── t10k-images-idx3-ubyte    (or .gz)
└── t10k-labels-idx1-ubyte    (or .gz)"""


def parse_idx(data: bytes, magic: int) -> np.ndarray:
    """The uint8 array an IDX file holds; ValueError saying what is wrong with it."""
    if len(data) < 4:
        raise ValueError(f"is {len(data)} bytes long, too short for an IDX header")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise ValueError(f"starts with magic number {found}, not {magic}")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"is {len(data)} bytes long, too short for a {ndim}-d IDX header")
    shape = tuple(int(n) for n in np.frombuffer(data, ">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise ValueError(
            f"is {len(data)} bytes long but its header ({' x '.join(map(str, shape))}) "
            f"needs {expected}: truncated or not an MNIST file"
        )
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def read_idx(path: Path, magic: int) -> np.ndarray:
    """``parse_idx`` of a plain or gzipped file; ValueError saying what is wrong with it."""
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as error:
        raise ValueError(f"cannot be read ({error})") from error
    return parse_idx(data, magic)


def scans_to_images(scans: Tensor, size: int) -> Tensor:
    """(N, 28, 28) uint8 -> (N, 1, size, size) float32 in [-1, 1]."""
    images = scans.unsqueeze(1).float() / 127.5 - 1.0
    if size != scans.shape[-1]:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    return images.clamp(-1.0, 1.0)


class MNISTDataset(Dataset):
    """Items: ``image`` (1, size, size) in [-1, 1] and ``label`` (int64)."""

    def __init__(self, scans: Tensor, labels: Tensor, size: int) -> None:
        self.scans, self.labels, self.size = scans, labels, size

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image = scans_to_images(self.scans[index : index + 1], self.size)[0]
        return {"image": image, "label": self.labels[index]}


class MNISTDataModule(RealDataModule):
    """MNIST from the IDX files at ``root``: train / val (the last ``n_val`` of the training
    file) / test (t10k), each an ``MNISTDataset``."""

    name = "mnist"
    supported_channels = (1,)
    layout = MNIST_LAYOUT
    source = "MNIST comes from https://yann.lecun.com/exdb/mnist/ (or torchvision's mirror)."

    def __init__(
        self,
        root: Any,
        size: int = 32,
        n_val: int = 5000,
        batch_size: int = 64,
        num_workers: int = 0,
        shuffle_seed: int = 0,
        channels: int = 1,
    ) -> None:
        self.size, self.n_val = size, n_val
        # no `strict` setting: a malformed IDX file always stops the run
        super().__init__(root, batch_size, num_workers, shuffle_seed, True, channels)

    def idx_file(self, name: str) -> Path:
        for candidate in (self.root / name, self.root / f"{name}.gz"):
            if candidate.is_file():
                return candidate
        raise self.layout_error(f"{self.key('root')}={self.root} has no {name} (or {name}.gz)")

    def read(self, name: str, magic: int) -> np.ndarray:
        path = self.idx_file(name)
        try:
            return read_idx(path, magic)
        except ValueError as error:
            raise self.layout_error(f"{path} {error}") from error

    def check(self) -> dict[str, int]:
        self.arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for split, (images_name, labels_name) in FILES.items():
            scans = self.read(images_name, IMAGES_MAGIC)
            labels = self.read(labels_name, LABELS_MAGIC)
            if len(scans) != len(labels):
                raise self.layout_error(
                    f"{images_name} holds {len(scans)} images but {labels_name} "
                    f"{len(labels)} labels"
                )
            if labels.size and labels.max() > 9:
                raise self.layout_error(f"{labels_name} holds label {labels.max()}, not a digit")
            self.arrays[split] = (scans, labels)
        n_train = len(self.arrays["train"][1])
        if not 0 <= self.n_val < n_train:
            raise self.layout_error(
                f"{FILES['train'][0]} holds {n_train} images; "
                f"{self.key('n_val')}={self.n_val} must leave at least one for training"
            )
        return {split: len(labels) for split, (_, labels) in self.arrays.items()}

    def load_splits(self) -> dict[str, Dataset]:
        (train_scans, train_labels), (test_scans, test_labels) = (
            self.arrays["train"],
            self.arrays["test"],
        )
        cut = len(train_labels) - self.n_val

        def dataset(scans: np.ndarray, labels: np.ndarray) -> MNISTDataset:
            return MNISTDataset(
                torch.from_numpy(scans.copy()), torch.from_numpy(labels.astype(np.int64)), self.size
            )

        return {
            "train": dataset(train_scans[:cut], train_labels[:cut]),
            "val": dataset(train_scans[cut:], train_labels[cut:]),
            "test": dataset(test_scans, test_labels),
        }

    def split_settings(self) -> dict[str, Any]:
        return {"n_val": self.n_val}
