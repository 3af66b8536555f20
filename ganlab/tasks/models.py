"""The model the verbs (``task=invert``, ``edit``, ``translate``, ``eval``, ...) use: the trained
method ``ganlab.checkpoints`` loads from a checkpoint or a published asset, or the latent
model inside it (``ganlab.inversion``), with the image shape it takes, and the one-line
refusal of a verb the model does not have."""

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from omegaconf import DictConfig
from torch import Tensor

from ganlab.checkpoints import load_trained, model_source
from ganlab.errors import ConfigError
from ganlab.inversion import from_generator_file, from_method, is_generator_file
from ganlab.methods.base import AdversarialModule


@runtime_checkable
class Inverts(Protocol):
    def invert(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """(B, C, H, W) images -> (latent codes (B, ...), reconstructions (B, C, H, W))."""
        ...


@runtime_checkable
class Decodes(Protocol):
    def decode(self, codes: Tensor) -> Tensor:
        """Latent codes (B, ...) -> images (B, C, H, W), the inverse of ``invert``'s codes."""
        ...


def load_model(cfg: DictConfig, source: Path | None = None) -> tuple[Any, tuple[int, int, int]]:
    """The model the verbs use and the (C, H, W) of the images it takes: a latent model
    (``ganlab.inversion``) for a bare StyleGAN2 file or a method built on one, inverting
    as ``inversion.kind`` says; any other method as it is."""
    source = source or model_source(cfg)
    options = cfg.get("inversion")
    if is_generator_file(source):
        model = from_generator_file(source, options)
        return model, (3, model.generator.size, model.generator.size)
    module, trained = load_trained(source)
    latent = from_method(module, source, trained, options)
    return (latent if latent is not None else module), image_shape_of(trained)


def require(module: AdversarialModule, capability: type, task: str, what: str) -> None:
    """Refuse ``task`` in one line unless ``module`` has the ``capability`` protocol."""
    if not isinstance(module, capability):
        raise ConfigError(
            f"task={task}: {type(module).__name__} cannot {what}; use a model of a method "
            "that does (README, 'Tasks')"
        )


def image_shape_of(config: DictConfig) -> tuple[int, int, int]:
    """(channels, height, width) of the images the model of a saved run config takes (the
    data config's, or its ``base``'s when it wraps one, e.g. the UDA splits)."""
    data = config.data
    base = data.get("base") or {}
    channels = data.get("channels") or base.get("channels")
    if channels is None:
        raise ConfigError("the model's stored config names no image channels (data.channels)")
    for node in (data, base):
        if node.get("height") and node.get("width"):
            return int(channels), int(node.height), int(node.width)
    size = data.get("size") or base.get("size")
    return int(channels), int(size), int(size)
