"""Domain splits of a base data set: source / target for UDA-Inversion, and two unpaired
domains by an attribute for image-to-image translation (``AttributeDomainsDataModule``).

Source / target domain splits for UDA-Inversion (Xing et al., "Unsupervised Domain
Adaptation GAN Inversion for Image Editing").

The training images of a base data set, in its fixed order, are cut in two: the first
``source_fraction`` (half by default) form the source domain, kept clean; the rest form the
target domain, whose images are degraded by ``degradation``, any callable mapping a
(B, C, H, W) batch in [-1, 1] to one of the same shape (e.g. ``ganlab.data.degradations``;
None keeps the target clean). The two domains never share an image.

- Training batches (``DomainSplit``): ``{"source", "target", "image", "source_index",
  "target_index"}`` with (B, C, H, W) images; ``image`` is ``source``. Source and target are
  drawn by two independent seeded orders (``IndependentPairs``), so they are unpaired. The
  degradation is applied to the whole target batch in the collate function, so what the
  loader yields is what the model sees. Clean targets are never in a training batch.
- Evaluation (``TargetPairs``): ``{"degraded", "clean", "image", "index"}``, where ``clean``
  (and ``image``) is the base split's image ``index`` and ``degraded`` its degraded copy.
  Item ``index`` is degraded under torch's RNG seeded with ``eval_seed + index``, so a pair
  is the same in every batch, process and run. ``split_dataset(split)`` gives these pairs
  for val/test (every image of the base split is a target image) and ``target_pairs("train")``
  the target half of the training images with their clean originals.

``UDADataModule`` wraps any base DataModule (an instance, or a Hydra config that it
instantiates). ``degradation`` is a callable, a Hydra config of one, or a ``degradation/``
group config (``{name: ..., **params}``, read by ``ganlab.data.degradations.from_config``):
``conf/data/uda_toyfaces.yaml`` composes the group, so ``degradation=rain`` picks it::

    python -m ganlab.run data=uda_toyfaces degradation=rain
"""

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset, default_collate

from ganlab.data import degradations
from ganlab.data.base import ImageDataModule, TwoDomainDataModule
from ganlab.data.paired import IndependentPairs, UnpairedImages
from ganlab.data.samplers import batch_loader
from ganlab.errors import ConfigError, GanlabError

Degradation = Callable[[Tensor], Tensor]
DRAW_STREAM = 1_000_003  # seed of a training draw's degradation: seed x DRAW_STREAM + draw


def domain_indices(length: int, source_fraction: float) -> tuple[range, range]:
    """(source, target) indices: the first ``source_fraction`` of range(length), the rest."""
    n_source = round(length * source_fraction)
    if not 0 < n_source < length:
        raise ConfigError(
            f"source_fraction={source_fraction} of {length} training images leaves a domain "
            "empty; use a fraction in (0, 1) and at least two training images"
        )
    return range(n_source), range(n_source, length)


@torch.no_grad()
def degrade(degradation: Degradation, images: Tensor) -> Tensor:
    """``degradation(images)`` for a (B, C, H, W) batch, which must keep its shape."""
    degraded = degradation(images)
    if degraded.shape != images.shape:
        raise GanlabError(
            f"the degradation turned a {tuple(images.shape)} batch into "
            f"{tuple(degraded.shape)}; it must return a batch of the same shape"
        )
    return degraded


def callable_name(function: Any) -> str:
    name = getattr(function, "name", None) or getattr(function, "__name__", None)
    return str(name or type(function).__name__)


class NumberedPairs(IndependentPairs):
    """``IndependentPairs`` that also number each draw (epoch x length + position), so what
    is drawn for a position of the stream can be seeded by its number alone."""

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        start = self.a.epoch * len(self)
        for position, (a, b) in enumerate(super().__iter__()):
            yield a, b, start + position


