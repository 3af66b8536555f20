"""Two-domain real data: ``unaligned`` (any trainA/trainB/testA/testB folders), unpaired
``yosemite`` (CycleGAN's summer2winter_yosemite) and
paired ``edges2shoes`` (pix2pix), plus ``IndependentPairs``, the sampler that draws two
domains independently (also used by the UDA splits in ``domains.py``).

Unpaired training batches pair each A image with a B image drawn from B's own seeded
permutation, a fresh one every epoch, so which images meet changes from epoch to epoch and
depends only on (seed, epoch). Paired items come from one 'A|B' file, split down the middle.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from ganlab.data.base import TwoDomainDataModule
from ganlab.data.images import ImageFiles, ImageReader, SideBySideReader
from ganlab.data.real import ImageFilesDataModule
from ganlab.data.samplers import EpochShuffleSampler
from ganlab.errors import ConfigError

B_STREAM = 1_000_003  # seed offset of the second domain's order, far from seed + epoch


class IndependentPairs(Sampler[tuple[int, int]]):
    """``(a, b)`` index pairs from two independent epoch permutations (of ``length_a`` and
    ``length_b`` items); an epoch is ``max(length_a, length_b)`` pairs, the shorter order
    wrapping around. Lightning's ``set_epoch`` reshuffles both."""

    def __init__(self, length_a: int, length_b: int, seed: int = 0) -> None:
        self.a = EpochShuffleSampler(length_a, seed)
        self.b = EpochShuffleSampler(length_b, seed + B_STREAM)

    def set_epoch(self, epoch: int) -> None:
        self.a.set_epoch(epoch)
        self.b.set_epoch(epoch)

    def __len__(self) -> int:
        return max(len(self.a), len(self.b))

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order_a, order_b = list(self.a), list(self.b)
        for i in range(len(self)):
            yield order_a[i % len(order_a)], order_b[i % len(order_b)]


class UnpairedImages(Dataset):
    """Items ``{"image_a", "image_b", "image"}`` (``image`` is ``image_a``) from two image sets.

    Indexed by an ``(a, b)`` pair (training, with ``IndependentPairs``) or by an int ``i``:
    A image ``i`` with B image ``order[i % len(b)]``, ``order`` a permutation seeded with
    ``seed`` (a fixed pairing for evaluation). ``len`` is the number of A images.
    """

    def __init__(self, a: ImageFiles, b: ImageFiles, seed: int = 0) -> None:
        self.a, self.b = a, b
        self.order = torch.randperm(len(b), generator=torch.Generator().manual_seed(seed)).tolist()

    def __len__(self) -> int:
        return len(self.a)

    def __getitem__(self, index: int | tuple[int, int]) -> dict[str, Tensor]:
        if isinstance(index, tuple):
            index_a, index_b = index
        else:
            index_a, index_b = index, self.order[index % len(self.b)]
        image_a, image_b = self.a[index_a]["image"], self.b[index_b]["image"]
        return {"image_a": image_a, "image_b": image_b, "image": image_a}


UNALIGNED_LAYOUT = """\
<root>/
├── trainA/   domain A images (jpg, jpeg, png, bmp, webp; searched recursively)
├── trainB/   domain B images
├── testA/
└── testB/"""


