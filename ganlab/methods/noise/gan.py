"""GAN: a generator against a discriminator (Goodfellow et al. 2014, Algorithm 1).

The game is chosen by ``loss=``: ``gan`` (minimax, Eq. 1), ``nsgan`` (non-saturating
generator, Sec. 3), ``hinge`` (Miyato et al. 2018, Eq. 16-17) or ``lsgan`` (Mao et al.
2017). With ``n_critic`` k > 1 the discriminator takes k steps, each on a fresh batch, per
generator step (Alg. 1's k).
"""

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from ganlab.methods.base import OptimizerFactory, SchedulerFactory, StepContext
from ganlab.methods.noise.two_player import Tricks, TwoPlayerModule
from ganlab.objectives.adversarial import DISCRIMINATOR_GAMES, get_game


class GAN(TwoPlayerModule):
    critic_name = "discriminator"

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
        tricks: Tricks | Mapping[str, Any] | None = None,
    ) -> None:
        if game not in DISCRIMINATOR_GAMES:
            raise ValueError(
                f"model=gan plays one of {', '.join(DISCRIMINATOR_GAMES)}, got loss game {game!r}; "
                "for the Wasserstein losses use model=wgan"
            )
        super().__init__(
            generator,
            discriminator,
            generator_optimizer,
            discriminator_optimizer,
            n_critic=n_critic,
            generator_scheduler=generator_scheduler,
            critic_scheduler=discriminator_scheduler,
            grad_clip_norm=grad_clip_norm,
            ema_decay=ema_decay,
            ema_start_step=ema_start_step,
            tricks=tricks,
        )
        self.game = get_game(game, self.real_label, self.fake_label)

    def critic_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        fake = self.fake_batch(batch).detach()
        return self.game.critic_loss(self.discriminator(batch["image"]), self.discriminator(fake))

    def generator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        return self.game.generator_loss(self.discriminator(self.fake_batch(batch)))