class DomainSplit(Dataset):
    """Unpaired source/target training pairs over ``dataset`` (items with ``image``).

    Indexed by ``(i, j, draw)`` from ``sampler()``: source image ``source[i]`` and target
    image ``target[j]`` (indices into ``dataset``). Load it with ``collate``, which degrades
    the target batch; a ganlab degradation draws sample k's parameters from the seed
    (``seed``, draw number), so a draw is degraded alike however a batch is split between
    processes. ``paired`` adds ``target_clean``, the clean original of each target image
    (supervised baselines only: UDA-Inversion never sees it).
    """

    def __init__(
        self,
        dataset: Dataset,
        degradation: Degradation | None = None,
        source_fraction: float = 0.5,
        seed: int = 0,
        paired: bool = False,
    ) -> None:
        self.dataset, self.degradation, self.seed = dataset, degradation, seed
        self.source, self.target = domain_indices(len(dataset), source_fraction)
        self.paired = paired

    def __len__(self) -> int:
        return max(len(self.source), len(self.target))

    def __getitem__(self, pair: tuple[int, int, int]) -> dict[str, Any]:
        """``pair``: (source position, target position, draw number), as ``sampler()`` gives."""
        source, target = self.source[pair[0]], self.target[pair[1]]
        image, target_image = self.dataset[source]["image"], self.dataset[target]["image"]
        item = {
            "source": image,
            "target": target_image,
            "image": image,
            "source_index": source,
            "target_index": target,
            "draw": pair[2],
        }
        return item | ({"target_clean": target_image} if self.paired else {})

    def sampler(self) -> NumberedPairs:
        """Two independent epoch orders, over the source and over the target images."""
        return NumberedPairs(len(self.source), len(self.target), self.seed)

    def collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        batch = default_collate(items)
        if isinstance(self.degradation, degradations.Degradation):
            seeds = self.seed * DRAW_STREAM + batch["draw"]
            batch["target"] = self.degradation.degrade(batch["target"], seeds)
        elif self.degradation is not None:
            batch["target"] = degrade(self.degradation, batch["target"])
        return batch


class TargetPairs(Dataset):
    """Items ``{"degraded", "clean", "image", "index"}`` for images ``indices`` of ``dataset``:
    ``clean`` = ``image`` = ``dataset[index]["image"]``, ``degraded`` its degraded copy
    (under torch's RNG seeded with ``seed + index``; ``clean`` itself when no degradation)."""

    def __init__(
        self,
        dataset: Dataset,
        degradation: Degradation | None,
        indices: Sequence[int],
        seed: int = 0,
    ) -> None:
        self.dataset, self.degradation, self.indices, self.seed = (
            dataset,
            degradation,
            indices,
            seed,
        )

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> dict[str, Any]:
        index = self.indices[position]
        clean = self.dataset[index]["image"]
        degraded = clean
        if isinstance(self.degradation, degradations.Degradation):
            # a generator of its own: the same draw as torch.manual_seed(seed + index), without
            # reseeding every device's RNG (3 ms a call, most of this item's time)
            degraded = self.degradation(clean[None], self.seed + index)[0]
        elif self.degradation is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed + index)
                degraded = degrade(self.degradation, clean[None])[0]
        return {"degraded": degraded, "clean": clean, "image": clean, "index": index}


def build(node: Any) -> Any:
    """A Hydra config (with ``_target_``) instantiated; else ``node``."""
    if isinstance(node, Mapping | DictConfig) and "_target_" in node:
        return instantiate(node)
    return node


def build_degradation(node: Any) -> Degradation | None:
    """None, a callable, a Hydra config of one, or a ``degradation/`` group config."""
    if isinstance(node, Mapping | DictConfig) and "_target_" not in node:
        return degradations.from_config(node)
    return build(node)


