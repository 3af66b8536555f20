"""Real-data DataModules over data sets the user brings: ``folder``, ``ffhq``,
``stanford_cars``; CelebA-HQ in ``celebahq.py``, two-domain sets in ``paired.py``, MNIST in
``mnist.py``.

ganlab never downloads data. Each module reads the folder given as ``data.root`` (or, inside
another module's config, e.g. UDA-Inversion's, ``data.base.root``: ``config_node`` names the
node, so that every message names the key to set) and checks its layout in the constructor,
so a missing or malformed root stops the run before training with one message: what is
wrong, the expected layout as a small tree, and where the data set comes from. At ``setup``
every listed file is checked cheaply (``images.unreadable``); unreadable files are skipped
with one warning that names them, or, with ``strict=True``, stop the run with an error that
names them. Splits are cut from the full sorted listing
*before* unreadable files are dropped, so a bad file never moves another file between splits.

Items are dicts with ``image`` (C, H, W) float32 in [-1, 1] (plus ``attributes`` for
CelebA-HQ). ``image_shape`` is (height, width); ``image_size`` is the width (the side of a
square image).
"""

import warnings
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch.utils.data import DataLoader, Dataset

from ganlab.data.base import ImageDataModule
from ganlab.data.images import ImageFiles, ImageReader, list_images, name_some, unreadable
from ganlab.data.samplers import EpochShuffleSampler, batch_loader
from ganlab.errors import ConfigError


def layout_message(name: str, problem: str, layout: str, source: str, root_key: str) -> str:
    """The one message a data set with a missing or malformed root stops the run with;
    ``root_key`` is the config key of its root (``data.root``, ``data.base.root``)."""
    return (
        f"{name}: {problem}.\n"
        f"Expected layout of {root_key}:\n{layout}\n"
        f"{source} ganlab never downloads data: pass {root_key}=<the unpacked folder>."
    )


def resolve_root(root: Any) -> Path | None:
    """``root`` as an absolute path; None when it is not set."""
    if root is None or str(root) in ("", "???"):
        return None
    return Path(str(root)).expanduser().resolve()


