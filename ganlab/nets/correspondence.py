"""Cross-domain correspondence (MGI's first stage, after CoCosNet, Zhang et al. 2020): two
domain adaptors map a structure image x_S (edge map or mask) and a style exemplar x_T (a
photo) into one feature space; the exemplar is warped onto the structure by a softmax over
the cosine correlation of the two feature maps.

The matching (Kang, "Multiple GAN Inversion for Exemplar-based I2I"; eqs. 3-6):
- centring (eqs. 4-5): subtract, at every position, the mean over the feature channels (as
  CoCosNet does with ``PONO_C``), then scale to unit length;
- correlation (eq. 3): M(u, v) = cos(theta_S(u), phi_T(v)), an (hw x hw) matrix per image;
- warp (eq. 6): r(u) = sum_v softmax_v(alpha * M(u, v)) * x_T(v), the exemplar average-pooled
  to the features' resolution (CoCosNet: alpha = 100, a quarter of the image size).
The softmax of eq. 6 runs over each row u of M on its own, so the warp can be made a chunk of
rows at a time (``chunked_warp``): a 256 x 256 warp's M has 2^32 entries (16 GiB in float32)
per image.
Optionally the features of a position are those of its 3 x 3 neighbourhood (CoCosNet's
``match_kernel=3``).

The adaptors here are plain residual conv nets with instance norm; CoCosNet's use SPADE
blocks conditioned on the input, which the small embedded data does not need. Without a
trained net, :class:`FrozenFeatureCorrespondence` matches frozen ImageNet features (VGG-19
relu3_4, a quarter of the image size) of the structure drawn as an image and of the
exemplar: no training, but an edge map and a photo are far apart in that space, so its
warps are coarser than a trained net's.
"""

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlab.nets.files import load_net_file, save_net_file

FORMAT = "ganlab-correspondence/1"
WARP_REDUCTION = 4  # both nets below warp at a quarter of the matched images' side (CoCosNet)


def centre_features(features: Tensor, eps: float = 1e-6) -> Tensor:
    """eqs. 4-5: (B, C, h, w) minus the mean over C at each position, then unit length over C."""
    centred = features - features.mean(1, keepdim=True)
    return centred / centred.norm(dim=1, keepdim=True).clamp_min(eps)


