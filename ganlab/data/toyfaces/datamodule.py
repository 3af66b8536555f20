"""``ToyFacesDataModule``: the ToyFaces splits as a ganlab image data module."""

from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from ganlab.data.base import ImageDataModule
from ganlab.data.samplers import EpochShuffleSampler, batch_loader
from ganlab.data.toyfaces.faces import SPLITS, ToyFaces, attribute_probabilities
from ganlab.data.toyfaces.renderer import ATTRIBUTES, IDENTITY_FIELDS, RENDER_VERSION, render
from ganlab.errors import ConfigError

STAGE_SPLITS = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}


class ToyFacesDataModule(ImageDataModule):
    name = "toyfaces"
    attribute_names = ATTRIBUTES
    identity_names = tuple(IDENTITY_FIELDS)

    def __init__(
        self,
        size: int = 64,
        channels: int = 3,
        batch_size: int = 64,
        n_train: int = 20000,
        n_val: int = 2000,
        n_test: int = 2000,
        seed: int = 0,
        shuffle_seed: int = 0,
        num_workers: int = 0,
        attribute_probs: Any = None,
        cache: bool = True,
    ) -> None:
        super().__init__(channels)
        self.size, self.batch_size, self.num_workers = size, batch_size, num_workers
        self.split_sizes = {"train": n_train, "val": n_val, "test": n_test}
        self.seed, self.shuffle_seed, self.cache = seed, shuffle_seed, cache
        self.attribute_probs = attribute_probabilities(attribute_probs)
        self.datasets: dict[str, ToyFaces] = {}

    @property
    def image_size(self) -> int:
        return self.size

    def setup(self, stage: str | None = None) -> None:
        for split in STAGE_SPLITS.get(stage, SPLITS):
            self.split_dataset(split)

    def split_dataset(self, split: str) -> ToyFaces:
        """The ``train``, ``val`` or ``test`` faces (rendered into the cache on first use)."""
        if split not in SPLITS:
            raise ConfigError(f"toyfaces has splits {', '.join(SPLITS)}, not {split!r}")
        if split not in self.datasets:
            self.datasets[split] = ToyFaces(
                self.size,
                split,
                self.seed,
                self.split_sizes[split],
                self.attribute_probs,
                self.cache,
            )
        return self.datasets[split]

    def render_face(self, attributes: Tensor, identity: Tensor) -> Tensor:
        """(3, size, size) in [-1, 1]: the face of ``identity`` with ``attributes`` (the ground
        truth of an attribute translation)."""
        return render(attributes, identity, self.size)

    def attribute_table(self, split: str) -> Tensor:
        """(N, 10) attributes of every face of ``split``, from the seeds (nothing drawn)."""
        faces = self.split_dataset(split)
        return torch.from_numpy(np.stack([faces.labels(i)[0] for i in range(len(faces))]))

    def content_key(self) -> dict[str, Any]:
        """The settings that decide which images each split holds (stats cache keys)."""
        return {
            "size": self.size,
            "seed": self.seed,
            "split_sizes": self.split_sizes,
            "attribute_probs": self.attribute_probs,
            "version": RENDER_VERSION,
        }

    def describe(self) -> str:
        sizes = self.split_sizes
        return (
            f"toyfaces: procedural faces at {self.size} px, 3 channels, "
            f"{len(ATTRIBUTES)} attributes, {sizes['train']} train / {sizes['val']} val / "
            f"{sizes['test']} test (seed {self.seed}), batch {self.batch_size}"
        )

    def _loader(self, split: str, **kwargs: Any) -> DataLoader:
        return batch_loader(self.split_dataset(split), self.batch_size, self.num_workers, **kwargs)

    def train_dataloader(self) -> DataLoader:
        length = self.split_sizes["train"]
        return self._loader(
            "train", sampler=EpochShuffleSampler(length, self.shuffle_seed), drop_last=True
        )

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")
