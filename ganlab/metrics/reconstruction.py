"""Reconstruction metrics between image pairs in [-1, 1]: PSNR, SSIM, MSE (torchmetrics)
and LPIPS (the ``lpips`` package's calibrated net, through the feature registry).

PSNR and MSE are on the [0, 1] scale (PSNR = 10 log10(1 / MSE)) and averaged over images;
SSIM uses the standard 11x11 Gaussian window with sigma 1.5 (Wang et al. 2004).
"""

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics.functional import mean_squared_error
from torchmetrics.functional.image import (
    peak_signal_noise_ratio,
    structural_similarity_index_measure,
)

from ganlab.features import FeatureExtractor, short_name


def to_unit(images: Tensor) -> Tensor:
    return (images.clamp(-1.0, 1.0) + 1.0) / 2.0


def check_pair(predicted: Tensor, target: Tensor) -> None:
    if predicted.shape != target.shape or predicted.ndim != 4:
        raise ValueError(
            f"need two (B, C, H, W) batches of one shape, got {tuple(predicted.shape)} "
            f"and {tuple(target.shape)}"
        )


def psnr(predicted: Tensor, target: Tensor) -> float:
    """Mean over images of each image's PSNR in dB."""
    check_pair(predicted, target)
    value = peak_signal_noise_ratio(
        to_unit(predicted), to_unit(target), data_range=1.0, dim=(1, 2, 3)
    )
    return value.item()


def ssim(predicted: Tensor, target: Tensor) -> float:
    """Mean SSIM over images (and channels)."""
    check_pair(predicted, target)
    return structural_similarity_index_measure(
        to_unit(predicted), to_unit(target), data_range=1.0
    ).item()


def mse(predicted: Tensor, target: Tensor) -> float:
    check_pair(predicted, target)
    return mean_squared_error(to_unit(predicted), to_unit(target)).item()


def paired_embeddings(
    predicted: Tensor, target: Tensor, net: FeatureExtractor, chunk: int = 64
) -> Iterator[tuple[Tensor, Tensor]]:
    """``net``'s embeddings of both batches, ``chunk`` images at a time, on ``net``'s device."""
    check_pair(predicted, target)
    device = next(net.parameters()).device
    with torch.no_grad():
        for first, second in zip(predicted.split(chunk), target.split(chunk), strict=True):
            yield net(first.to(device)).float().cpu(), net(second.to(device)).float().cpu()


def lpips_distance(predicted: Tensor, target: Tensor, lpips_net: FeatureExtractor) -> float:
    """Mean LPIPS distance: the squared distance of the two images' LPIPS embeddings."""
    distances = [(a - b).pow(2).sum(1) for a, b in paired_embeddings(predicted, target, lpips_net)]
    return torch.cat(distances).mean().item()


def identity_similarity(predicted: Tensor, target: Tensor, identity_net: FeatureExtractor) -> float:
    """Mean cosine similarity of the two images' identity embeddings (pSp's ID metric)."""
    similarities = [
        F.cosine_similarity(a, b, dim=1)
        for a, b in paired_embeddings(predicted, target, identity_net)
    ]
    return torch.cat(similarities).mean().item()


def reconstruction_scores(
    predicted: Tensor,
    target: Tensor,
    lpips_net: FeatureExtractor | None = None,
    identity_net: FeatureExtractor | None = None,
) -> dict[str, float]:
    """PSNR, SSIM, MSE (+ LPIPS under the net's name, + ``identity_similarity``)."""
    scores = {
        "psnr": psnr(predicted, target),
        "ssim": ssim(predicted, target),
        "mse": mse(predicted, target),
    }
    if lpips_net is not None:
        scores[short_name(lpips_net.name)] = lpips_distance(predicted, target, lpips_net)
    if identity_net is not None:
        scores["identity_similarity"] = identity_similarity(predicted, target, identity_net)
    return scores
