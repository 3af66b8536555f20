"""Embedded domain adaptation in UNIT's style (Liu et al. 2017, Table 2): printed digits
rendered from fonts (domain ``printed``) and scikit-learn's handwritten scans (domain
``handwritten``), the same ten classes in two looks. ``data=digit_domains``.

- **printed**: digit ``i mod 10`` drawn in white with PIL from one of the DejaVu fonts that
  matplotlib ships (sans, serif, mono; regular, bold, oblique), at a random size, position
  and rotation, at 4x and box-filtered down, on black (as the scans: ink +1, paper -1).
  Item ``i`` of a split comes from ``default_rng((seed, split, i))``, the same everywhere.
- **handwritten**: the 1,797 scans (``ganlab.data.digits``), a seeded 80/20 train/test cut.

Batches pair the domains unpaired (independent seeded orders): ``image_a``/``label_a``
(printed), ``image_b``/``label_b`` (handwritten), ``image`` (= ``image_a``). Which domain's
labels a method may train on is the method's setting; the other's are for evaluation only.
"""

from functools import cache
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from ganlab.data.base import TwoDomainDataModule
from ganlab.data.digits import DigitsDataset, load_digit_scans, scans_to_images, split_indices
from ganlab.data.paired import IndependentPairs
from ganlab.data.samplers import batch_loader
from ganlab.errors import ConfigError

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FONT_FILES = tuple(
    f"DejaVu{family}{style}.ttf"
    for family in ("Sans", "Serif", "SansMono")
    for style in ("", "-Bold", "-Oblique" if family != "Serif" else "-Italic")
)
SUPERSAMPLE = 4
SPLIT_STREAMS = {"train": 0, "test": 1}


@cache
def font(name: str, pixels: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_DIR / name), pixels)


def render_printed_digit(digit: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """One printed digit as a (size, size) float32 array in [-1, 1], white on black."""
    canvas = size * SUPERSAMPLE
    face = font(FONT_FILES[rng.integers(len(FONT_FILES))], int(canvas * rng.uniform(0.95, 1.2)))
    image = Image.new("L", (canvas, canvas), 0)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = draw.textbbox((0, 0), str(digit), font=face)
    shift = rng.uniform(-0.06, 0.06, 2) * canvas
    x = (canvas - (right - left)) / 2 - left + shift[0]
    y = (canvas - (bottom - top)) / 2 - top + shift[1]
    draw.text((x, y), str(digit), fill=255, font=face)
    image = image.rotate(rng.uniform(-12, 12), resample=Image.Resampling.BILINEAR)
    small = np.asarray(image.reduce(SUPERSAMPLE), dtype=np.float32)
    return small / 127.5 - 1.0


def render_printed_digits(n: int, size: int, seed: int, split: str) -> tuple[Tensor, Tensor]:
    """(n, 1, size, size) printed digits in [-1, 1] and their (n,) labels (item i: i mod 10)."""
    images = np.stack(
        [
            render_printed_digit(
                i % 10, size, np.random.default_rng((seed, SPLIT_STREAMS[split], i))
            )
            for i in range(n)
        ]
    )
    return torch.from_numpy(images)[:, None], torch.arange(n) % 10


class LabelledPairs(Dataset):
    """Items ``{"image_a", "label_a", "image_b", "label_b", "image"}`` indexed by an (a, b)
    pair (training) or an int i: a's item i with b's item i mod len(b) (evaluation)."""

    def __init__(self, a: DigitsDataset, b: DigitsDataset) -> None:
        self.a, self.b = a, b

    def __len__(self) -> int:
        return len(self.a)

    def __getitem__(self, index: int | tuple[int, int]) -> dict[str, Any]:
        index_a, index_b = index if isinstance(index, tuple) else (index, index % len(self.b))
        a, b = self.a[index_a], self.b[index_b]
        return {
            "image_a": a["image"],
            "label_a": a["label"],
            "image_b": b["image"],
            "label_b": b["label"],
            "image": a["image"],
        }


class DigitDomainsDataModule(TwoDomainDataModule):
    name = "digit_domains"
    domains = ("printed", "handwritten")
    supported_channels = (1, 3)
    val_split = "test"

    def __init__(
        self,
        size: int = 32,
        channels: int = 1,
        batch_size: int = 32,
        n_printed_train: int = 5000,
        n_printed_test: int = 1000,
        seed: int = 0,
        test_fraction: float = 0.2,
        shuffle_seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__(channels)
        self.size, self.batch_size, self.num_workers = size, batch_size, num_workers
        self.printed_sizes = {"train": n_printed_train, "test": n_printed_test}
        self.seed, self.test_fraction, self.shuffle_seed = seed, test_fraction, shuffle_seed
        self.splits: dict[str, LabelledPairs] = {}

    @property
    def image_size(self) -> int:
        return self.size

    @property
    def feature_dataset(self) -> str:
        return "digits"

    def split_dataset(self, split: str) -> LabelledPairs:
        if split not in SPLIT_STREAMS:
            raise ConfigError(f"digit_domains has splits train, test, not {split!r}")
        if split not in self.splits:
            self.splits[split] = LabelledPairs(
                DigitsDataset(*self.domain_arrays(split, 0)),
                DigitsDataset(*self.domain_arrays(split, 1)),
            )
        return self.splits[split]

    def domain_arrays(self, split: str, side: int) -> tuple[Tensor, Tensor]:
        """(N, C, size, size) images in [-1, 1] and (N,) labels of domain ``side`` (0: a)."""
        return self.printed(split) if side == 0 else self.handwritten(split)

    def printed(self, split: str) -> tuple[Tensor, Tensor]:
        images, labels = render_printed_digits(
            self.printed_sizes[split], self.size, self.seed, split
        )
        return images.repeat(1, self.channels, 1, 1), labels

    def handwritten(self, split: str) -> tuple[Tensor, Tensor]:
        scans, labels = load_digit_scans()
        train, test = split_indices(len(labels), self.test_fraction, self.seed)
        chosen = train if split == "train" else test
        images = scans_to_images(scans[chosen], self.size).repeat(1, self.channels, 1, 1)
        return images, labels[chosen]

    def domain_dataset(self, split: str, domain: str) -> DigitsDataset:
        self.check_domain(domain)
        pairs = self.split_dataset(split)
        return pairs.a if domain == self.domains[0] else pairs.b

    def attribute_table(self, split: str) -> Tensor:
        raise ConfigError("digit_domains has class labels, not attributes")

    def setup(self, stage: str | None = None) -> None:
        self.split_dataset("train")

    def content_key(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "seed": self.seed,
            "printed": self.printed_sizes,
            "test_fraction": self.test_fraction,
            "channels": self.channels,
        }

    def describe(self) -> str:
        train, test = self.split_dataset("train"), self.split_dataset("test")
        return (
            f"digit_domains: printed (fonts) {len(train.a)} train / {len(test.a)} test, "
            f"handwritten (scikit-learn scans) {len(train.b)} / {len(test.b)}, {self.size} px, "
            f"batch {self.batch_size}"
        )

    def train_dataloader(self) -> DataLoader:
        train = self.split_dataset("train")
        sampler = IndependentPairs(len(train.a), len(train.b), self.shuffle_seed)
        return batch_loader(
            train, self.batch_size, self.num_workers, sampler=sampler, drop_last=True
        )

    def val_dataloader(self) -> DataLoader:
        return batch_loader(self.split_dataset("test"), self.batch_size, self.num_workers)
