"""WGAN with weight clipping (Arjovsky et al. 2017, Algorithm 1) or with the gradient penalty
(Gulrajani et al. 2017, Algorithm 1), chosen by ``loss=wgan_clip`` / ``loss=wgan_gp``.

The critic takes ``n_critic`` steps, each on a fresh batch of real images, per generator step.
Its loss is E[C(G(z))] - E[C(x)] (+ lambda * GP); ``critic/wasserstein`` logs the dual
estimate E[C(x)] - E[C(G(z))] of W1.

``critic_burst`` (off by default) is the schedule of Arjovsky et al.'s reference code: before
each of the first ``first`` generator steps and every ``every``-th one after, the critic
takes ``steps`` steps instead of ``n_critic``, so the W1 estimate the generator follows is
close to converged (the code uses steps 100, first 25, every 500). ``clip_biases=False``
clips the weights and norm scales only: biases and norm shifts do not enter the critic's
Lipschitz bound, and clipped with the scales they fix every activation threshold.
``clip_before_norm=False`` leaves unclipped the weights of layers a normalisation layer
follows: the critic does not depend on their scale, so the clamp only drives them to +-c.
The loss config also chooses the critic (``conf/loss/wgan_*.yaml``): WGAN-GP's is per sample
(layer norm, and this module refuses BatchNorm or a minibatch layer under the penalty); the
clipped one has BatchNorm and a minibatch layer, which lifts it on digits
(experiments/digits_baselines).

``joint_batch=True`` scores real and generated images in one critic call. A BatchNorm critic
called on each separately (as Arjovsky et al.'s code does) normalises each batch by its own
statistics, so its layers cannot see a shift of the fakes' feature means, and E[C(x)] and
E[C(G(z))] come from two different functions; jointly, one function scores both. The
generator's step then scores its fakes beside a real batch too.
"""

from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ganlab.methods.base import OptimizerFactory, Phase, SchedulerFactory, StepContext
from ganlab.methods.noise.two_player import Tricks, TwoPlayerModule
from ganlab.nets.tricks import MinibatchDiscrimination
from ganlab.objectives.adversarial import (
    clip_weights_,
    gradient_penalty,
    mean_score_generator_loss,
    wasserstein_critic_loss,
    wasserstein_estimate,
)

BATCH_COUPLED_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


@dataclass(frozen=True)
class CriticBurst:
    """Extra critic steps early and periodically (Arjovsky et al.'s reference code)."""

    steps: int = 100  # critic steps before a burst generator step
    first: int = 25  # the first ``first`` generator steps are burst steps
    every: int = 500  # and so is every ``every``-th generator step after them

    def __post_init__(self) -> None:
        if self.steps < 1 or self.first < 0 or self.every < 1:
            raise ValueError(
                f"critic_burst needs steps >= 1, first >= 0 and every >= 1, got {self}"
            )


def critic_steps_before(generator_step: int, n_critic: int, burst: CriticBurst | None) -> int:
    """Critic steps taken before generator step ``generator_step`` (0-based)."""
    if burst is not None and (generator_step < burst.first or generator_step % burst.every == 0):
        return burst.steps
    return n_critic


class GeneratorSchedule:
    """The batches (0-based iterations) on which the generator steps: the last batch of each
    generator step's run of critic steps. Extended lazily, so any iteration can be asked."""

    def __init__(self, n_critic: int, burst: CriticBurst | None) -> None:
        self.n_critic, self.burst = n_critic, burst
        self._ends: list[int] = []  # plain ints, so the module still pickles and deep-copies

    def runs_at(self, iteration: int) -> bool:
        while not self._ends or self._ends[-1] < iteration:
            previous_end = self._ends[-1] if self._ends else -1
            steps = critic_steps_before(len(self._ends), self.n_critic, self.burst)
            self._ends.append(previous_end + steps)
        return self._ends[bisect_left(self._ends, iteration)] == iteration


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
        clip_biases: bool = True,
        clip_before_norm: bool = True,
        joint_batch: bool = False,
        generator_scheduler: SchedulerFactory | None = None,
        critic_scheduler: SchedulerFactory | None = None,
        grad_clip_norm: float | None = None,
        ema_decay: float | None = 0.999,
        ema_start_step: int = 0,
        tricks: Tricks | Mapping[str, Any] | None = None,
        critic_burst: CriticBurst | Mapping[str, int] | None = None,
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
        if gradient_penalty > 0 and any(
            isinstance(m, MinibatchDiscrimination) for m in self.critic.modules()
        ):
            raise ValueError(
                "the WGAN-GP critic must not have a minibatch layer (model.critic.minibatch_kernels"
                " or tricks.minibatch_discrimination): it makes a sample's score depend on the "
                "batch, and the penalty is per sample"
            )
        self.gradient_penalty_weight = gradient_penalty
        self.weight_clip, self.clip_biases = weight_clip, clip_biases
        self.clip_before_norm = clip_before_norm
        self.joint_batch = joint_batch
        if critic_burst is not None and not isinstance(critic_burst, CriticBurst):
            critic_burst = CriticBurst(**critic_burst)
        self.critic_burst = critic_burst
        # without bursts the generator phase's ``every=n_critic`` is the whole schedule
        self.generator_schedule = (
            GeneratorSchedule(n_critic, critic_burst) if critic_burst is not None else None
        )

    def phase_runs_now(self, phase: Phase, iteration: int) -> bool:
        if phase.name == "generator" and self.generator_schedule is not None:
            return self.generator_schedule.runs_at(iteration)
        return super().phase_runs_now(phase, iteration)

    def critic_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        real, fake = batch["image"], self.fake_batch(batch).detach()
        real_scores, fake_scores = self.scores(real, fake)
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
            clip_weights_(
                self.critic,
                self.weight_clip,
                biases=self.clip_biases,
                before_norm=self.clip_before_norm,
            )

    def generator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        _, fake_scores = self.scores(batch["image"], self.fake_batch(batch))
        return mean_score_generator_loss(fake_scores)

    def scores(self, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
        """C(real), C(fake): two critic calls, or one on both (``joint_batch``)."""
        if not self.joint_batch:
            return self.critic(real), self.critic(fake)
        both = self.critic(torch.cat([real, fake]))
        return both[: len(real)], both[len(real) :]
