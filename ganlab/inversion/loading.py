"""Latent models from files: a bare StyleGAN2 generator (rosinality layout, what
``load_stylegan2`` reads), or a trained ganlab method that owns one and says so with
``latent_space()`` (StyleGAN2's EMA generator; UDA-Inversion / pSp / HFGI: the frozen
generator and the trained encoder)."""

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor

from ganlab.assets import read_manifest, shown_as
from ganlab.errors import CheckpointError
from ganlab.features import NAMES as FEATURE_NAMES
from ganlab.inversion.model import LatentModel, OptimisationSettings
from ganlab.nets.stylegan2 import load_stylegan2
from ganlab.torch_files import load_tensor_file

SETTING_KEYS = tuple(OptimisationSettings.__dataclass_fields__)
# images (B, C, H, W) -> (W+ codes (B, n_latent, D), generator conditions or None)
Encode = Callable[[Tensor], tuple[Tensor, tuple[Tensor, Tensor] | None]]


@runtime_checkable
class HasLatentSpace(Protocol):
    """A trained method with a StyleGAN2 latent space the verbs can invert into and edit."""

    def latent_space(self) -> tuple[Any, Tensor, Encode | None]:
        """(the StyleGAN2 generator, its mean w, the method's encoder or None)."""
        ...


def is_generator_file(path: Path) -> bool:
    """Whether ``path`` holds a bare StyleGAN2 generator (``g_ema``) rather than a ganlab
    checkpoint or published method, in either torch file format (the public config-f
    conversions of 2019-20 are in the legacy one)."""
    try:
        saved = load_tensor_file(path, "model file")
    except CheckpointError:  # not ours to judge here: the checkpoint reader names the problem
        return False
    return isinstance(saved, dict) and "g_ema" in saved and "state_dict" not in saved


def settings_from(options: Any) -> tuple[str, str | None, OptimisationSettings]:
    """(kind, perceptual, settings) from an ``inversion`` config node (or dict)."""
    options = dict(options or {})
    kind = options.pop("kind", "auto")
    perceptual = options.pop("perceptual", "auto")
    unknown = set(options) - set(SETTING_KEYS)
    if unknown:
        raise ValueError(
            f"unknown inversion option(s) {sorted(unknown)}; known: kind, perceptual, "
            f"{', '.join(SETTING_KEYS)}"
        )
    return kind, perceptual, OptimisationSettings(**options)


def default_perceptual(dataset: str | None) -> str:
    """ganlab's own LPIPS-style net where it has one for the data set (its embedded data),
    LPIPS-VGG (the projector's) else."""
    own = f"lpips_domain_{dataset}"
    return own if own in FEATURE_NAMES else "lpips_vgg"


def from_generator_file(path: Path, options: Any = None, progress: bool = True) -> LatentModel:
    generator, latent_avg = load_stylegan2(path)
    kind, perceptual, settings = settings_from(options)
    if perceptual == "auto":
        dataset = read_manifest(path.parent).get(path.name, {}).get("dataset")
        perceptual = default_perceptual(dataset)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = LatentModel(
        generator, latent_avg, shown_as(path), None, perceptual, kind, settings, progress
    )
    return model.to(device)


def from_method(
    module: Any, source: Path, trained: Any, options: Any = None, progress: bool = True
) -> LatentModel | None:
    """The latent model inside a trained method, or None when it has no StyleGAN2 latent space
    (then the method's own ``invert``/``decode`` serve the tasks)."""
    kind, perceptual, settings = settings_from(options)
    model_cfg = trained.get("model", {})
    if perceptual == "auto":
        perceptual = model_cfg.get("perceptual") or default_perceptual(dataset_of(trained))
    if not isinstance(module, HasLatentSpace):
        return None
    generator, latent_avg, encoder = module.latent_space()
    model = LatentModel(
        generator, latent_avg, shown_as(source), encoder, perceptual, kind, settings, progress
    )
    return model.to(module.device)


def dataset_of(trained: Any) -> str | None:
    """The name the data module class of a stored run config gives its data set (for two
    domains of one data set, the base's); None when the config names no importable class."""
    data = trained.get("data", {})
    data = data.get("base") or data
    module_name, _, class_name = str(data.get("_target_", "")).rpartition(".")
    try:
        data_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError):  # an old or foreign path: unknown
        return None
    return getattr(data_class, "name", None)
