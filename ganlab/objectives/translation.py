"""Losses of unpaired image-to-image translation (CycleGAN, Zhu et al. 2017, and the methods
built on its two-domain frame), as pure functions of tensors. L1 is the mean absolute error.
"""

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


def reference_critic_loss(
    game: Game, name: str, real_scores: Tensor, fake_scores: Tensor
) -> Tensor:
    """The discriminator's loss as CycleGAN's code computes it for game ``name``."""
    return REFERENCE_GAN_SCALES[name][0] * game.critic_loss(real_scores, fake_scores)


def reference_generator_loss(game: Game, name: str, fake_scores: Tensor) -> Tensor:
    """The generator's adversarial loss as CycleGAN's code computes it for game ``name``."""
    return REFERENCE_GAN_SCALES[name][1] * game.generator_loss(fake_scores)


def cycle_consistency_loss(reconstructed: Tensor, original: Tensor) -> Tensor:
    """||F(G(x)) - x||_1 (CycleGAN eq. 2), one direction."""
    return (reconstructed - original).abs().mean()


def identity_mapping_loss(mapped: Tensor, original: Tensor) -> Tensor:
    """||G(y) - y||_1 for y of G's target domain (CycleGAN sec. 5.2), one direction."""
    return (mapped - original).abs().mean()
