"""The digit domain-adaptation benchmarks of UNIT's Table 2 (Liu et al. 2017) on the real
data sets, read from the user's files (ganlab never downloads data). ``data=digits_da``.

- **svhn**: ``train_32x32.mat`` / ``test_32x32.mat`` (Netzer et al. 2011, format 2), read with
  ``scipy.io.loadmat``: ``X`` (32, 32, 3, N) uint8, ``y`` (N, 1) with label 10 for the digit 0.
- **mnist**: the four IDX files (``ganlab.data.mnist``), official train / t10k splits.
- **usps**: ``usps`` / ``usps.t`` (optionally ``.bz2``), the LIBSVM copy of Hull's 16x16 scans,
  read with ``sklearn.datasets.load_svmlight_file``: 256 values in [-1, 1] per line, labels
  1..10 for the digits 0..9.

Each set lives in its own folder (``data.roots.svhn`` ...). ``data.source`` is the labelled
domain (a), ``data.target`` the unlabelled one (b); batches are those of
``data=digit_domains`` (``image_a``/``label_a``, ``image_b``/``label_b``). Images are resized
bilinearly to ``size`` and grey sets are repeated to 3 channels when SVHN takes part
(``channels: 3``), as UNIT does.
"""

from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
import torch
import torch.nn.functional as F
from scipy.io.matlab import MatReadError
from sklearn.datasets import load_svmlight_file
from torch import Tensor

from ganlab.data.digit_domains import DigitDomainsDataModule
from ganlab.data.mnist import FILES as MNIST_FILES
from ganlab.data.mnist import IMAGES_MAGIC, LABELS_MAGIC, MNIST_LAYOUT, read_idx, scans_to_images
from ganlab.data.real import resolve_root
from ganlab.errors import ConfigError

SPLITS = ("train", "test")
LAYOUTS = {
    "svhn": "<root>/\n├── train_32x32.mat\n├── test_32x32.mat\n"
    "└── extra_32x32.mat  (only with data.svhn_train=extra)",
    "mnist": MNIST_LAYOUT,
    "usps": "<root>/\n├── usps      (or usps.bz2)\n└── usps.t    (or usps.t.bz2)",
}
SOURCES = {
    "svhn": "SVHN comes from http://ufldl.stanford.edu/housenumbers/ (format 2, cropped digits).",
    "mnist": "MNIST comes from https://yann.lecun.com/exdb/mnist/ (or torchvision's mirror).",
    "usps": "USPS comes from https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/"
    "multiclass.html#usps.",
}
SVHN_FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat", "extra": "extra_32x32.mat"}
USPS_FILES = {"train": "usps", "test": "usps.t"}


def uint8_images(pixels: np.ndarray, size: int) -> Tensor:
    """(N, C, H, W) uint8 -> (N, C, size, size) float32 in [-1, 1]."""
    images = torch.from_numpy(np.array(pixels, copy=True)).float() / 127.5 - 1.0
    return resize(images, size)


def resize(images: Tensor, size: int) -> Tensor:
    if images.shape[-1] != size:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    return images.clamp(-1.0, 1.0)


def one_file(root: Path, name: str, compressed: str | None = None) -> Path:
    for candidate in (root / name, *([root / f"{name}{compressed}"] if compressed else [])):
        if candidate.is_file():
            return candidate
    alternatives = f" (or {name}{compressed})" if compressed else ""
    raise FileNotFoundError(f"has no {name}{alternatives}")


def read_svhn(root: Path, split: str, size: int) -> tuple[Tensor, Tensor]:
    """``split``: train, test, or extra (the 531,131 extra images, which UNIT trains on)."""
    path = one_file(root, SVHN_FILES[split])
    try:  # scipy refuses MATLAB v7.3 (HDF5) files with NotImplementedError
        arrays = scipy.io.loadmat(path)
        pixels, labels = arrays["X"], arrays["y"].reshape(-1).astype(np.int64)
    except (OSError, ValueError, KeyError, NotImplementedError, MatReadError) as error:
        raise ValueError(f"{path} is not an SVHN .mat file with X and y ({error})") from error
    if pixels.ndim != 4 or pixels.shape[:3] != (32, 32, 3) or pixels.shape[3] != len(labels):
        raise ValueError(f"{path} holds X of shape {pixels.shape}, not (32, 32, 3, {len(labels)})")
    if len(labels) and not (labels.min() >= 1 and labels.max() <= 10):
        raise ValueError(f"{path} holds labels outside 1..10")
    return uint8_images(pixels.transpose(3, 2, 0, 1), size), torch.from_numpy(labels % 10)


def read_mnist(root: Path, split: str, size: int) -> tuple[Tensor, Tensor]:
    images_name, labels_name = MNIST_FILES[split]
    arrays = []
    for name, magic in ((images_name, IMAGES_MAGIC), (labels_name, LABELS_MAGIC)):
        path = one_file(root, name, ".gz")
        try:
            arrays.append(read_idx(path, magic))
        except ValueError as error:
            raise ValueError(f"{path} {error}") from error
    scans, labels = arrays[0], arrays[1].astype(np.int64)
    if len(scans) != len(labels):
        raise ValueError(f"{images_name} holds {len(scans)} images, {labels_name} {len(labels)}")
    if labels.size and labels.max() > 9:
        raise ValueError(f"{labels_name} holds label {labels.max()}, not a digit")
    return scans_to_images(torch.from_numpy(scans.copy()), size), torch.from_numpy(labels)


