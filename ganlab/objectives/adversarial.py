"""Adversarial games: the critic's and the generator's losses, as pure functions of critic outputs.

Every function takes raw critic outputs (logits / scores, shape (B,) or (B, 1)) and returns a
scalar to *minimise*. A game is a (critic_loss, generator_loss) pair registered in ``GAMES``;
the ``loss/`` config group picks one by name.

- ``gan``:   minimax game of Goodfellow et al. 2014, Eq. 1.
- ``nsgan``: same critic, non-saturating generator loss (Goodfellow et al. 2014, Sec. 3).
- ``hinge``: Lim & Ye 2017 / Miyato et al. 2018, Eq. 16-17.
- ``lsgan``: least squares with targets a=0, b=1, c=1 (Mao et al. 2017, Eq. 2), the game of
  CycleGAN's and UNIT's image discriminators.
- ``wasserstein``: Arjovsky et al. 2017, Eq. 3 (critic) — used with weight clipping (WGAN)
  or with the gradient penalty of Gulrajani et al. 2017, Eq. 3 (WGAN-GP).
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlab.objectives.tricks import smoothed_gan_critic_loss, smoothed_lsgan_critic_loss


def gan_critic_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """-E[log D(x)] - E[log(1 - D(G(z)))] with D = sigmoid(logits) (Goodfellow 2014, Eq. 1)."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def minimax_generator_loss(fake_logits: Tensor) -> Tensor:
    """E[log(1 - D(G(z)))], the saturating generator loss (Goodfellow 2014, Eq. 1)."""
    return -F.softplus(fake_logits).mean()


def nonsaturating_generator_loss(fake_logits: Tensor) -> Tensor:
    """-E[log D(G(z))] (Goodfellow 2014, Sec. 3)."""
    return F.softplus(-fake_logits).mean()


def hinge_critic_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """E[max(0, 1 - C(x))] + E[max(0, 1 + C(G(z)))] (Miyato et al. 2018, Eq. 16)."""
    return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()


def lsgan_critic_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2] (Mao et al. 2017, Eq. 2 with a=0, b=1)."""
    return 0.5 * (real_scores - 1.0).pow(2).mean() + 0.5 * fake_scores.pow(2).mean()


def lsgan_generator_loss(fake_scores: Tensor) -> Tensor:
    """1/2 E[(D(G(z)) - 1)^2] (Mao et al. 2017, Eq. 2 with c=1)."""
    return 0.5 * (fake_scores - 1.0).pow(2).mean()


def wasserstein_critic_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """E[C(G(z))] - E[C(x)]: minus the critic's estimate of W1 (Arjovsky et al. 2017, Eq. 3)."""
    return fake_scores.mean() - real_scores.mean()


def mean_score_generator_loss(fake_scores: Tensor) -> Tensor:
    """-E[C(G(z))]: the generator loss of the hinge and Wasserstein games."""
    return -fake_scores.mean()


def wasserstein_estimate(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """E[C(x)] - E[C(G(z))]: the dual estimate of W1 when C is 1-Lipschitz (Arjovsky, Eq. 3)."""
    return real_scores.mean() - fake_scores.mean()


def gradient_penalty(
    critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, alpha: Tensor | None = None
) -> Tensor:
    """E[(||grad_x C(x_hat)||_2 - 1)^2] at x_hat = a*real + (1-a)*fake (Gulrajani 2017, Eq. 3).

    ``real``, ``fake``: (B, ...) tensors of the same shape. ``alpha``: (B,) mixing weights,
    one per sample, drawn from U[0, 1] when not given. The graph is kept (create_graph) so
    the penalty can be back-propagated into the critic's parameters.
    """
    if real.shape != fake.shape:
        raise ValueError(f"gradient_penalty: real {tuple(real.shape)} != fake {tuple(fake.shape)}")
    batch = real.shape[0]
    if alpha is None:
        alpha = torch.rand(batch, device=real.device, dtype=real.dtype)
    alpha = alpha.view(batch, *([1] * (real.dim() - 1)))
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()


def real_gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor) -> Tensor:
    """E[||grad_x C(x)||_2^2] on real data (R1; Mescheder et al. 2018, Eq. 9 without gamma/2).

    Keeps the critic flat on the data, so its outputs cannot run off to +-inf.
    """
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(real).sum(), real, create_graph=True)
    return grad.flatten(1).pow(2).sum(1).mean()