class UnalignedDataModule(ImageFilesDataModule, TwoDomainDataModule):
    """Two unpaired image folders in CycleGAN's trainA / trainB / testA / testB layout
    (horse2zebra, summer2winter_yosemite, edges2shoes split into halves, or your own), scaled
    to cover ``size`` and centre-cropped. ``domains`` names A and B. Splits: train and test,
    each ``UnpairedImages``; ``domain_dataset(split, domain)`` gives one domain's images
    alone. A missing or empty folder stops the run naming it and the layout."""

    name = "unaligned"
    default_domains = ("a", "b")
    layout = UNALIGNED_LAYOUT
    source = (
        "Any two folders of images work; CycleGAN's sets come from "
        "https://efrosgans.eecs.berkeley.edu/cyclegan/datasets/."
    )
    val_split = "test"

    def __init__(
        self,
        root: Any,
        size: int = 256,
        batch_size: int = 1,
        num_workers: int = 4,
        shuffle_seed: int = 0,
        strict: bool = False,
        channels: int = 3,
        domains: Any = None,
    ) -> None:
        self.size = size
        if domains is None:
            domains = self.default_domains
        self.domains = tuple(str(name) for name in domains)
        if len(self.domains) != 2 or len(set(self.domains)) != 2:
            raise ConfigError(f"data.domains names the two domains A and B, got {list(domains)}")
        super().__init__(root, batch_size, num_workers, shuffle_seed, strict, channels)

    def list_groups(self) -> dict[str, list[Path]]:
        groups = ("trainA", "trainB", "testA", "testB")
        folders = {group: self.folder(group) for group in groups}
        return {group: self.images_in(folder) for group, folder in folders.items()}

    def make_datasets(self, files: dict[str, list[Path]]) -> dict[str, Dataset]:
        reader = ImageReader((self.size, self.size), grayscale=self.grayscale)
        return {
            split: UnpairedImages(
                ImageFiles(files[f"{split}A"], reader), ImageFiles(files[f"{split}B"], reader)
            )
            for split in ("train", "test")
        }

    def domain_dataset(self, split: str, domain: str) -> ImageFiles:
        """The ``split`` images of one domain (the first of ``domains`` = A) alone."""
        self.check_domain(domain)
        pairs = self.split_dataset(split)
        return pairs.a if domain == self.domains[0] else pairs.b

    def split_settings(self) -> dict[str, Any]:
        return {"domains": list(self.domains)}

    def train_dataloader(self) -> DataLoader:
        self.train_length()
        pairs = self.split_dataset("train")
        sampler = IndependentPairs(len(pairs.a), len(pairs.b), self.shuffle_seed)
        return self.loader(pairs, sampler=sampler, drop_last=True)


class YosemiteDataModule(UnalignedDataModule):
    """summer2winter_yosemite (CycleGAN, Zhu et al. 2017): unpaired summer (A) and winter (B)
    photos in the unaligned layout."""

    name = "yosemite"
    default_domains = ("summer", "winter")
    source = (
        "summer2winter_yosemite comes from "
        "https://efrosgans.eecs.berkeley.edu/cyclegan/datasets/summer2winter_yosemite.zip."
    )

    def split_settings(self) -> dict[str, Any]:
        return {}


EDGES2SHOES_LAYOUT = """\
<root>/
├── train/   1_AB.jpg ... 49825_AB.jpg   (each 512x256: edges on the left | photo on the right)
└── val/     1_AB.jpg ... 200_AB.jpg"""


class Edges2ShoesDataModule(ImageFilesDataModule):
    """edges2shoes (pix2pix, Isola et al. 2017): each file holds an edge map (left half) and
    its shoe photo (right half). Items: ``edges`` and ``image``, both (3, size, size) in
    [-1, 1] (edges are black lines on white, as in the files). Splits: train and val."""

    name = "edges2shoes"
    supported_channels = (3,)
    paired_with = "edges"
    layout = EDGES2SHOES_LAYOUT
    source = (
        "edges2shoes comes from "
        "https://efrosgans.eecs.berkeley.edu/pix2pix/datasets/edges2shoes.tar.gz."
    )

    def __init__(
        self,
        root: Any,
        size: int = 256,
        batch_size: int = 16,
        num_workers: int = 4,
        shuffle_seed: int = 0,
        strict: bool = False,
        channels: int = 3,
    ) -> None:
        self.size = size
        super().__init__(root, batch_size, num_workers, shuffle_seed, strict, channels)

    def list_groups(self) -> dict[str, list[Path]]:
        folders = {"train": self.folder("train"), "val": self.folder("val")}
        return {split: self.images_in(folder) for split, folder in folders.items()}

    def make_datasets(self, files: dict[str, list[Path]]) -> dict[str, Dataset]:
        reader = SideBySideReader(self.size)
        return {split: ImageFiles(paths, reader) for split, paths in files.items()}

    def split_settings(self) -> dict[str, Any]:
        return {}