def read_usps(root: Path, split: str, size: int) -> tuple[Tensor, Tensor]:
    path = one_file(root, USPS_FILES[split], ".bz2")
    try:
        values, labels = load_svmlight_file(str(path), n_features=256)
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} is not a LIBSVM USPS file ({error})") from error
    labels = labels.astype(np.int64)
    if len(labels) and not (labels.min() >= 1 and labels.max() <= 10):
        raise ValueError(f"{path} holds labels outside 1..10")
    scans = torch.from_numpy(values.toarray().astype(np.float32)).reshape(-1, 1, 16, 16)
    return resize(scans, size), torch.from_numpy(labels - 1)


READERS = {"svhn": read_svhn, "mnist": read_mnist, "usps": read_usps}


class DigitBenchmarkDataModule(DigitDomainsDataModule):
    """UNIT's digit benchmarks: ``source`` (labelled, domain a) -> ``target`` (domain b), each
    from its folder in ``roots``; checked when built, so a missing file stops the run."""

    name = "digits_da"

    def __init__(
        self,
        source: str,
        target: str,
        roots: dict[str, Any],
        size: int = 32,
        channels: int = 3,
        batch_size: int = 64,
        shuffle_seed: int = 0,
        num_workers: int = 0,
        svhn_train: str = "train",
    ) -> None:
        """``svhn_train``: which SVHN file trains (``train``, or ``extra`` as UNIT's Table 2)."""
        if svhn_train not in ("train", "extra"):
            raise ConfigError(f"data.svhn_train={svhn_train!r}: use train or extra")
        self.svhn_train = svhn_train
        for role, name in (("source", source), ("target", target)):
            if name not in READERS:
                raise ConfigError(f"data.{role}={name!r}: known digit sets are {sorted(READERS)}")
        if source == target:
            raise ConfigError(f"data.source and data.target are both {source!r}")
        super().__init__(
            size, channels, batch_size, shuffle_seed=shuffle_seed, num_workers=num_workers
        )
        self.domains = (source, target)
        self.roots = {
            name: self.check_root(name, dict(roots or {}).get(name)) for name in self.domains
        }
        self.arrays = {
            (name, split): self.read(name, split) for name in self.domains for split in SPLITS
        }

    def check_root(self, name: str, root: Any) -> Path:
        path = resolve_root(root)
        if path is None:
            raise self.layout_error(name, f"data.roots.{name} is not set")
        if not path.is_dir():
            raise self.layout_error(name, f"data.roots.{name}={path} is not a folder")
        return path

    def layout_error(self, name: str, problem: str) -> ConfigError:
        return ConfigError(
            f"digits_da ({name}): {problem}.\n"
            f"Expected layout of data.roots.{name}:\n{LAYOUTS[name]}\n"
            f"{SOURCES[name]} ganlab never downloads data: pass data.roots.{name}=<the folder>."
        )

    def read(self, name: str, split: str) -> tuple[Tensor, Tensor]:
        root = self.roots[name]
        file_split = self.svhn_train if name == "svhn" and split == "train" else split
        try:
            images, labels = READERS[name](root, file_split, self.size)
        except (FileNotFoundError, ValueError) as error:
            raise self.layout_error(name, f"data.roots.{name}={root} {error}") from error
        if not len(labels):
            raise self.layout_error(name, f"data.roots.{name}={root}: the {split} file is empty")
        if images.shape[1] not in (1, self.channels):
            raise ConfigError(f"{name} images have {images.shape[1]} channels; set data.channels=3")
        return images.expand(-1, self.channels, -1, -1).contiguous(), labels

    @property
    def feature_dataset(self) -> str:
        """No embedded net judges these sets (the digits net knows the scikit-learn scans
        only): ``features=domain`` finds no ``domain_digits_da`` and says so."""
        return self.name

    def domain_arrays(self, split: str, side: int) -> tuple[Tensor, Tensor]:
        return self.arrays[(self.domains[side], split)]

    def content_key(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "channels": self.channels,
            "domains": list(self.domains),
            "svhn_train": self.svhn_train,
            "counts": {
                f"{name}/{split}": len(labels) for (name, split), (_, labels) in self.arrays.items()
            },
        }

    def describe(self) -> str:
        counts = ", ".join(
            f"{name} {len(self.arrays[(name, 'train')][1])} train / "
            f"{len(self.arrays[(name, 'test')][1])} test"
            for name in self.domains
        )
        return (
            f"digits_da: {self.domains[0]} (labelled) -> {self.domains[1]}: {counts}, "
            f"{self.size} px, {self.channels} channels, batch {self.batch_size}"
        )