@torch.no_grad()
def clip_weights_(
    module: nn.Module, clip_value: float, biases: bool = True, before_norm: bool = True
) -> None:
    """Clamp the parameters of ``module`` to [-c, c] in place (Arjovsky et al. 2017, Alg. 1).

    ``biases=False`` leaves biases (and a norm layer's shift) free: they do not enter the
    critic's Lipschitz constant, and clamped at +-c with the scales they pin every activation
    threshold to a fixed place. ``before_norm=False`` leaves free the weights of layers whose
    output a normalisation layer rescales (``weights_before_norm``): the critic's function does
    not depend on their scale, so clamping them only pushes them to +-c."""
    free = set() if before_norm else weights_before_norm(module)
    for name, parameter in module.named_parameters():
        if name in free or (not biases and name.rsplit(".", 1)[-1] == "bias"):
            continue
        parameter.clamp_(-clip_value, clip_value)


NORM_LAYERS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d, nn.LayerNorm)


def weights_before_norm(module: nn.Module) -> set[str]:
    """Names of the weights of linear/conv layers whose next layer is a normalisation layer."""
    leaves = [(n, m) for n, m in module.named_modules() if not list(m.children())]
    return {
        f"{name}.weight" if name else "weight"
        for (name, layer), (_, following) in zip(leaves[:-1], leaves[1:], strict=True)
        if isinstance(layer, nn.Linear | nn.Conv2d) and isinstance(following, NORM_LAYERS)
    }


@dataclass(frozen=True)
class Game:
    """One adversarial game: what the critic minimises and what the generator minimises."""

    critic_loss: Callable[[Tensor, Tensor], Tensor]
    generator_loss: Callable[[Tensor], Tensor]


GAMES: dict[str, Game] = {
    "gan": Game(gan_critic_loss, minimax_generator_loss),
    "nsgan": Game(gan_critic_loss, nonsaturating_generator_loss),
    "hinge": Game(hinge_critic_loss, mean_score_generator_loss),
    "lsgan": Game(lsgan_critic_loss, lsgan_generator_loss),
    "wasserstein": Game(wasserstein_critic_loss, mean_score_generator_loss),
}


# the games of a discriminator's logits (a GAN's; WGAN's critic plays "wasserstein")
DISCRIMINATOR_GAMES = ("gan", "nsgan", "hinge", "lsgan")


# the critic losses with a real target a != 1 or a fake target b != 0 (label smoothing)
SMOOTHED_CRITIC_LOSSES: dict[str, Callable[..., Tensor]] = {
    "gan": smoothed_gan_critic_loss,
    "nsgan": smoothed_gan_critic_loss,
    "lsgan": smoothed_lsgan_critic_loss,
}


def get_game(name: str, real_label: float = 1.0, fake_label: float = 0.0) -> Game:
    """The registered game called ``name``; a ValueError lists the valid names otherwise.
    ``real_label`` < 1 smooths the critic's real target, ``fake_label`` > 0 its fake target
    (Salimans et al. 2016, sec. 3.4: one-sided smoothing keeps the fake target at 0)."""
    if name not in GAMES:
        raise ValueError(f"unknown adversarial game {name!r}; valid games: {', '.join(GAMES)}")
    if real_label == 1.0 and fake_label == 0.0:
        return GAMES[name]
    if name not in SMOOTHED_CRITIC_LOSSES:
        raise ValueError(
            "label smoothing needs a game with labels "
            f"({', '.join(SMOOTHED_CRITIC_LOSSES)}), got {name!r}"
        )
    smoothed = partial(SMOOTHED_CRITIC_LOSSES[name], real_label=real_label, fake_label=fake_label)
    return Game(smoothed, GAMES[name].generator_loss)
