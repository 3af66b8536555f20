"""Latent directions: a vector in one latent space of one generator, how it was made, and
the W+ layers it moves; saved as a ``.pt`` that ``weights_only`` loading reads.

The registry is ``ganlab/assets/directions/<dataset>/<name>.pt``: ``direction=toyfaces/smiling``
names a shipped direction, any other value is a file path (a ``task=train_direction`` run
writes ``<run dir>/directions/<name>.pt``).
"""

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ganlab.assets import ASSET_DIR
from ganlab.errors import CheckpointError, ConfigError
from ganlab.torch_files import load_tensor_file

FORMAT = "ganlab-direction/1"
SPACES = ("z", "w", "w+")
REGISTRY = ASSET_DIR / "directions"


@dataclass
class Direction:
    """``vector``: (D,) in Z or W (the same step on every chosen layer), or (n_latent, D) in
    W+. ``layers``: the W+ layers it moves (None: all). ``method``: interfacegan, ganspace,
    sefa or user; ``details``: how it was made (samples, accuracy, component, ...).
    ``generator``: the file it was made for, and ``generator_fingerprint`` its weights."""

    name: str
    vector: Tensor
    space: str
    method: str
    generator: str
    generator_fingerprint: str
    layers: list[int] | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise ValueError(f"direction space must be one of {SPACES}, got {self.space!r}")
        expected_ndim = 2 if self.space == "w+" else 1
        if self.vector.ndim != expected_ndim:
            raise ValueError(
                f"a {self.space} direction is a {'(n_latent, D)' if expected_ndim == 2 else '(D,)'}"
                f" tensor, got shape {tuple(self.vector.shape)}"
            )

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        record = asdict(self) | {"format": FORMAT, "vector": self.vector.detach().cpu().float()}
        torch.save(record, path)
        return path


def load_direction(path: Path) -> Direction:
    try:
        saved = load_tensor_file(path, "direction file")
    except CheckpointError as error:  # damaged, or a pickle weights_only refuses
        raise ConfigError(f"direction file {path} cannot be read: {error}") from error
    if isinstance(saved, dict) and isinstance(saved.get("direction"), Tensor):
        saved = saved["direction"]
    if isinstance(saved, Tensor):  # a bare vector (e.g. an InterfaceGAN boundary .npy as .pt)
        space = "w+" if saved.ndim == 2 else "w"
        return Direction(path.stem, saved.float(), space, "user", "unknown", "")
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise ConfigError(
            f"{path} is not a ganlab direction ({FORMAT}), a tensor or {{'direction': tensor}}"
        )
    saved.pop("format")
    return Direction(**saved)


def registry_names(registry: Path = REGISTRY) -> list[str]:
    return sorted(str(p.relative_to(registry).with_suffix("")) for p in registry.rglob("*.pt"))


def resolve_direction(name: str, registry: Path = REGISTRY) -> Direction:
    """``<dataset>/<name>`` from the registry, or a direction file's path."""
    shipped = registry / f"{name}.pt"
    if shipped.is_file():
        return load_direction(shipped)
    path = Path(str(name)).expanduser()
    if path.is_file():
        return load_direction(path)
    raise ConfigError(
        f"unknown direction {name!r}: neither a shipped one ({', '.join(registry_names(registry))}"
        ") nor a file; make one with task=train_direction"
    )


def check_generator(direction: Direction, fingerprint: str, model: str) -> None:
    """Refuse a direction made for another generator (its W space is another space)."""
    if direction.generator_fingerprint and direction.generator_fingerprint != fingerprint:
        raise ConfigError(
            f"direction {direction.name!r} was made for the generator of {direction.generator}; "
            f"the model {model} has another generator, where it means nothing. Use a model "
            "built on that generator, or train a direction for this one (task=train_direction)"
        )


def move(codes: Tensor, direction: Direction, strength: float | Tensor) -> Tensor:
    """codes + strength * direction on the direction's layers (Shen et al. 2020, eq. 4:
    x_edit = G(w + alpha n)). ``codes``: W (B, D) for a W direction on all layers, else W+
    (B, n_latent, D) (``nets.stylegan2.to_w_plus``). ``strength``: a number or one per code (B,)."""
    if direction.space == "z":
        raise ConfigError(
            f"direction {direction.name!r} lives in Z; inverted codes are in W / W+ (train it "
            "in W: task=train_direction space=w)"
        )
    expected = codes.shape[-1:] if direction.space == "w" else codes.shape[1:]
    if direction.vector.shape != expected:
        raise ConfigError(
            f"direction {direction.name!r} has shape {tuple(direction.vector.shape)}, which does "
            f"not fit codes of shape {tuple(codes.shape[1:])}"
        )
    vector = direction.vector.to(codes)
    strength = torch.as_tensor(strength, dtype=codes.dtype, device=codes.device)
    if codes.ndim == 2 and direction.space == "w" and direction.layers is None:
        return codes + strength.reshape(-1, 1) * vector
    if codes.ndim == 2:
        raise ValueError(f"direction {direction.name!r} moves W+ layers: give W+ codes")
    n_latent = codes.shape[1]
    step = vector.expand(n_latent, -1) if direction.space == "w" else vector
    mask = torch.zeros(n_latent, 1, dtype=codes.dtype, device=codes.device)
    layers = range(n_latent) if direction.layers is None else direction.layers
    if max(layers) >= n_latent:
        raise ConfigError(f"direction {direction.name!r} moves layers {list(layers)} of {n_latent}")
    mask[list(layers)] = 1
    return codes + strength.reshape(-1, 1, 1) * (mask * step)
