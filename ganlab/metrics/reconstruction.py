"""Reconstruction metrics between image pairs in [-1, 1]: PSNR, SSIM, MSE (torchmetrics)
and LPIPS (the ``lpips`` package's calibrated net, through the feature registry).

PSNR and MSE are on the [0, 1] scale (PSNR = 10 log10(1 / MSE)) and averaged over images;
SSIM uses the standard 11x11 Gaussian window with sigma 1.5 (Wang et al. 2004).
"""

from collections.abc import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics.functional.image import (
    peak_signal_noise_ratio,
    structural_similarity_index_measure,
)

from ganlab.features import FeatureExtractor, short_name
from ganlab.features.base import embed_together


def to_unit(images: Tensor) -> Tensor:
    return (images.clamp(-1.0, 1.0) + 1.0) / 2.0


def check_pair(predicted: Tensor, target: Tensor) -> None:
    if predicted.shape != target.shape or predicted.ndim != 4:
        raise ValueError(
            f"need two (B, C, H, W) batches of one shape, got {tuple(predicted.shape)} "
            f"and {tuple(target.shape)}"
        )


def per_image_psnr(predicted: Tensor, target: Tensor) -> Tensor:
    """(B,) PSNR in dB of each image pair."""
    return peak_signal_noise_ratio(
        to_unit(predicted), to_unit(target), data_range=1.0, dim=(1, 2, 3), reduction="none"
    )


def per_image_ssim(predicted: Tensor, target: Tensor) -> Tensor:
    """(B,) SSIM of each image pair (averaged over its channels)."""
    return structural_similarity_index_measure(
        to_unit(predicted), to_unit(target), data_range=1.0, reduction="none"
    )


def per_image_mse(predicted: Tensor, target: Tensor) -> Tensor:
    return (to_unit(predicted) - to_unit(target)).pow(2).flatten(1).mean(1)


PIXEL_CHUNK = 25  # image pairs scored at once: SSIM's filters of 100 pairs took ~0.4 GB


def mean_over_chunks(
    per_image: Callable[[Tensor, Tensor], Tensor], predicted: Tensor, target: Tensor, chunk: int
) -> float:
    """Mean over images of ``per_image`` (B,) scores, ``chunk`` pairs at a time (SSIM's
    filtered maps of a thousand images would take gigabytes at once)."""
    check_pair(predicted, target)
    with torch.no_grad():
        pieces = [
            per_image(a, b).double()
            for a, b in zip(predicted.split(chunk), target.split(chunk), strict=True)
        ]
    return torch.cat(pieces).mean().item()


def psnr(predicted: Tensor, target: Tensor, chunk: int = PIXEL_CHUNK) -> float:
    """Mean over images of each image's PSNR in dB."""
    return mean_over_chunks(per_image_psnr, predicted, target, chunk)


def ssim(predicted: Tensor, target: Tensor, chunk: int = PIXEL_CHUNK) -> float:
    """Mean SSIM over images (and channels)."""
    return mean_over_chunks(per_image_ssim, predicted, target, chunk)


def mse(predicted: Tensor, target: Tensor, chunk: int = PIXEL_CHUNK) -> float:
    return mean_over_chunks(per_image_mse, predicted, target, chunk)


def paired_embeddings(
    predicted: Tensor, target: Tensor, net: FeatureExtractor, chunk: int = 64
) -> Iterator[tuple[Tensor, Tensor]]:
    """``net``'s embeddings of both batches, ``chunk`` images at a time, on ``net``'s device."""
    for first, second, _ in embedding_chunks(predicted, target, [net], [], chunk):
        yield first[0], second[0]


def embedding_chunks(
    predicted: Tensor,
    target: Tensor,
    nets: Sequence[FeatureExtractor],
    predicted_only: Sequence[FeatureExtractor] = (),
    chunk: int = 64,
) -> Iterator[tuple[list[Tensor], list[Tensor], list[Tensor]]]:
    """Per ``chunk`` of pairs: each of ``nets``' embeddings of the predicted and of the
    target images, and each of ``predicted_only``'s of the predicted ones; nets with one
    trunk share its pass (``embed_together``); float32 on the CPU."""
    check_pair(predicted, target)
    device = next([*nets, *predicted_only][0].parameters()).device
    with torch.no_grad():
        for first, second in zip(predicted.split(chunk), target.split(chunk), strict=True):
            of_first = embed_together(first.to(device), [*nets, *predicted_only])
            of_second = embed_together(second.to(device), nets)
            yield (
                [e.float().cpu() for e in of_first[: len(nets)]],
                [e.float().cpu() for e in of_second],
                [e.float().cpu() for e in of_first[len(nets) :]],
            )


def lpips_of_embeddings(a: Tensor, b: Tensor) -> Tensor:
    """(B,) LPIPS distances: the squared distance of two images' LPIPS embeddings."""
    return (a - b).pow(2).sum(1)


def identity_of_embeddings(a: Tensor, b: Tensor) -> Tensor:
    """(B,) identity similarities: the cosine of two images' identity embeddings (pSp's ID)."""
    return F.cosine_similarity(a, b, dim=1)


def lpips_distance(predicted: Tensor, target: Tensor, lpips_net: FeatureExtractor) -> float:
    """Mean LPIPS distance of the image pairs."""
    pairs = paired_embeddings(predicted, target, lpips_net)
    return torch.cat([lpips_of_embeddings(a, b) for a, b in pairs]).mean().item()


def identity_similarity(predicted: Tensor, target: Tensor, identity_net: FeatureExtractor) -> float:
    """Mean identity similarity of the image pairs."""
    pairs = paired_embeddings(predicted, target, identity_net)
    return torch.cat([identity_of_embeddings(a, b) for a, b in pairs]).mean().item()


def reconstruction_scores(
    predicted: Tensor,
    target: Tensor,
    lpips_net: FeatureExtractor | None = None,
    identity_net: FeatureExtractor | None = None,
) -> dict[str, float]:
    """PSNR, SSIM, MSE (+ LPIPS under the net's name, + ``identity_similarity``)."""
    return scores_and_features(predicted, target, lpips_net, identity_net)[0]


def scores_and_features(
    predicted: Tensor,
    target: Tensor,
    lpips_net: FeatureExtractor | None = None,
    identity_net: FeatureExtractor | None = None,
    feature_net: FeatureExtractor | None = None,
) -> tuple[dict[str, float], Tensor | None]:
    """``reconstruction_scores`` and ``feature_net``'s features of the predicted images (for
    their FID; None without it), the embedding nets' passes shared where they share a trunk
    (the domain nets' LPIPS, identity and FID features: one pass of the body per image)."""
    scores = {
        "psnr": psnr(predicted, target),
        "ssim": ssim(predicted, target),
        "mse": mse(predicted, target),
    }
    nets = [net for net in (lpips_net, identity_net) if net is not None]
    extra = [feature_net] if feature_net is not None else []
    if not nets and not extra:
        return scores, None
    distances, similarities, features = [], [], []
    for first, second, of_predicted in embedding_chunks(predicted, target, nets, extra):
        pairs = zip(first, second, strict=True)  # in the order of ``nets``
        if lpips_net is not None:
            a, b = next(pairs)
            distances.append(lpips_of_embeddings(a, b))
        if identity_net is not None:
            a, b = next(pairs)
            similarities.append(identity_of_embeddings(a, b))
        features.extend(of_predicted)
    if lpips_net is not None:
        scores[short_name(lpips_net.name)] = torch.cat(distances).mean().item()
    if identity_net is not None:
        scores["identity_similarity"] = torch.cat(similarities).mean().item()
    return scores, (torch.cat(features) if extra else None)