class UDADataModule(ImageDataModule):
    """Source/target domains over the training split of ``base`` (see the module docstring).

    ``batch_size`` and ``num_workers`` default to the base module's; ``shuffle_seed`` seeds
    the two training orders, ``eval_seed`` the degradations of the evaluation pairs.
    ``channels`` and ``size``, when given (configs pass them on for the model configs to
    read), must be the base's.
    """

    supported_channels = (1, 3)

    def __init__(
        self,
        base: Any,
        degradation: Any = None,
        source_fraction: float = 0.5,
        batch_size: int | None = None,
        num_workers: int | None = None,
        shuffle_seed: int = 0,
        eval_seed: int = 0,
        channels: int | None = None,
        size: int | None = None,
        paired: bool = False,
        eval_base: Any = None,
    ) -> None:
        if not 0.0 < source_fraction < 1.0:
            raise ConfigError(f"data.source_fraction={source_fraction} must be in (0, 1)")
        self.base = build(base)
        self.name = f"uda_{self.base.name}"
        super().__init__(self.base.channels)
        for key, given, actual in (
            ("channels", channels, self.base.channels),
            ("size", size, self.base.image_size),
        ):
            if given is not None and given != actual:
                raise ConfigError(f"data.{key}={given} but the base data gives {actual}")
        self.degradation: Degradation | None = build_degradation(degradation)
        self.eval_base = build(eval_base) if eval_base is not None else None
        if self.eval_base is not None and self.eval_base.image_size != self.base.image_size:
            raise ConfigError(
                f"data.eval_base gives {self.eval_base.image_size} px images, data.base "
                f"{self.base.image_size} px; give both the same size"
            )
        if self.degradation is not None and not callable(self.degradation):
            raise ConfigError(
                f"data.degradation must be a callable (B, C, H, W) -> (B, C, H, W) or its "
                f"config, not {type(self.degradation).__name__}"
            )
        self.source_fraction, self.shuffle_seed, self.eval_seed = (
            source_fraction,
            shuffle_seed,
            eval_seed,
        )
        self.paired = paired
        self.batch_size = batch_size or self.base.batch_size
        self.num_workers = self.base.num_workers if num_workers is None else num_workers
        self.attribute_names = self.base.attribute_names
        self.domains: DomainSplit | None = None

    @property
    def image_size(self) -> int:
        return self.base.image_size

    @property
    def feature_dataset(self) -> str:
        return self.base.feature_dataset

    @property
    def val_split(self) -> str:
        return (self.eval_base or self.base).val_split

    @property
    def image_shape(self) -> tuple[int, int]:
        return getattr(self.base, "image_shape", (self.image_size, self.image_size))

    def setup(self, stage: str | None = None) -> None:
        if self.domains is None:
            self.base.setup()
            self.domains = DomainSplit(
                self.base.split_dataset("train"),
                self.degradation,
                self.source_fraction,
                self.shuffle_seed,
                self.paired,
            )

    def target_pairs(self, split: str) -> TargetPairs:
        """Degraded/clean pairs: the target half of ``train``, or every image of another split
        (of ``eval_base`` when there is one, e.g. CelebA-HQ's test faces for FFHQ training)."""
        self.setup()
        if split == "train":
            return TargetPairs(
                self.domains.dataset, self.degradation, self.domains.target, self.eval_seed
            )
        dataset = (self.eval_base or self.base).split_dataset(split)
        return TargetPairs(dataset, self.degradation, range(len(dataset)), self.eval_seed)

    def split_dataset(self, split: str) -> Dataset:
        """``train``: the source (clean) training images, items as the base's; any other split
        of the base: its ``target_pairs``."""
        self.setup()
        if split == "train":
            return Subset(self.domains.dataset, self.domains.source)
        return self.target_pairs(split)

    def split_description(self, split: str) -> str:
        """``train``: the clean source half of the base's training images; any other split:
        the clean images of that split of ``eval_base`` (or of the base), e.g. CelebA-HQ's
        test faces, the images UDA-Inversion's Table II evaluates on."""
        if split == "train":
            return f"{self.name} train split (the clean source half of {self.base.name} train)"
        evaluated = self.eval_base or self.base
        return f"{evaluated.name} {split} split, clean images ({self.name}'s evaluation images)"

    def content_key(self) -> dict[str, Any]:
        """The settings that decide which images each split holds (stats cache keys)."""
        evaluated = {} if self.eval_base is None else {"eval_base": self.eval_base.content_key()}
        return evaluated | {
            "base": self.base.name,
            "base_identity": self.base.content_key(),
            "source_fraction": self.source_fraction,
        }

    def describe(self) -> str:
        self.setup()
        degradation = callable_name(self.degradation) if self.degradation else "none"
        return (
            f"uda over [{self.base.describe()}]: {len(self.domains.source)} source (clean) / "
            f"{len(self.domains.target)} target (degradation: {degradation}) training images, "
            f"batch {self.batch_size}"
            + (f"; evaluated on [{self.eval_base.describe()}]" if self.eval_base else "")
        )

    def loader(self, dataset: Dataset, **kwargs: Any) -> DataLoader:
        return batch_loader(dataset, self.batch_size, self.num_workers, **kwargs)

    def train_dataloader(self) -> DataLoader:
        self.setup()
        if len(self.domains) < self.batch_size:
            raise ConfigError(
                f"{self.name}: the larger domain has {len(self.domains)} training images, "
                f"fewer than data.batch_size={self.batch_size}; lower data.batch_size"
            )
        return self.loader(
            self.domains,
            sampler=self.domains.sampler(),
            collate_fn=self.domains.collate,
            drop_last=True,
        )

    def val_dataloader(self) -> DataLoader:
        return self.loader(self.target_pairs(self.val_split))

    def test_dataloader(self) -> DataLoader:
        return self.loader(self.target_pairs("test"))


