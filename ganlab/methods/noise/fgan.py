"""f-GAN (Nowozin et al. 2016): a generator Q_theta against a variational critic V_omega.

The saddle objective (Eq. 6) is F = E_P[g_f(V(x))] - E_Q[f*(g_f(V(G(z))))], with the
divergence chosen by ``divergence=``. The critic maximises F. The generator either maximises
E_Q[g_f(V(G(z)))] (``generator_objective: alternative``, Sec. 3.2, the default: it does not
saturate while the critic wins, as the saddle form does early on - on digits the saddle
generator had not left noise after 300 steps with js) or minimises F itself (``saddle``).
``critic/objective`` logs F, the critic's current lower bound on D_f(data || model).
``critic_penalty`` gamma adds gamma/2 E_P[||grad_x T(x)||^2] to the critic's loss, the
stabiliser of Nowozin's own f-GAN code (after Mescheder et al. 2018); 0 turns it off.
"""

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from ganlab.methods.base import OptimizerFactory, SchedulerFactory, StepContext
from ganlab.methods.noise.two_player import Tricks, TwoPlayerModule
from ganlab.objectives.adversarial import real_gradient_penalty
from ganlab.objectives.divergences import get_divergence

GENERATOR_OBJECTIVES = ("saddle", "alternative")


class FGAN(TwoPlayerModule):
    critic_name = "critic"
    plays_discriminator_game = False  # its critic's output activation is the divergence's

    def __init__(
        self,
        generator: nn.Module,
        critic: nn.Module,
        generator_optimizer: OptimizerFactory,
        critic_optimizer: OptimizerFactory,
        divergence: str = "js",
        generator_objective: str = "alternative",
        n_critic: int = 1,
        critic_penalty: float = 0.0,
        generator_scheduler: SchedulerFactory | None = None,
        critic_scheduler: SchedulerFactory | None = None,
        grad_clip_norm: float | None = None,
        ema_decay: float | None = 0.999,
        ema_start_step: int = 0,
        tricks: Tricks | Mapping[str, Any] | None = None,
    ) -> None:
        if generator_objective not in GENERATOR_OBJECTIVES:
            raise ValueError(
                f"generator_objective must be one of {', '.join(GENERATOR_OBJECTIVES)}, "
                f"got {generator_objective!r}"
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
        self.divergence = get_divergence(divergence)
        self.generator_objective = generator_objective
        self.critic_penalty = critic_penalty

    def critic_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        fake = self.fake_batch(batch).detach()
        objective = self.divergence.variational_bound(
            self.critic(batch["image"]), self.critic(fake)
        )
        self.log_step("critic/objective", objective)  # Eq. 6
        if self.critic_penalty <= 0:
            return -objective
        penalty = real_gradient_penalty(self.activated_critic, batch["image"])
        self.log_step("critic/gradient_penalty", penalty)
        return -objective + self.critic_penalty / 2 * penalty

    def activated_critic(self, images: Tensor) -> Tensor:
        """T(x) = g_f(V(x)), the function whose gradient the penalty keeps small."""
        return self.divergence.activation(self.critic(images))

    def generator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        scores = self.critic(self.fake_batch(batch))
        if self.generator_objective == "alternative":
            return -self.divergence.activation(scores).mean()  # Sec. 3.2
        return -self.divergence.conjugate_of_activation(scores).mean()  # Eq. 6, the Q term
