"""UDA-Inversion's domain discrepancy (Xing et al., "Unsupervised Domain Adaptation GAN
Inversion for Image Editing", Sec. III), on reconstructions of source and target images.

A frozen feature net H and a trainable copy Ĥ of its architecture (randomly initialised)
look at the same reconstruction x̂ = G(E(x)). ℓ̂(x̂) is the LPIPS-style distance of their
features: per layer, channel-unit-normalised maps, squared difference, optional per-channel
weights (LPIPS's calibrated 1x1 layers), mean over positions; summed over layers, each layer
optionally rescaled (``balanced_layer_weights``). The discrepancy d_st compares the two
domains' distances through an f-divergence's variational form, in one of two forms:

- ``paper``: eq. 19 as written, mean_s g_f(ℓ̂) - mean_t f*(g_f(ℓ̂)), f* of each target sample;
- ``official``: the official code's, f* of the batch *mean* of the target distances. For
  Pearson (f*(t) = t²/4 + t) it exceeds the paper's by Var_t(ℓ̂)/4 (f* is convex: Jensen).

g_f is fDAL's output activation, the identity for Pearson (the paper's choice) and KL; for
the other divergences it keeps the argument of f* inside its domain.
"""

from collections.abc import Sequence

import torch
from torch import Tensor

from ganlab.objectives.divergences import FDivergence

DISCREPANCY_FORMS = ("paper", "official")


def unit_normalize(maps: Tensor, eps: float = 1e-10) -> Tensor:
    """(B, C, H, W) maps divided by their L2 norm over channels at each position."""
    return maps / (maps.pow(2).sum(dim=1, keepdim=True) + eps).sqrt()


def layer_distances(
    head_maps: Sequence[Tensor],
    frozen_maps: Sequence[Tensor],
    layer_weights: Sequence[Tensor] | None = None,
) -> Tensor:
    """(B, L): per layer l, mean_hw sum_c w_lc (unit(Ĥ_l) - unit(H_l))^2, LPIPS's Eq. 1 before
    its sum over layers, between the trainable head's and the frozen net's maps of the same
    images; the channel weights (1, C_l, 1, 1) default to 1."""
    # LPIPS (Zhang et al. 2018) Eq. 1, layer by layer
    if len(head_maps) != len(frozen_maps):
        raise ValueError(f"{len(head_maps)} head maps vs {len(frozen_maps)} frozen maps")
    per_layer = []
    for index, (head, frozen) in enumerate(zip(head_maps, frozen_maps, strict=True)):
        squared = (unit_normalize(head) - unit_normalize(frozen)).pow(2)
        if layer_weights is not None:
            squared = squared * layer_weights[index]
        per_layer.append(squared.sum(dim=1).mean(dim=(1, 2)))
    return torch.stack(per_layer, dim=1)


def feature_distance(per_layer: Tensor, layer_balance: Tensor | None = None) -> Tensor:
    """ℓ̂ per sample, (B,): the (B, L) layer distances summed over layers, each times its
    balance weight (L,) when given."""
    if layer_balance is not None:
        per_layer = per_layer * layer_balance
    return per_layer.sum(dim=1)


def balanced_layer_weights(initial_means: Tensor) -> Tensor:
    """(L,) weights w_l = mean_k(m_k) / m_l for the layers' initial mean distances m (L,):
    each layer's distance divided by its initial mean, so every layer starts contributing
    the same, and the weighted sum starts where the plain sum did (sum_l w_l m_l = sum_l m_l)."""
    # ours: LPIPS-style calibration without learning, w_l m_l = mean(m) for every layer
    if not bool((initial_means > 0).all()):
        raise ValueError(
            "per-layer calibration divides each layer's distance by its initial mean, and "
            f"some are not positive: {initial_means.tolist()}; the head Ĥ must start "
            "different from H (a random initialisation), or use distance_calibration=none"
        )
    return initial_means.mean() / initial_means


def discrepancy_per_sample(
    source_distance: Tensor, target_distance: Tensor, divergence: FDivergence
) -> Tensor:
    """d_st = mean_s g_f(ℓ̂) - mean_t f*(g_f(ℓ̂)) of per-sample distances (B,): f* of each
    target sample's distance."""
    # eq. 19
    source = divergence.activation(source_distance).mean()
    return source - divergence.conjugate_of_activation(target_distance).mean()


def discrepancy_of_means(
    source_distance: Tensor, target_distance: Tensor, divergence: FDivergence
) -> Tensor:
    """d_st = g_f(mean_s ℓ̂) - f*(g_f(mean_t ℓ̂)): f* of the batch mean of the target
    distances, as the official code computes eq. 19 (its ℓ̂ is one number per batch)."""
    # eq. 19, the official code's reading
    source = divergence.activation(source_distance.mean())
    return source - divergence.conjugate_of_activation(target_distance.mean())


def domain_discrepancy(
    source_distance: Tensor, target_distance: Tensor, divergence: FDivergence, form: str
) -> Tensor:
    """d_st of per-sample distances (B,) in ``form``: ``paper`` (eq. 19 per sample) or
    ``official`` (f* of the batch mean)."""
    if form == "paper":
        return discrepancy_per_sample(source_distance, target_distance, divergence)
    if form == "official":
        return discrepancy_of_means(source_distance, target_distance, divergence)
    raise ValueError(f"discrepancy form must be one of {DISCREPANCY_FORMS}, got {form!r}")
