"""ToyFaces faces: the attribute and identity draws of face ``index`` of a split, and the
``ToyFaces`` data set that renders them (once, into a memory-mapped uint8 cache)."""

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from ganlab.cache import cache_root
from ganlab.data.toyfaces.renderer import (
    ATTRIBUTES,
    DEFAULT_ATTRIBUTE_PROBS,
    HAIR_COLOURS,
    IDENTITY_FIELDS,
    MASK_CLASSES,
    RENDER_VERSION,
    _image_tensor,
    _layer_tensors,
    render,
    render_arrays,
    render_layers,
)
from ganlab.errors import ConfigError
from ganlab.threads import usable_cpus

log = logging.getLogger("ganlab.data.toyfaces")
SPLITS = ("train", "val", "test")
DEFAULT_SPLIT_SIZES = {"train": 20000, "val": 2000, "test": 2000}


def attribute_probabilities(overrides: Any = None) -> dict[str, float]:
    """``DEFAULT_ATTRIBUTE_PROBS`` updated with ``overrides`` (a mapping, may be partial)."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(ATTRIBUTES))
    if unknown:
        raise ConfigError(f"unknown toyfaces attributes {unknown}; known: {', '.join(ATTRIBUTES)}")
    probs = {name: float(overrides.get(name, p)) for name, p in DEFAULT_ATTRIBUTE_PROBS.items()}
    if not all(0.0 <= p <= 1.0 for p in probs.values()):
        raise ConfigError(f"toyfaces attribute probabilities must lie in [0, 1], got {probs}")
    hair = sum(probs[name] for name in HAIR_COLOURS)
    if hair > 1.0 + 1e-9:
        raise ConfigError(
            f"hair colours are exclusive, so their probabilities must sum to <= 1, got {hair:g}"
        )
    return probs


def sample_face(
    seed: int, split: str, index: int, probs: dict[str, float]
) -> tuple[np.ndarray, np.ndarray]:
    """(attributes, identity) float32 vectors of face ``index`` of ``split``.

    Attributes and identity come from separate streams, so changing ``probs`` keeps every
    face's identity.
    """
    key = (SPLITS.index(split), index)
    attribute_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(*key, 0)))
    identity_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(*key, 1)))
    draws = attribute_rng.random(len(ATTRIBUTES) - len(HAIR_COLOURS) + 1)
    hair = np.searchsorted(np.cumsum([probs[name] for name in HAIR_COLOURS]), draws[0], "right")
    attributes = np.zeros(len(ATTRIBUTES), dtype=np.float32)
    if hair < len(HAIR_COLOURS):
        attributes[hair] = 1.0
    others = [probs[name] for name in ATTRIBUTES[len(HAIR_COLOURS) :]]
    attributes[len(HAIR_COLOURS) :] = draws[1:] < np.array(others)
    return attributes, identity_rng.random(len(IDENTITY_FIELDS)).astype(np.float32)


def cache_dir() -> Path:
    """``<ganlab cache>/toyfaces`` (see ``ganlab.cache``)."""
    return cache_root() / "toyfaces"


class ToyFaces(Dataset):
    """Items are dicts: ``image`` (3, size, size) float32 in [-1, 1], ``attributes`` (10,)
    float32 0/1 in ``ATTRIBUTES`` order, ``identity`` (20,) float32 in [0, 1] in
    ``IDENTITY_FIELDS`` order, ``edges`` (1, size, size) float32 in [0, 1] and ``mask``
    (size, size) int64 of ``MASK_CLASSES`` ids.

    ``n`` defaults to 20,000 / 2,000 / 2,000 faces for train / val / test; the splits draw
    from different seed streams, so they never share a face. ``cache=True`` renders the
    split once into ``cache_dir()`` and memory-maps it.
    """

    ATTRIBUTES = ATTRIBUTES
    IDENTITY_FIELDS = tuple(IDENTITY_FIELDS)
    MASK_CLASSES = MASK_CLASSES
    render = staticmethod(render)
    layers = staticmethod(render_layers)

    def __init__(
        self,
        size: int = 64,
        split: str = "train",
        seed: int = 0,
        n: int | None = None,
        attribute_probs: Any = None,
        cache: bool = False,
    ) -> None:
        if split not in SPLITS:
            raise ConfigError(f"toyfaces has splits {', '.join(SPLITS)}, not {split!r}")
        self.size, self.split, self.seed = size, split, seed
        self.n = DEFAULT_SPLIT_SIZES[split] if n is None else n
        self.probs = attribute_probabilities(attribute_probs)
        self.cache_file = self._ensure_cache() if cache else None
        self._frames: np.ndarray | None = None

    def __len__(self) -> int:
        return self.n

    def labels(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(attributes, identity) of face ``index``, without drawing it."""
        if not 0 <= index < self.n:
            raise IndexError(f"toyfaces {self.split} has {self.n} faces, no index {index}")
        return sample_face(self.seed, self.split, index, self.probs)

    def arrays(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``render_arrays`` of face ``index``, from the cache when there is one."""
        if self.cache_file is None:
            return render_arrays(*self.labels(index), self.size)
        if self._frames is None:
            self._frames = np.load(self.cache_file, mmap_mode="r")
        frame = np.array(self._frames[index])
        return frame[..., :3], frame[..., 3], frame[..., 4]

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        attributes, identity = self.labels(index)
        rgb, edges, mask = self.arrays(index)
        edges, mask = _layer_tensors(edges, mask)
        return {
            "image": _image_tensor(rgb),
            "attributes": torch.from_numpy(attributes),
            "identity": torch.from_numpy(identity),
            "edges": edges,
            "mask": mask,
        }

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_frames": None}  # workers open their own memory map

    def cache_key(self) -> str:
        settings = {"probs": self.probs, "version": RENDER_VERSION}
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
        return f"{self.split}_{self.size}px_seed{self.seed}_n{self.n}_{digest[:12]}"

    def _ensure_cache(self) -> Path:
        """Render every face into ``<cache_dir>/<cache_key>.npy`` unless it is there already.

        Written to a temporary file and renamed, so concurrent processes never read half a file.
        """
        path = cache_dir() / f"{self.cache_key()}.npy"
        if path.exists():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        log.warning("rendering %d toyfaces into %s (once)", self.n, path)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        shape = (self.n, self.size, self.size, 5)
        frames = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=shape)
        workers = min(8, usable_cpus()) if self.n >= 2000 else 0
        # its own generator: iterating a DataLoader draws a seed, and rendering the cache must
        # not move the global RNG (a run's initial weights would depend on whether it exists)
        loader = DataLoader(
            _Frames(self),
            batch_size=250,
            num_workers=workers,
            collate_fn=np.stack,
            generator=torch.Generator(),
        )
        start = 0
        for batch in loader:
            frames[start : start + len(batch)] = batch
            start += len(batch)
        frames.flush()
        del frames
        os.replace(partial, path)
        return path


class _Frames(Dataset):
    """Faces as (size, size, 5) uint8 arrays (RGB, edge quarters, mask), for the cache."""

    def __init__(self, faces: ToyFaces) -> None:
        self.faces = faces

    def __len__(self) -> int:
        return len(self.faces)

    def __getitem__(self, index: int) -> np.ndarray:
        rgb, edges, mask = render_arrays(*self.faces.labels(index), self.faces.size)
        return np.concatenate([rgb, edges[..., None], mask[..., None]], axis=-1)