class AttributeDomainsDataModule(TwoDomainDataModule):
    """Two unpaired domains of an attribute-labelled base data set: ``a`` holds the images
    without ``attribute``, ``b`` those with it (e.g. toyfaces without / with eyeglasses), in
    every split. Training batches ``{"image_a", "image_b", "image"}`` pair the domains by two
    independent seeded orders; ``domain_dataset(split, domain)`` gives one domain alone and
    ``domain_attributes`` tells the attribute value each domain has, so translations can be
    scored by the data's attribute classifier."""

    supported_channels = (1, 3)
    domains = ("a", "b")

    def __init__(
        self,
        base: Any,
        attribute: str,
        batch_size: int | None = None,
        num_workers: int | None = None,
        shuffle_seed: int = 0,
        channels: int | None = None,
        size: int | None = None,
    ) -> None:
        self.base = build(base)
        self.name = f"{self.base.name}_{attribute}"
        super().__init__(self.base.channels)
        if attribute not in self.base.attribute_names:
            raise ConfigError(
                f"data.attribute={attribute} is not an attribute of {self.base.name}; its "
                f"attributes: {', '.join(self.base.attribute_names) or '(none)'}"
            )
        for key, given, actual in (
            ("channels", channels, self.base.channels),
            ("size", size, self.base.image_size),
        ):
            if given is not None and given != actual:
                raise ConfigError(f"data.{key}={given} but the base data gives {actual}")
        self.attribute = attribute
        self.batch_size = batch_size or self.base.batch_size
        self.num_workers = self.base.num_workers if num_workers is None else num_workers
        self.shuffle_seed = shuffle_seed
        self.attribute_names = self.base.attribute_names
        self.splits: dict[str, UnpairedImages] = {}

    @property
    def image_size(self) -> int:
        return self.base.image_size

    @property
    def feature_dataset(self) -> str:
        return self.base.feature_dataset

    def split_dataset(self, split: str) -> UnpairedImages:
        """Items ``{"image_a", "image_b", "image"}``: every a image with a fixed b image."""
        if split not in self.splits:
            column = self.base.attribute_names.index(self.attribute)
            values = self.base.attribute_table(split)[:, column]
            dataset = self.base.split_dataset(split)
            a, b = (Subset(dataset, torch.nonzero(values == v).flatten().tolist()) for v in (0, 1))
            if len(a) == 0 or len(b) == 0:
                raise ConfigError(
                    f"{self.name}: the {split} split has {len(a)} images without and {len(b)} "
                    f"with {self.attribute}; both domains need images"
                )
            self.splits[split] = UnpairedImages(a, b, self.shuffle_seed)
        return self.splits[split]

    def domain_dataset(self, split: str, domain: str) -> Dataset:
        self.check_domain(domain)
        pairs = self.split_dataset(split)
        return pairs.a if domain == "a" else pairs.b

    def domain_attributes(self, domain: str) -> dict[str, int]:
        self.check_domain(domain)
        return {self.attribute: self.domains.index(domain)}

    def setup(self, stage: str | None = None) -> None:
        self.split_dataset("train")

    def content_key(self) -> dict[str, Any]:
        return {
            "base": self.base.name,
            "base_identity": self.base.content_key(),
            "by": self.attribute,
        }

    def describe(self) -> str:
        train = self.split_dataset("train")
        return (
            f"{self.name}: two domains of [{self.base.describe()}] by {self.attribute}: "
            f"a (without) {len(train.a)} / b (with) {len(train.b)} training images, "
            f"batch {self.batch_size}"
        )

    def train_dataloader(self) -> DataLoader:
        train = self.split_dataset("train")
        sampler = IndependentPairs(len(train.a), len(train.b), self.shuffle_seed)
        return batch_loader(
            train, self.batch_size, self.num_workers, sampler=sampler, drop_last=True
        )

    def val_dataloader(self) -> DataLoader:
        return batch_loader(self.split_dataset("val"), self.batch_size, self.num_workers)
