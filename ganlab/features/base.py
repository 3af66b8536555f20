"""What every feature network in the registry is: a frozen map from images to vectors."""

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class FeatureExtractor(nn.Module):
    """(B, C, H, W) images in [-1, 1] -> (B, D) features; frozen and always in eval mode.

    ``fingerprint`` identifies the weights (cache keys of real-image statistics change
    with it); ``num_features`` is D, or None where D depends on the image size (LPIPS).
    """

    name = "features"
    num_features: int | None = None
    fingerprint = ""

    def trunk_key(self) -> str | None:
        """Extractors with one key compute the same ``trunk`` of an image (one net, one set
        of weights) and differ only in ``from_trunk``; None: nothing to share."""
        return None

    def trunk(self, images: Tensor) -> Any:
        return images

    def from_trunk(self, trunk: Any) -> Tensor:
        return self(trunk)

    def freeze(self) -> "FeatureExtractor":
        self.requires_grad_(False)
        return self.train(False)

    def train(self, mode: bool = True) -> "FeatureExtractor":
        return super().train(False)


def as_rgb(images: Tensor) -> Tensor:
    """(B, 1 or 3, H, W) -> (B, 3, H, W): grey images repeat their channel."""
    if images.shape[1] == 3:
        return images
    if images.shape[1] == 1:
        return images.expand(-1, 3, -1, -1)
    raise ValueError(f"feature nets take 1- or 3-channel images, got {tuple(images.shape)}")


def imagenet_normalize(images: Tensor) -> Tensor:
    """[-1, 1] RGB -> the per-channel standardised input torchvision's ImageNet nets expect."""
    unit = (as_rgb(images) + 1.0) / 2.0
    mean = unit.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = unit.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (unit - mean) / std


def embed_together(images: Tensor, extractors: Sequence[FeatureExtractor]) -> list[Tensor]:
    """Each extractor's features of ``images``, a trunk shared by several (the same
    ``trunk_key``) computed once: e.g. LPIPS-domain, identity and FID-domain on one pass of
    the domain net's body."""
    trunks: dict[str, Any] = {}
    features = []
    for extractor in extractors:
        key = extractor.trunk_key()
        if key is None:
            features.append(extractor(images))
            continue
        if key not in trunks:
            trunks[key] = extractor.trunk(images)
        features.append(extractor.from_trunk(trunks[key]))
    return features
