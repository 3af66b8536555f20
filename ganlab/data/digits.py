"""Embedded data: scikit-learn's bundled handwritten digits (1,797 real 8x8 scans, 10 classes).

The scans ship inside scikit-learn, so nothing is downloaded. Images are scaled from 0..16
to [-1, 1] and upsampled bilinearly to ``size`` px (``channels: 3`` repeats the grey
channel); the train/val split is a seeded permutation, the same on every machine. Generated
digits are judged by a digits classifier (``judges``: ``ganlab.evaluation.judges``).
"""

from typing import Any

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from ganlab.data.base import ImageDataModule
from ganlab.data.samplers import EpochShuffleSampler
from ganlab.errors import ConfigError


def load_digit_scans() -> tuple[Tensor, Tensor]:
    """All 1,797 scans as (N, 1, 8, 8) floats in [0, 16] and their (N,) integer labels."""
    digits = load_digits()
    images = torch.as_tensor(digits.images, dtype=torch.float32).unsqueeze(1)
    return images, torch.as_tensor(digits.target, dtype=torch.long)


def scans_to_images(scans: Tensor, size: int) -> Tensor:
    """(N, 1, 8, 8) in [0, 16] -> (N, 1, size, size) in [-1, 1]."""
    images = scans / 8.0 - 1.0
    if size != scans.shape[-1]:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    return images.clamp(-1.0, 1.0)


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """A seeded permutation of range(n) cut into (train, val)."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = round(n * val_fraction)
    return order[n_val:], order[:n_val]


class DigitsDataset(Dataset):
    """Items are dicts: ``image`` (1, size, size) in [-1, 1] and ``label`` (int)."""

    def __init__(self, images: Tensor, labels: Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"image": self.images[index], "label": self.labels[index]}


class DigitsDataModule(ImageDataModule):
    name = "digits"
    supported_channels = (1, 3)
    judges = ("digits_classifier",)

    def __init__(
        self,
        size: int = 32,
        channels: int = 1,
        batch_size: int = 64,
        val_fraction: float = 0.1,
        split_seed: int = 0,
        shuffle_seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__(channels)
        self.size, self.batch_size, self.num_workers = size, batch_size, num_workers
        self.val_fraction, self.split_seed, self.shuffle_seed = (
            val_fraction,
            split_seed,
            shuffle_seed,
        )
        self.train_set: DigitsDataset | None = None
        self.val_set: DigitsDataset | None = None

    @property
    def image_size(self) -> int:
        return self.size

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        scans, labels = load_digit_scans()
        images = scans_to_images(scans, self.size).repeat(1, self.channels, 1, 1)
        train, val = split_indices(len(labels), self.val_fraction, self.split_seed)
        self.train_set = DigitsDataset(images[train], labels[train])
        self.val_set = DigitsDataset(images[val], labels[val])

    def split_dataset(self, split: str) -> DigitsDataset:
        """The ``train`` or ``val`` images (digits has no test split)."""
        self.setup()
        splits = {"train": self.train_set, "val": self.val_set}
        if split not in splits:
            raise ConfigError(f"digits has splits {', '.join(splits)}, not {split!r}")
        return splits[split]

    def content_key(self) -> dict[str, Any]:
        """The settings that decide which images each split holds (stats cache keys)."""
        identity = {"size": self.size, "val_fraction": self.val_fraction}
        identity["split_seed"] = self.split_seed
        return identity if self.channels == 1 else {**identity, "channels": self.channels}

    def describe(self) -> str:
        self.setup()
        return (
            f"digits: scikit-learn handwritten digits upsampled 8->{self.size} px, "
            f"{self.channels} channel(s), "
            f"{len(self.train_set)} train / {len(self.val_set)} val, batch {self.batch_size}"
        )

    def train_dataloader(self) -> DataLoader:
        self.setup()
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            sampler=EpochShuffleSampler(len(self.train_set), self.shuffle_seed),
            drop_last=True,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def val_dataloader(self) -> DataLoader:
        self.setup()
        return DataLoader(self.val_set, batch_size=self.batch_size, num_workers=self.num_workers)
