"""Variational estimation of an f-divergence between two fixed distributions.

Only the critic V trains, maximising the lower bound of Nowozin et al. 2016, Eq. 4/6:
D_f(P || Q) >= E_P[g_f(V(x))] - E_Q[f*(g_f(V(x)))]. Use it to check a divergence (and a
critic architecture) on data with a known answer before training an f-GAN with it:
``python -m ganlab.run experiment=divergence_gaussians divergence=kl``.
"""

import math

import torch
from torch import Tensor, nn

from ganlab.evaluation import DivergenceBound, Evaluation
from ganlab.methods.base import (
    AdversarialModule,
    OptimizerFactory,
    Phase,
    Player,
    SchedulerFactory,
    StepContext,
)
from ganlab.objectives.divergences import get_divergence


class DivergenceEstimator(AdversarialModule):
    step_phase = "critic"

    def __init__(
        self,
        critic: nn.Module,
        optimizer: OptimizerFactory,
        divergence: str = "pearson",
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__({"critic": critic}, ema_decay=None)
        self.divergence = get_divergence(divergence)
        self.optimizer, self.scheduler = optimizer, scheduler

    def players(self) -> list[Player]:
        return [Player("critic", ("critic",), self.optimizer, self.scheduler)]

    def phases(self) -> list[Phase]:
        return [Phase("critic", "critic", self.critic_loss)]

    def critic_loss(self, batch: dict[str, Tensor], ctx: StepContext) -> Tensor:
        bound = self.divergence.variational_bound(self.critic(batch["p"]), self.critic(batch["q"]))
        self.log_step("critic/lower_bound", bound)
        return -bound

    @torch.no_grad()
    def lower_bound(self, p_samples: Tensor, q_samples: Tensor) -> tuple[float, float]:
        """The bound on held-out samples and its standard error (independent P and Q terms)."""
        on_p = self.divergence.activation(self.critic(p_samples.to(self.device))).double()
        on_q = self.divergence.conjugate_of_activation(
            self.critic(q_samples.to(self.device))
        ).double()
        bound = (on_p.mean() - on_q.mean()).item()
        error = math.sqrt(on_p.var().item() / len(on_p) + on_q.var().item() / len(on_q))
        return bound, error

    @property
    def divergence_name(self) -> str:
        return self.divergence.name

    def evaluations(self) -> list[Evaluation]:
        return [DivergenceBound()]
