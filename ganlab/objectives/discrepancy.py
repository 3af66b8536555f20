"""UDA-Inversion's domain discrepancy (Xing et al., "Unsupervised Domain Adaptation GAN
Inversion for Image Editing", Sec. III), on reconstructions of source and target images.

A frozen feature net H and a trainable copy Ĥ of its architecture (randomly initialised)
look at the same reconstruction x̂ = G(E(x)). ℓ̂(x̂) is the LPIPS-style distance of their
features: per layer, channel-unit-normalised maps, squared difference, optional per-channel
weights (LPIPS's calibrated 1x1 layers), mean over positions; summed over layers. The
discrepancy compares the source and target averages through an f-divergence's variational
form, the head Ĥ maximising it and the encoder minimising its absolute value (the official
code's |d_st|).
"""

from collections.abc import Sequence

from torch import Tensor

from ganlab.objectives.divergences import FDivergence


def unit_normalize(maps: Tensor, eps: float = 1e-10) -> Tensor:
    """(B, C, H, W) maps divided by their L2 norm over channels at each position."""
    return maps / (maps.pow(2).sum(dim=1, keepdim=True) + eps).sqrt()


def feature_distance(
    head_maps: Sequence[Tensor],
    frozen_maps: Sequence[Tensor],
    layer_weights: Sequence[Tensor] | None = None,
) -> Tensor:
    """ℓ̂ per sample, (B,): sum_l mean_hw sum_c w_lc (unit(Ĥ_l) - unit(H_l))^2 (LPIPS's Eq. 1
    between the trainable head's and the frozen net's maps of the same images); weights
    (1, C_l, 1, 1) default to 1."""
    if len(head_maps) != len(frozen_maps):
        raise ValueError(f"{len(head_maps)} head maps vs {len(frozen_maps)} frozen maps")
    total = 0.0
    for index, (head, frozen) in enumerate(zip(head_maps, frozen_maps, strict=True)):
        squared = (unit_normalize(head) - unit_normalize(frozen)).pow(2)
        if layer_weights is not None:
            squared = squared * layer_weights[index]
        total = total + squared.sum(dim=1).mean(dim=(1, 2))
    return total


def domain_discrepancy(
    source_distance: Tensor, target_distance: Tensor, divergence: FDivergence
) -> Tensor:
    """d_st = g_f(mean_s ℓ̂) - f*(g_f(mean_t ℓ̂)) (eq. 19): f* of the batch *mean* of the
    target distances, as the official code computes it. g_f is fDAL's output activation,
    the identity for Pearson (the paper's choice) and KL, so for them this is eq. 19 as
    written; for the other divergences it keeps the argument of f* inside its domain."""
    source = divergence.activation(source_distance.mean())
    return source - divergence.conjugate_of_activation(target_distance.mean())