class RealDataModule(ImageDataModule, ABC):
    """What every real-data module shares: the root check and its message, split lookup,
    ``describe``/``identity`` and the loaders. Subclasses set the class attributes, check
    their layout in ``check()`` (called by the constructor) and build their splits in
    ``load_splits()`` (called once, by ``setup``)."""

    name: ClassVar[str]
    supported_channels = (3, 1)  # 1: files are read as greyscale
    layout: ClassVar[str]  # the expected tree under the root
    source: ClassVar[str]  # a sentence naming where the data set comes from (a URL)
    val_split: ClassVar[str] = "val"  # the held-out split (val_dataloader, previews)

    def __init__(
        self,
        root: Any,
        batch_size: int,
        num_workers: int,
        shuffle_seed: int,
        strict: bool,
        channels: int = 3,
        config_node: str = "data",
    ) -> None:
        self.config_node = config_node
        super().__init__(channels)
        self.batch_size, self.num_workers = batch_size, num_workers
        self.shuffle_seed, self.strict = shuffle_seed, strict
        self.root = self.check_root(root)
        self.datasets: dict[str, Dataset] = {}
        self.listed = self.check()

    @property
    def grayscale(self) -> bool:
        return self.channels == 1

    def key(self, argument: str) -> str:
        """The config key of a constructor argument, as a message names it: ``data.root``, or
        ``data.base.root`` for the base of UDA-Inversion's data (``config_node``)."""
        return f"{self.config_node}.{argument}"

    def layout_error(self, problem: str) -> ConfigError:
        return ConfigError(
            layout_message(self.name, problem, self.layout, self.source, self.key("root"))
        )

    def check_root(self, root: Any) -> Path:
        path = resolve_root(root)
        if path is None:
            raise self.layout_error(f"{self.key('root')} is not set")
        if not path.exists():
            raise self.layout_error(f"{self.key('root')}={path} does not exist")
        if not path.is_dir():
            raise self.layout_error(f"{self.key('root')}={path} is not a folder")
        return path

    def folder(self, relative: str) -> Path:
        """``root/relative``, which must be a folder."""
        path = self.root / relative
        if not path.is_dir():
            raise self.layout_error(f"{self.key('root')}={self.root} has no folder {relative}/")
        return path

    @abstractmethod
    def check(self) -> dict[str, int]:
        """Check the layout under ``root`` (raise ``layout_error``); the listed count per group."""

    @abstractmethod
    def load_splits(self) -> dict[str, Dataset]:
        """Every split's Dataset."""

    @abstractmethod
    def split_settings(self) -> dict[str, Any]:
        """The settings (besides root and shape) that decide which images each split holds."""

    @property
    def image_shape(self) -> tuple[int, int]:
        """(height, width) of every image."""
        return (self.size, self.size)

    @property
    def image_size(self) -> int:
        """The width: the side of a square image."""
        return self.image_shape[1]

    def setup(self, stage: str | None = None) -> None:
        if not self.datasets:
            self.datasets = self.load_splits()

    def split_dataset(self, split: str) -> Dataset:
        self.setup()
        if split not in self.datasets:
            raise ConfigError(f"{self.name} has splits {', '.join(self.datasets)}, not {split!r}")
        return self.datasets[split]

    def counts(self) -> dict[str, int]:
        """Images per split (or per file group) after set-up."""
        return {split: len(dataset) for split, dataset in self.datasets.items()}

    def describe_extra(self) -> str:
        return ""

    def describe(self) -> str:
        self.setup()
        height, width = self.image_shape
        shape = f"{width} px" if height == width else f"{width}x{height} px (WxH)"
        counts = " / ".join(f"{n} {group}" for group, n in self.counts().items())
        return (
            f"{self.name}: {self.root} at {shape}, {self.channels} channel(s)"
            f"{self.describe_extra()}, {counts}, batch {self.batch_size}"
        )

    def content_key(self) -> dict[str, Any]:
        """The settings that decide which images each split holds (stats cache keys)."""
        return {
            "root": str(self.root),
            "shape": list(self.image_shape),
            "listed": self.listed,
            **self.split_settings(),
        }

    def loader(self, dataset: Dataset, **kwargs: Any) -> DataLoader:
        return batch_loader(dataset, self.batch_size, self.num_workers, **kwargs)

    def train_length(self) -> int:
        """Training items per epoch; at least one batch of them is needed."""
        length = len(self.split_dataset("train"))
        if length < self.batch_size:
            raise ConfigError(
                f"{self.name}: the train split has {length} images, fewer than "
                f"{self.key('batch_size')}={self.batch_size}; lower {self.key('batch_size')} or "
                "add images"
            )
        return length

    def train_dataloader(self) -> DataLoader:
        sampler = EpochShuffleSampler(self.train_length(), self.shuffle_seed)
        return self.loader(self.split_dataset("train"), sampler=sampler, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader(self.split_dataset(self.val_split))

    def test_dataloader(self) -> DataLoader:
        return self.loader(self.split_dataset("test"))


class ImageFilesDataModule(RealDataModule):
    """A real-data module whose images are files, listed per group (a split, or a split and
    domain) by ``list_groups`` in the constructor and checked at ``setup``."""

    def check(self) -> dict[str, int]:
        self.files = self.list_groups()
        self.skipped: list[Path] = []
        return {group: len(paths) for group, paths in self.files.items()}

    @abstractmethod
    def list_groups(self) -> dict[str, list[Path]]:
        """The image files of each group; raise ``layout_error`` when the layout is wrong."""

    @abstractmethod
    def make_datasets(self, files: dict[str, list[Path]]) -> dict[str, Dataset]:
        """Every split's Dataset from the readable files of each group."""

    def load_splits(self) -> dict[str, Dataset]:
        everything = [path for paths in self.files.values() for path in paths]
        bad = unreadable(everything)
        if bad and self.strict:
            raise ConfigError(
                f"{self.name}: {len(bad)} unreadable image file(s) under {self.root}: "
                f"{name_some(bad, self.root)}; replace or remove them, or set "
                f"{self.key('strict')}=false to skip them"
            )
        if bad:
            warnings.warn(
                f"{self.name}: skipping {len(bad)} unreadable image file(s) under {self.root}: "
                f"{name_some(bad, self.root)} ({self.key('strict')}=true stops the run instead)",
                stacklevel=2,
            )
        self.skipped = bad
        rejected = set(bad)
        readable = {g: [p for p in paths if p not in rejected] for g, paths in self.files.items()}
        for group, paths in self.files.items():
            if paths and not readable[group]:
                raise ConfigError(
                    f"{self.name}: none of the {len(paths)} files of {group} under {self.root} "
                    "is a readable image; check that the data set was unpacked completely"
                )
        self.readable = readable
        return self.make_datasets(readable)

    def counts(self) -> dict[str, int]:
        return {group: len(paths) for group, paths in self.readable.items()}

    def describe(self) -> str:
        described = super().describe()
        return described + (f", {len(self.skipped)} unreadable skipped" if self.skipped else "")

    def images_in(self, folder: Path) -> list[Path]:
        """``list_images(folder)``, which must not be empty."""
        paths = list_images(folder)
        if not paths:
            raise self.layout_error(f"{folder} holds no image files")
        return paths


FOLDER_LAYOUT = """\
<root>/
├── a.jpg
└── any/sub/folders/b.png   (jpg, jpeg, png, bmp, webp in any case; searched recursively)"""


class FolderDataModule(ImageFilesDataModule):
    """Every image under ``root`` (recursive, sorted), scaled to cover ``size`` and
    centre-cropped; ``val_fraction`` of them, picked by a permutation seeded with
    ``split_seed``, form the val split. Items: ``image`` (3 or 1, size, size)."""

    name = "folder"
    layout = FOLDER_LAYOUT
    source = "Use any folder of your own images."

    def __init__(
        self,
        root: Any,
        size: int = 64,
        channels: int = 3,
        val_fraction: float = 0.05,
        split_seed: int = 0,
        batch_size: int = 64,
        num_workers: int = 4,
        shuffle_seed: int = 0,
        strict: bool = False,
        config_node: str = "data",
    ) -> None:
        if not 0.0 <= val_fraction < 1.0:
            raise ConfigError(f"{config_node}.val_fraction={val_fraction} must be in [0, 1)")
        self.size = size
        self.val_fraction, self.split_seed = val_fraction, split_seed
        super().__init__(root, batch_size, num_workers, shuffle_seed, strict, channels, config_node)

    def list_groups(self) -> dict[str, list[Path]]:
        paths = self.images_in(self.root)
        order = torch.randperm(len(paths), generator=torch.Generator().manual_seed(self.split_seed))
        n_val = min(round(len(paths) * self.val_fraction), len(paths) - 1)
        return {
            "train": [paths[i] for i in sorted(order[n_val:].tolist())],
            "val": [paths[i] for i in sorted(order[:n_val].tolist())],
        }

    def make_datasets(self, files: dict[str, list[Path]]) -> dict[str, Dataset]:
        reader = ImageReader((self.size, self.size), grayscale=self.grayscale)
        return {split: ImageFiles(paths, reader) for split, paths in files.items()}

    def split_settings(self) -> dict[str, Any]:
        return {
            "grayscale": self.grayscale,
            "val_fraction": self.val_fraction,
            "split_seed": self.split_seed,
        }


FFHQ_LAYOUT = """\
<root>/
├── 00000/   00000.png ... 00999.png
├── 01000/   01000.png ... 01999.png
├── ...
└── 69000/   69000.png ... 69999.png
(or all the PNGs directly in <root>/)"""


class FFHQDataModule(ImageFilesDataModule):
    """FFHQ (Karras et al. 2019): all images under ``root`` sorted by path (the official
    ``NNN000/`` subfolders or flat); the last ``n_val`` form the val split, the rest train.
    ``n_val=10000`` gives the official split (images 0-59,999 training, 60,000-69,999
    validation). Items: ``image`` (3, size, size)."""

    name = "ffhq"
    layout = FFHQ_LAYOUT
    source = (
        "FFHQ comes from https://github.com/NVlabs/ffhq-dataset (images1024x1024/ or "
        "thumbnails128x128/)."
    )

    def __init__(
        self,
        root: Any,
        size: int = 256,
        n_val: int = 1000,
        batch_size: int = 16,
        num_workers: int = 4,
        shuffle_seed: int = 0,
        strict: bool = False,
        channels: int = 3,
        config_node: str = "data",
    ) -> None:
        self.size, self.n_val = size, n_val
        super().__init__(root, batch_size, num_workers, shuffle_seed, strict, channels, config_node)

    def list_groups(self) -> dict[str, list[Path]]:
        paths = self.images_in(self.root)
        if not 0 <= self.n_val < len(paths):
            raise self.layout_error(
                f"{self.key('root')}={self.root} holds {len(paths)} images; "
                f"{self.key('n_val')}={self.n_val} must leave at least one for training: add "
                f"images or lower {self.key('n_val')}"
            )
        cut = len(paths) - self.n_val
        return {"train": paths[:cut], "val": paths[cut:]}

    def make_datasets(self, files: dict[str, list[Path]]) -> dict[str, Dataset]:
        reader = ImageReader((self.size, self.size), grayscale=self.grayscale)
        return {split: ImageFiles(paths, reader) for split, paths in files.items()}

    def split_settings(self) -> dict[str, Any]:
        return {"n_val": self.n_val}


CARS_LAYOUT = """\
<root>/
├── cars_train/   00001.jpg ... 08144.jpg   (Kaggle's nested cars_train/cars_train/ works too)
└── cars_test/    00001.jpg ... 08041.jpg"""
CARS_VIA = ((384, 512),)  # (height, width): UDA-Inversion resizes to 512x384 first


class StanfordCarsDataModule(ImageFilesDataModule):
    """Stanford Cars (Krause et al. 2013) as in UDA-Inversion: each image is resized to
    512x384, then to ``width`` x ``height`` (256x192), aspect ratio not kept: not square, so
    ``image_shape`` is (height, width) and ``image_size`` the width. Splits: train
    (``cars_train/``) and test (``cars_test/``). Items: ``image`` (3, height, width)."""

    name = "stanford_cars"
    layout = CARS_LAYOUT
    source = (
        "Stanford Cars comes from https://ai.stanford.edu/~jkrause/cars/car_dataset.html "
        "(also on Kaggle)."
    )
    val_split = "test"

    def __init__(
        self,
        root: Any,
        width: int = 256,
        height: int = 192,
        batch_size: int = 16,
        num_workers: int = 4,
        shuffle_seed: int = 0,
        strict: bool = False,
        channels: int = 3,
        config_node: str = "data",
    ) -> None:
        self.width, self.height = width, height
        super().__init__(root, batch_size, num_workers, shuffle_seed, strict, channels, config_node)

    @property
    def image_shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    def list_groups(self) -> dict[str, list[Path]]:
        folders = {"train": self.folder("cars_train"), "test": self.folder("cars_test")}
        return {split: self.images_in(folder) for split, folder in folders.items()}

    def make_datasets(self, files: dict[str, list[Path]]) -> dict[str, Dataset]:
        reader = ImageReader(self.image_shape, grayscale=self.grayscale, fit="squash", via=CARS_VIA)
        return {split: ImageFiles(paths, reader) for split, paths in files.items()}

    def split_settings(self) -> dict[str, Any]:
        return {"via": [list(shape) for shape in CARS_VIA]}
