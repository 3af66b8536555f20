"""Latent editing of StyleGAN2 codes: directions (a registry of them, each with its latent
space, layers and origin) made by InterfaceGAN (supervised, from attribute labels), GANSpace
(PCA of W) or SeFa (closed form from the generator's weights), applied by ``move``."""

from ganlab.editing.directions import (
    Direction,
    check_generator,
    load_direction,
    move,
    registry_names,
    resolve_direction,
)
from ganlab.editing.ganspace import Components, principal_components
from ganlab.editing.interfacegan import (
    Boundary,
    conditional_direction,
    labelled_samples,
    train_boundary,
)
from ganlab.editing.sefa import SEFA_WEIGHTS, factorize, modulation_weights

__all__ = [
    "SEFA_WEIGHTS",
    "Boundary",
    "Components",
    "Direction",
    "check_generator",
    "conditional_direction",
    "factorize",
    "labelled_samples",
    "load_direction",
    "modulation_weights",
    "move",
    "principal_components",
    "registry_names",
    "resolve_direction",
    "train_boundary",
]
