"""f-GAN (Nowozin et al. 2016): a generator Q_theta against a variational critic V_omega.

The saddle objective (Eq. 6) is F = E_P[g_f(V(x))] - E_Q[f*(g_f(V(G(z))))], with the
divergence chosen by ``divergence=``. The critic maximises F; the generator minimises it
(``generator_objective: saddle``) or, with ``alternative`` (Sec. 3.2), maximises
E_Q[g_f(V(G(z)))] instead, which gives stronger gradients early on. ``critic/objective``
logs F, the critic's current lower bound on D_f(data || model).
"""

from typing import Any

from torch import Tensor, nn

from ganlab.methods.base import OptimizerFactory, SchedulerFactory
from ganlab.methods.two_player import TwoPlayerModule
from ganlab.objectives.divergences import get_divergence

GENERATOR_OBJECTIVES = ("saddle", "alternative")


class FGAN(TwoPlayerModule):
    critic_name = "critic"

    def __init__(
        self,
        generator: nn.Module,
        critic: nn.Module,
        generator_optimizer: OptimizerFactory,
        critic_optimizer: OptimizerFactory,
        divergence: str = "js",
        generator_objective: str = "saddle",
        n_critic: int = 1,
        generator_scheduler: SchedulerFactory | None = None,
        critic_scheduler: SchedulerFactory | None = None,
        grad_clip_norm: float | None = None,
        ema_decay: float | None = 0.999,
        ema_start_step: int = 0,
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
        )
        self.divergence = get_divergence(divergence)
        self.generator_objective = generator_objective

    def critic_loss(self, batch: dict[str, Any]) -> Tensor:
        fake = self.fake_batch(batch).detach()
        objective = self.divergence.variational_bound(
            self.critic(batch["image"]), self.critic(fake)
        )
        self.log_step("critic/objective", objective)  # Eq. 6
        return -objective

    def generator_loss(self, batch: dict[str, Any]) -> Tensor:
        scores = self.critic(self.fake_batch(batch))
        if self.generator_objective == "alternative":
            return -self.divergence.activation(scores).mean()  # Sec. 3.2
        return -self.divergence.conjugate_of_activation(scores).mean()  # Eq. 6, the Q term
