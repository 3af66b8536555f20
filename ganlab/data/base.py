"""The contract every ganlab DataModule keeps, stated once instead of probed with hasattr.

- :class:`DataModule`: ``name``, ``describe()`` (the one line a run prints at its start) and
  ``content_key()`` (the settings that decide its content: keys of the stats cache).
- :class:`ImageDataModule`: images in [-1, 1] with ``channels`` (a constructor argument
  checked against ``supported_channels``, so model configs read ``${data.channels}``),
  ``image_size``, ``attribute_names``, ``split_dataset(split)`` (items are dicts with
  ``image``), ``split_description(split)`` (what its images are, for metrics.json's
  protocol), ``val_split`` (the held-out split previews and periodic evaluations read),
  ``attribute_table(split)`` (labelled data), ``feature_dataset`` (the
  embedded data set whose domain net judges its images), ``judges`` (the names of the
  judges of generated images it offers, ``ganlab.evaluation.judges``) and ``paired_with``
  (paired data: the item key of the image each ``image`` is paired with, e.g. ``edges``).
- :class:`TwoDomainDataModule`: unpaired domains (``domains``, ``domain_dataset(split,
  domain)``, ``domain_attributes(domain)``) for translation methods.

A run checks at its start that ``data=`` built a :class:`DataModule`.
"""

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Protocol, runtime_checkable

import pytorch_lightning as pl
from torch import Tensor
from torch.utils.data import Dataset

from ganlab.errors import ConfigError


@runtime_checkable
class RendersGroundTruth(Protocol):
    """Data that can draw any of its items with other attribute values (ToyFaces): the
    ground truth of attribute translation that real data cannot give."""

    def render_face(self, attributes: Tensor, identity: Tensor) -> Tensor:
        """(C, H, W) in [-1, 1]: the face of ``identity`` with ``attributes``."""
        ...


class DataModule(pl.LightningDataModule, ABC):
    name: str

    @abstractmethod
    def describe(self) -> str:
        """One line: what the data is, its size and batch."""

    @abstractmethod
    def content_key(self) -> dict[str, Any]:
        """The settings that decide which items each split holds (stats cache keys)."""


class ImageDataModule(DataModule):
    supported_channels: ClassVar[tuple[int, ...]] = (3,)
    attribute_names: tuple[str, ...] = ()
    judges: tuple[str, ...] = ()  # judges of generated images it offers (evaluation.judges)
    val_split: str = "val"  # the held-out split previews and periodic evaluations read
    paired_with: str | None = None  # the item key of each image's pair (e.g. "edges")

    def __init__(self, channels: int) -> None:
        super().__init__()
        if channels not in self.supported_channels:
            options = " or ".join(map(str, self.supported_channels))
            raise ConfigError(
                f"{self.name} gives {options}-channel images; data.channels={channels} is not "
                "possible"
            )
        self.channels = channels

    @property
    @abstractmethod
    def image_size(self) -> int:
        """The side of a square image (the width otherwise)."""

    @abstractmethod
    def split_dataset(self, split: str) -> Dataset:
        """The items of ``split`` (dicts with ``image`` (C, H, W) in [-1, 1])."""

    def split_description(self, split: str) -> str:
        """What the images of ``split`` are, as metrics.json's protocol names a reference."""
        return f"{self.name} {split} split"

    def attribute_table(self, split: str) -> Tensor:
        """(N, len(attribute_names)) 0/1 attributes of every item of ``split``, read without
        decoding images; only for attribute-labelled data."""
        raise ConfigError(f"{self.name} has no attribute labels (try toyfaces or celebahq)")

    @property
    def feature_dataset(self) -> str:
        """The embedded data set whose domain net (``features=domain``) judges these images."""
        return self.name

    @property
    def translated_as_pairs(self) -> bool:
        """Whether an attribute translator sees this data as two paired domains (``image``
        and its ``paired_with``) rather than as labelled images."""
        return not self.attribute_names and self.paired_with is not None


class TwoDomainDataModule(ImageDataModule):
    domains: tuple[str, ...]

    @abstractmethod
    def domain_dataset(self, split: str, domain: str) -> Dataset:
        """The ``split`` images of one domain alone."""

    def domain_attributes(self, domain: str) -> dict[str, int]:
        """Attribute values every image of ``domain`` has (for attribute accuracy of
        translations); none by default."""
        return {}

    def check_domain(self, domain: str) -> None:
        if domain not in self.domains:
            raise ConfigError(f"{self.name} has domains {', '.join(self.domains)}, not {domain!r}")