def neighbourhood_features(features: Tensor, kernel: int) -> Tensor:
    """The features of each position's ``kernel`` x ``kernel`` neighbourhood, stacked over
    channels: (B, C * kernel^2, h, w) (zero padding at the border); kernel 1: unchanged."""
    if kernel == 1:
        return features
    batch, _, height, width = features.shape
    patches = F.unfold(features, kernel, padding=kernel // 2)
    return patches.view(batch, -1, height, width)


def correlation(structure_features: Tensor, exemplar_features: Tensor) -> Tensor:
    """eq. 3: (B, n, hw) cosine similarity of every structure position u (rows) with every
    exemplar position v (columns), from centred unit features (B, C, h, w), or (B, C, n) for
    the structure's positions of one chunk."""
    theta = structure_features.flatten(2)  # (B, C, n)
    phi = exemplar_features.flatten(2)  # (B, C, hw)
    return theta.transpose(1, 2) @ phi


def warp_pixels(matrix: Tensor, pixels: Tensor, alpha: float) -> Tensor:
    """eq. 6 for the rows of M given: correlations (B, n, hw_T) and the exemplar's pixels
    (B, hw_T, C) -> the n structure positions' softmax(alpha * M)-weighted means (B, n, C)."""
    return torch.softmax(alpha * matrix, dim=-1) @ pixels


def warp(matrix: Tensor, exemplar: Tensor, alpha: float) -> Tensor:
    """eq. 6: the exemplar (B, C, h, w) at the features' resolution, each structure position
    taking the softmax(alpha * M)-weighted mean of the exemplar's pixels; (B, C, h, w)."""
    batch, channels, height, width = exemplar.shape
    pixels = exemplar.flatten(2).transpose(1, 2)  # (B, hw_T, C)
    warped = warp_pixels(matrix, pixels, alpha)  # (B, hw_S, C)
    return warped.transpose(1, 2).reshape(batch, channels, height, width)


def chunked_warp(
    structure_features: Tensor, exemplar_features: Tensor, exemplar: Tensor, alpha: float, rows: int
) -> Tensor:
    """eqs. 3 and 6, ``rows`` structure positions at a time: ``warp(correlation(...))`` with
    (B, rows, hw) of M in memory instead of (B, hw, hw) (the softmax is per row, so the chunks
    give the same warp). Features (B, C, h, w), exemplar (B, C', h, w) -> (B, C', h, w)."""
    batch, channels, height, width = exemplar.shape
    theta = structure_features.flatten(2)  # (B, C, hw_S)
    pixels = exemplar.flatten(2).transpose(1, 2)  # (B, hw_T, C')
    parts = []
    for start in range(0, theta.shape[-1], rows):
        matrix_rows = correlation(theta[:, :, start : start + rows], exemplar_features)
        parts.append(warp_pixels(matrix_rows, pixels, alpha))
    return torch.cat(parts, 1).transpose(1, 2).reshape(batch, channels, height, width)


def pooled_exemplar(exemplar: Tensor, features: Tensor) -> Tensor:
    """The exemplar (B, C, H, W) average-pooled to the features' (h, w), as CoCosNet warps it."""
    return F.avg_pool2d(exemplar, exemplar.shape[-1] // features.shape[-1])


def bounded_warp(
    structure_features: Tensor,
    exemplar_features: Tensor,
    exemplar: Tensor,
    alpha: float,
    max_entries: int,
) -> Tensor:
    """The full-size exemplar (B, C', H, W) warped at the features' resolution (h, w) with at
    most ``max_entries`` entries of M in memory at once (whole rows, at least one per image)."""
    batch, _, height, width = exemplar_features.shape
    rows = max(1, max_entries // (batch * height * width))
    small = pooled_exemplar(exemplar, exemplar_features)
    return chunked_warp(structure_features, exemplar_features, small, alpha, rows)


def warp_back(matrix: Tensor, image: Tensor, alpha: float) -> Tensor:
    """CoCosNet's warp cycle: ``image`` (aligned with the structure) carried back onto the
    exemplar's positions with the transposed correlation."""
    return warp(matrix.transpose(1, 2), image, alpha)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.InstanceNorm2d(channels, affine=True),
            nn.LeakyReLU(0.2),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x + self.body(x), 0.2)


def conv_norm(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1),
        nn.InstanceNorm2d(out_channels, affine=True),
        nn.LeakyReLU(0.2),
    )


class DomainAdaptor(nn.Module):
    """(B, in_channels, H, W) -> (B, width, H/4, W/4): convs with stride 2 at layers 2 and 4
    (CoCosNet's layout), then ``n_blocks`` residual blocks."""

    def __init__(self, in_channels: int, width: int = 64, n_blocks: int = 2) -> None:
        super().__init__()
        half = width // 2
        self.net = nn.Sequential(
            conv_norm(in_channels, half, 1),
            conv_norm(half, width, 2),
            conv_norm(width, width, 1),
            conv_norm(width, width, 2),
            *[ResidualBlock(width) for _ in range(n_blocks)],
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class CorrespondenceNet(nn.Module):
    """Structure image + exemplar -> the exemplar warped onto the structure at a quarter of
    the image size, with the correlation matrix (for the warp cycle).

    Adaptor outputs are unit-normalised over channels, pass shared residual blocks, then 1 x 1
    convs theta (structure) and phi (exemplar), as in CoCosNet's ``NoVGGCorrespondence``.
    """

    def __init__(
        self,
        structure_channels: int,
        exemplar_channels: int = 3,
        width: int = 64,
        adaptor_blocks: int = 2,
        shared_blocks: int = 2,
        match_kernel: int = 1,
        alpha: float = 100.0,
    ) -> None:
        super().__init__()
        if match_kernel % 2 != 1:
            raise ValueError(f"match_kernel must be odd, got {match_kernel}")
        self.config = dict(
            structure_channels=structure_channels,
            exemplar_channels=exemplar_channels,
            width=width,
            adaptor_blocks=adaptor_blocks,
            shared_blocks=shared_blocks,
            match_kernel=match_kernel,
            alpha=alpha,
        )
        self.alpha, self.match_kernel = alpha, match_kernel
        self.structure_adaptor = DomainAdaptor(structure_channels, width, adaptor_blocks)
        self.exemplar_adaptor = DomainAdaptor(exemplar_channels, width, adaptor_blocks)
        self.shared = nn.Sequential(*[ResidualBlock(width) for _ in range(shared_blocks)])
        self.theta = nn.Conv2d(width, width, 1)
        self.phi = nn.Conv2d(width, width, 1)

    def adapt(self, structure: Tensor, exemplar: Tensor) -> tuple[Tensor, Tensor]:
        """The adaptors' outputs (the shared domain; CoCosNet's domain-alignment loss compares
        the structure's with its ground-truth photo's)."""
        return self.structure_adaptor(structure), self.exemplar_adaptor(exemplar)

    def match_features(self, adapted: Tensor, projection: nn.Conv2d) -> Tensor:
        shared = self.shared(adapted / adapted.norm(dim=1, keepdim=True).clamp_min(1e-6))
        features = neighbourhood_features(projection(shared), self.match_kernel)
        return centre_features(features)

    def forward(
        self, structure: Tensor, exemplar: Tensor, alpha: float | None = None
    ) -> dict[str, Tensor]:
        """``warped`` (B, C, H/4, W/4), ``matrix`` (B, hw, hw), the adaptors' outputs
        ``structure_adapted`` / ``exemplar_adapted`` and the pooled ``exemplar_small``."""
        structure_adapted, exemplar_adapted = self.adapt(structure, exemplar)
        matrix = correlation(
            self.match_features(structure_adapted, self.theta),
            self.match_features(exemplar_adapted, self.phi),
        )
        exemplar_small = pooled_exemplar(exemplar, structure_adapted)
        warped = warp(matrix, exemplar_small, self.alpha if alpha is None else alpha)
        return {
            "warped": warped,
            "matrix": matrix,
            "structure_adapted": structure_adapted,
            "exemplar_adapted": exemplar_adapted,
            "exemplar_small": exemplar_small,
        }

    def warp_exemplar(self, structure: Tensor, exemplar: Tensor, max_entries: int) -> Tensor:
        """The warped exemplar (B, C, H/4, W/4) alone, with at most ``max_entries`` entries of
        the correlation matrix in memory at once (``bounded_warp``); MGI's stage 1."""
        structure_adapted, exemplar_adapted = self.adapt(structure, exemplar)
        theta = self.match_features(structure_adapted, self.theta)
        phi = self.match_features(exemplar_adapted, self.phi)
        return bounded_warp(theta, phi, exemplar, self.alpha, max_entries)


def structure_as_image(structure: Tensor) -> Tensor:
    """A structure input as a [-1, 1] RGB image for an ImageNet net: an edge map (B, 1) in
    grey; a one-hot mask (B, K) with each class in a fixed colour of its own."""
    if structure.shape[1] == 1:
        return structure.expand(-1, 3, -1, -1)
    classes = structure.shape[1]
    hues = torch.arange(classes, dtype=structure.dtype, device=structure.device) / classes
    palette = torch.stack(  # evenly spaced hues on a bright colour wheel, class 0 black
        [torch.cos(2 * torch.pi * (hues + shift)) for shift in (0.0, 1 / 3, 2 / 3)], dim=1
    )
    palette[0] = -1.0
    return torch.einsum("bkhw,kc->bchw", structure, palette)


class FrozenFeatureCorrespondence(nn.Module):
    """The warp of :class:`CorrespondenceNet` on frozen features: ``extractor.maps(x)[layer]``
    of the structure (drawn by ``structure_as_image``) and of the exemplar, centred and
    matched as above. ``extractor``: e.g. ``VGGFeatures(19)``, whose layer 2 (relu3_4) is at
    a quarter of the image size, the size the warp is made at."""

    def __init__(
        self, extractor: nn.Module, layer: int = 2, match_kernel: int = 3, alpha: float = 100.0
    ) -> None:
        super().__init__()
        if match_kernel % 2 != 1:
            raise ValueError(f"match_kernel must be odd, got {match_kernel}")
        self.extractor = extractor.eval().requires_grad_(False)
        self.layer, self.match_kernel, self.alpha = layer, match_kernel, alpha

    def features(self, images: Tensor) -> Tensor:
        maps = self.extractor.maps(images)[self.layer]
        return centre_features(neighbourhood_features(maps, self.match_kernel))

    def forward(
        self, structure: Tensor, exemplar: Tensor, alpha: float | None = None
    ) -> dict[str, Tensor]:
        """``warped`` at the features' resolution, ``matrix`` and ``exemplar_small``."""
        structure_features = self.features(structure_as_image(structure))
        exemplar_features = self.features(exemplar)
        matrix = correlation(structure_features, exemplar_features)
        exemplar_small = pooled_exemplar(exemplar, structure_features)
        warped = warp(matrix, exemplar_small, self.alpha if alpha is None else alpha)
        return {"warped": warped, "matrix": matrix, "exemplar_small": exemplar_small}

    def warp_exemplar(self, structure: Tensor, exemplar: Tensor, max_entries: int) -> Tensor:
        """The warped exemplar alone, with at most ``max_entries`` entries of the correlation
        matrix in memory at once (``bounded_warp``); MGI's stage 1."""
        structure_features = self.features(structure_as_image(structure))
        exemplar_features = self.features(exemplar)
        return bounded_warp(
            structure_features, exemplar_features, exemplar, self.alpha, max_entries
        )


def save_correspondence(net: CorrespondenceNet, path: Path, details: dict[str, Any]) -> None:
    """Weights, config and details as plain tensors and dicts (loads with weights_only)."""
    save_net_file(net, net.config, path, FORMAT, details)


def load_correspondence(path: str | Path) -> tuple[CorrespondenceNet, dict[str, Any]]:
    """(net in eval mode, details) from ``save_correspondence``'s file; a clear error for a
    missing, unreadable or foreign file."""
    make_one = "train one with python -m ganlab.run experiment=correspondence_toyfaces"
    return load_net_file(path, FORMAT, CorrespondenceNet, make_one)
