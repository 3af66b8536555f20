"""GAN inversion of StyleGAN2: images -> codes in W or W+ and their reconstructions, by an
encoder, by latent optimisation, or both (hybrid); see ``model`` and ``optimisation``."""

from ganlab.inversion.loading import from_generator_file, from_method, is_generator_file
from ganlab.inversion.model import KINDS, LatentModel, generator_fingerprint
from ganlab.inversion.optimisation import (
    InversionResult,
    OptimisationSettings,
    optimise_codes,
    psnr_from_mse,
)

__all__ = [
    "KINDS",
    "InversionResult",
    "LatentModel",
    "OptimisationSettings",
    "from_generator_file",
    "from_method",
    "generator_fingerprint",
    "is_generator_file",
    "optimise_codes",
    "psnr_from_mse",
]
