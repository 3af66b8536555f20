"""The registry of frozen feature networks used by metrics and losses.

``get_extractor(name)`` returns a module mapping (B, C, H, W) images in [-1, 1] to (B, D)
features, frozen and in eval mode. Pretrained weights come from configured paths or the
standard caches and are never downloaded; see each module for the file it needs.
"""

import re
from collections.abc import Callable

from ganlab.errors import ConfigError
from ganlab.features.arcface import ArcFaceFeatures
from ganlab.features.base import FeatureExtractor
from ganlab.features.domain import (
    DomainIdentity,
    DomainPerceptual,
    SizedDomainFeatures,
    domain_extractor,
)
from ganlab.features.inception import InceptionFeatures
from ganlab.features.lpips_net import LPIPSFeatures
from ganlab.features.vgg import VGGFeatures
from ganlab.features.vggface import VGGFaceFeatures

BUILDERS: dict[str, Callable[[str | None], FeatureExtractor]] = {
    "inception": lambda weights_path: InceptionFeatures(weights_path),
    "arcface": lambda weights_path: ArcFaceFeatures(weights_path),
    "lpips_alex": lambda weights_path: LPIPSFeatures("alex", weights_path),
    "lpips_vgg": lambda weights_path: LPIPSFeatures("vgg", weights_path),
    "vgg16": lambda weights_path: VGGFeatures(16, weights_path),
    "vgg19": lambda weights_path: VGGFeatures(19, weights_path),
    "vggface": lambda weights_path: VGGFaceFeatures(weights_path),  # INIT's phi for faces
    "domain_digits": lambda weights_path: domain_extractor("digits", weights_path),
    "domain_toyfaces": lambda weights_path: domain_extractor("toyfaces", weights_path),
    "lpips_domain_digits": lambda path: domain_extractor("digits", path, DomainPerceptual),
    "lpips_domain_toyfaces": lambda path: domain_extractor("toyfaces", path, DomainPerceptual),
    # the net trained on 32 px faces, reading images at 32 px: a second FID judge for toyfaces
    "domain_toyfaces_32px": lambda path: domain_extractor(
        "toyfaces", path, SizedDomainFeatures, image_size=32
    ),
    "identity_toyfaces": lambda path: domain_extractor("toyfaces", path, DomainIdentity),
    # the identity head of the net trained on 32 px faces: the 64 px net misreads them (INIT)
    "identity_toyfaces_32px": lambda path: domain_extractor(
        "toyfaces", path, DomainIdentity, image_size=32
    ),
}
NAMES = tuple(BUILDERS)


def get_extractor(name: str, weights_path: str | None = None) -> FeatureExtractor:
    """The extractor ``name`` (one of ``NAMES``); ``weights_path`` overrides its weights' place."""
    if name not in BUILDERS:
        raise ConfigError(f"unknown feature extractor {name!r}; known: {', '.join(NAMES)}")
    return BUILDERS[name](weights_path)


OWN_NETS = ("domain", "lpips_domain", "identity")  # ganlab's nets, named per data set


def short_name(name: str) -> str:
    """The name metrics carry: ``domain`` for any ``domain_<dataset>`` (``lpips_domain``,
    ``identity``), ``domain32px`` for ``domain_<dataset>_32px``, else ``name``."""
    for prefix in (f"{own}_" for own in OWN_NETS):
        if name.startswith(prefix):
            sized = re.search(r"_(\d+px)$", name)
            return prefix[:-1] + (sized.group(1) if sized else "")
    return name


def resolve_name(name: str, dataset: str) -> str:
    """A config's extractor name for ``dataset``: ``domain`` -> ``domain_<dataset>``,
    ``lpips_domain`` -> ``lpips_domain_<dataset>``, ``identity`` -> ``identity_<dataset>``,
    ``domain_32px`` -> ``domain_<dataset>_32px``."""
    if name in OWN_NETS:
        return f"{name}_{dataset}"
    sized = re.fullmatch(r"(domain|identity)_(\d+px)", name)
    return f"{sized.group(1)}_{dataset}_{sized.group(2)}" if sized else name


__all__ = ["NAMES", "FeatureExtractor", "get_extractor", "resolve_name", "short_name"]
