"""WGAN with weight clipping (Arjovsky et al. 2017, Algorithm 1) or with the gradient penalty
(Gulrajani et al. 2017, Algorithm 1), chosen by ``loss=wgan_clip`` / ``loss=wgan_gp``.

The critic takes ``n_critic`` steps, each on a fresh batch of real images, per generator step.
Its loss is E[C(G(z))] - E[C(x)] (+ lambda * GP); ``critic/wasserstein`` logs the dual
estimate E[C(x)] - E[C(G(z))] of W1.
"""

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ganlab.methods.base import OptimizerFactory, SchedulerFactory, StepContext
from ganlab.methods.two_player import Tricks, TwoPlayerModule
from ganlab.objectives.adversarial import (
    clip_weights_,
    gradient_penalty,
    mean_score_generator_loss,
    wasserstein_critic_loss,
    wasserstein_estimate,
)

BATCH_COUPLED_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


class WGAN(TwoPlayerModule):
    critic_name = "critic"
    plays_discriminator_game = False

    def __init__(
        self,
        generator: nn.Module,
        critic: nn.Module,
        generator_optimizer: OptimizerFactory,
        critic_optimizer: OptimizerFactory,
        game: str = "wasserstein",
        n_critic: int = 5,
        gradient_penalty: float = 0.0,
        weight_clip: float | None = 0.01,
        generator_scheduler: SchedulerFactory | None = None,
        critic_scheduler: SchedulerFactory | None = None,
        grad_clip_norm: float | None = None,
        ema_decay: float | None = 0.999,
        ema_start_step: int = 0,
        tricks: Tricks | Mapping[str, Any] | None = None,
    ) -> None:
        if game != "wasserstein":
            raise ValueError(
                f"model=wgan plays the Wasserstein game, got loss game {game!r}; "
                "use loss=wgan_gp or loss=wgan_clip (or model=gan for the other losses)"
            )
        if gradient_penalty <= 0 and weight_clip is None:
            raise ValueError(
                "WGAN needs a Lipschitz constraint: set gradient_penalty > 0 (loss=wgan_gp) "
                "or weight_clip (loss=wgan_clip)"
            )
        if gradient_penalty > 0 and any(
            isinstance(m, BATCH_COUPLED_NORMS) for m in critic.modules()
        ):
            raise ValueError(
                "the WGAN-GP critic must not use BatchNorm (Gulrajani et al. 2017, Sec. 4): the "
                "penalty is per sample. Set model.critic.norm=layer (or none)"
            )
        super().__init__(
            generator,
            critic,
            generator_optimizer,
            critic_optimizer,
            n_critic=n_critic,
            generator_scheduler=generator_scheduler,
            critic_scheduler=critic_scheduler,
            grad_clip_norm=grad_clip_norm,
            ema_decay=ema_decay,
            ema_start_step=ema_start_step,
            tricks=tricks,
        )
        self.gradient_penalty_weight = gradient_penalty
        self.weight_clip = weight_clip

    def critic_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        real, fake = batch["image"], self.fake_batch(batch).detach()
        real_scores, fake_scores = self.critic(real), self.critic(fake)
        loss = wasserstein_critic_loss(real_scores, fake_scores)
        if self.gradient_penalty_weight > 0:
            alpha = self.draw_per_sample(
                lambda m: torch.rand(m, device=self.device, dtype=real.dtype), len(real)
            )
            penalty = gradient_penalty(self.critic, real, fake, alpha)
            loss = loss + self.gradient_penalty_weight * penalty
            self.log_step("critic/gradient_penalty", penalty)
        self.log_step("critic/wasserstein", wasserstein_estimate(real_scores, fake_scores))
        return loss

    def after_critic_step(self) -> None:
        if self.weight_clip is not None:
            clip_weights_(self.critic, self.weight_clip)

    def generator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        return mean_score_generator_loss(self.critic(self.fake_batch(batch)))
