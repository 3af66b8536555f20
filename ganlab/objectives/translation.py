"""Losses of unpaired image-to-image translation (CycleGAN, Zhu et al. 2017, and the methods
built on its two-domain frame), as pure functions of tensors. L1 is the mean absolute error.
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ganlab.objectives.adversarial import Game

# The reference code's GANLoss against ganlab's games: its discriminator loss is
# 1/2 (loss(D(x), real) + loss(D(G(x)), fake)) and its generator loss loss(D(G(x)), real).
# ganlab's lsgan already halves both critic terms but also halves the generator's squared
# error; its gan/nsgan/hinge critic losses sum the two terms. (critic, generator) factors:
REFERENCE_GAN_SCALES = {
    "lsgan": (1.0, 2.0),
    "gan": (0.5, 1.0),
    "nsgan": (0.5, 1.0),
    "hinge": (0.5, 1.0),
}


Scores = Tensor | Sequence[Tensor]  # a discriminator's map, or one map per scale (MUNIT)


def per_scale(scores: Scores) -> list[Tensor]:
    return [scores] if isinstance(scores, Tensor) else list(scores)


def reference_critic_loss(
    game: Game, name: str, real_scores: Scores, fake_scores: Scores
) -> Tensor:
    """The discriminator's loss as CycleGAN's code computes it for game ``name``; a
    multi-scale discriminator's losses are summed over its scales (MUNIT)."""
    pairs = zip(per_scale(real_scores), per_scale(fake_scores), strict=True)
    losses = [game.critic_loss(real, fake) for real, fake in pairs]
    return REFERENCE_GAN_SCALES[name][0] * torch.stack(losses).sum()


def reference_generator_loss(game: Game, name: str, fake_scores: Scores) -> Tensor:
    """The generator's adversarial loss as CycleGAN's code computes it for game ``name``
    (summed over the scales of a multi-scale discriminator)."""
    losses = [game.generator_loss(fake) for fake in per_scale(fake_scores)]
    return REFERENCE_GAN_SCALES[name][1] * torch.stack(losses).sum()


def cycle_consistency_loss(reconstructed: Tensor, original: Tensor) -> Tensor:
    """||F(G(x)) - x||_1 (CycleGAN eq. 2), one direction."""
    return (reconstructed - original).abs().mean()


def feature_consistency_loss(translated_features: Tensor, source_features: Tensor) -> Tensor:
    """||f_b(x_ab) - f_a(x_aa)||_1, mean over elements: the discriminators' shared high-level
    layers read a translation as its source's reconstruction (UNIT's DA, one direction)."""
    return (translated_features - source_features).abs().mean()


def identity_mapping_loss(mapped: Tensor, original: Tensor) -> Tensor:
    """||G(y) - y||_1 for y of G's target domain (CycleGAN sec. 5.2), one direction."""
    return (mapped - original).abs().mean()


GEOMETRIC_TRANSFORMS = ("rot", "vflip")


def geometric_transform(images: Tensor, name: str) -> Tensor:
    """f(x) of GcGAN: ``rot`` turns (B, C, H, W) images 90 degrees clockwise (the reference:
    transpose H and W, then flip W); ``vflip`` flips them upside down."""
    if name == "rot":
        return images.transpose(2, 3).flip(3)
    if name == "vflip":
        return images.flip(2)
    raise ValueError(
        f"unknown geometric transform {name!r}; known: {', '.join(GEOMETRIC_TRANSFORMS)}"
    )


def inverse_geometric_transform(images: Tensor, name: str) -> Tensor:
    """f^-1: ``rot`` back (transpose, then flip H); ``vflip`` is its own inverse."""
    if name == "rot":
        return images.transpose(2, 3).flip(2)
    return geometric_transform(images, name)


def geometry_consistency_loss(
    translated: Tensor, translated_transformed: Tensor, name: str, detach_targets: bool = False
) -> Tensor:
    """||G(x) - f^-1(G(f(x)))||_1 + ||G(f(x)) - f(G(x))||_1 with gradient through both sides of
    each term; ``detach_targets``: f^-1(G(f(x))) and f(G(x)) detached, as the reference code,
    which halves the gradient (f is a permutation of pixels, so both terms are one L1)."""
    # GcGAN eq. 3
    back = inverse_geometric_transform(translated_transformed, name)
    forward = geometric_transform(translated, name)
    if detach_targets:
        back, forward = back.detach(), forward.detach()
    return (translated - back).abs().mean() + (translated_transformed - forward).abs().mean()


def pairwise_distances(images: Tensor) -> Tensor:
    """d(x_i, x_j) = mean |x_i - x_j| for every pair i < j of a (B, ...) batch: (B(B-1)/2,)."""
    flat = images.flatten(1)
    rows, cols = torch.triu_indices(len(flat), len(flat), offset=1)
    return (flat[rows] - flat[cols]).abs().mean(1)


def half_distances(images: Tensor) -> Tensor:
    """d(top half, bottom half) of each (B, C, H, W) image (DistanceGAN's self-distance): (B,)."""
    top, bottom = images[..., : images.shape[-2] // 2, :], images[..., images.shape[-2] // 2 :, :]
    rows = min(top.shape[-2], bottom.shape[-2])
    return (top[..., :rows, :] - bottom[..., :rows, :]).abs().flatten(1).mean(1)


def distance_preservation_loss(
    source_distances: Tensor, mapped_distances: Tensor, source_stats: Tensor, target_stats: Tensor
) -> Tensor:
    """mean |(d_s - mu_s) / sigma_s - (d_t - mu_t) / sigma_t| (DistanceGAN eq. 5/6): distances
    between inputs and between their translations, each standardised by its domain's
    (mu, sigma) = ``*_stats``."""
    source = (source_distances - source_stats[0]) / source_stats[1]
    mapped = (mapped_distances - target_stats[0]) / target_stats[1]
    return (source - mapped).abs().mean()


def latent_kl(mean: Tensor) -> Tensor:
    """UNIT's KL term for q(z|x) = N(mean, I) against N(0, I): E[mean^2] (the reference's
    reduced form; the exact KL is 1/2 sum mean^2, a constant factor apart)."""
    return mean.pow(2).mean()


def domain_invariant_perceptual_loss(translated_maps: Tensor, input_maps: Tensor) -> Tensor:
    """MUNIT's domain-invariant perceptual loss (sec. 5.1 of the appendix, the reference's
    ``compute_vgg_loss``): mean squared difference of the instance-normalised feature maps of a
    translation and of its input, so domain-specific feature statistics do not count."""
    return F.mse_loss(F.instance_norm(translated_maps), F.instance_norm(input_maps))
