"""GAN: a generator against a discriminator (Goodfellow et al. 2014, Algorithm 1).

The game is chosen by ``loss=``: ``gan`` (minimax, Eq. 1), ``nsgan`` (non-saturating
generator, Sec. 3) or ``hinge`` (Miyato et al. 2018, Eq. 16-17). With ``n_critic`` k > 1 the
discriminator takes k steps, each on a fresh batch, per generator step (Alg. 1's k).
"""

from typing import Any

from torch import Tensor, nn

from ganlab.methods.base import AdversarialModule, OptimizerFactory, Phase, Player, SchedulerFactory
from ganlab.objectives.adversarial import get_game

GAN_GAMES = ("gan", "nsgan", "hinge")


class GAN(AdversarialModule):
    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        generator_optimizer: OptimizerFactory,
        discriminator_optimizer: OptimizerFactory,
        game: str = "nsgan",
        n_critic: int = 1,
        generator_scheduler: SchedulerFactory | None = None,
        discriminator_scheduler: SchedulerFactory | None = None,
        grad_clip_norm: float | None = None,
        ema_decay: float | None = 0.999,
        ema_start_step: int = 0,
    ) -> None:
        if game not in GAN_GAMES:
            raise ValueError(
                f"model=gan plays one of {', '.join(GAN_GAMES)}, got loss game {game!r}; "
                "for the Wasserstein losses use model=wgan"
            )
        super().__init__(
            {"generator": generator, "discriminator": discriminator}, ema_decay, ema_start_step
        )
        self.game = get_game(game)
        self.n_critic = n_critic
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        self.generator_scheduler = generator_scheduler
        self.discriminator_scheduler = discriminator_scheduler
        self.grad_clip_norm = grad_clip_norm

    def players(self) -> list[Player]:
        return [
            Player(
                "discriminator",
                ("discriminator",),
                self.discriminator_optimizer,
                self.discriminator_scheduler,
                self.grad_clip_norm,
            ),
            Player(
                "generator",
                ("generator",),
                self.generator_optimizer,
                self.generator_scheduler,
                self.grad_clip_norm,
            ),
        ]

    def phases(self) -> list[Phase]:
        return [
            Phase("discriminator", "discriminator", self.discriminator_loss),
            Phase("generator", "generator", self.generator_loss, every=self.n_critic),
        ]

    def discriminator_loss(self, batch: dict[str, Any]) -> Tensor:
        real = batch["image"]
        fake = self.generator(self.sample_latent(real.shape[0])).detach()
        return self.game.critic_loss(self.discriminator(real), self.discriminator(fake))

    def generator_loss(self, batch: dict[str, Any]) -> Tensor:
        fake = self.generator(self.sample_latent(batch["image"].shape[0]))
        return self.game.generator_loss(self.discriminator(fake))
