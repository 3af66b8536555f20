"""TwoPlayerModule: a generator against one critic, the shape GAN, WGAN, f-GAN and InfoGAN share.

Two players and two phases: the critic's loss on every batch, then the generator's loss on
every ``n_critic``-th batch, so each critic step sees fresh real images (Goodfellow et al.
2014, Alg. 1 with k = n_critic; Arjovsky et al. 2017, Alg. 1). A method subclasses it,
names its critic (``critic_name``: "discriminator" or "critic") and writes ``critic_loss``
and ``generator_loss`` (each ``(batch, ctx)``); nets in ``critic_helpers`` (InfoGAN's Q head)
train with the critic, nets in ``generator_helpers`` (BiGAN's encoder) with the generator.
Samples come from noise (``NoiseSampling``); the generator has an EMA.
"""

from abc import abstractmethod
from typing import Any

from torch import Tensor, nn

from ganlab.methods.base import (
    AdversarialModule,
    OptimizerFactory,
    Phase,
    Player,
    SchedulerFactory,
    StepContext,
)
from ganlab.methods.sampling import NoiseSampling


class TwoPlayerModule(NoiseSampling, AdversarialModule):
    critic_name = "critic"
    ema_nets = ("generator",)

    def __init__(
        self,
        generator: nn.Module,
        critic: nn.Module,
        generator_optimizer: OptimizerFactory,
        critic_optimizer: OptimizerFactory,
        n_critic: int = 1,
        generator_scheduler: SchedulerFactory | None = None,
        critic_scheduler: SchedulerFactory | None = None,
        grad_clip_norm: float | None = None,
        ema_decay: float | None = 0.999,
        ema_start_step: int = 0,
        critic_helpers: dict[str, nn.Module] | None = None,
        generator_helpers: dict[str, nn.Module] | None = None,
    ) -> None:
        if n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}")
        helpers, partners = critic_helpers or {}, generator_helpers or {}
        nets = {"generator": generator, self.critic_name: critic, **helpers, **partners}
        super().__init__(nets, ema_decay, ema_start_step)
        self.critic_player_nets = (self.critic_name, *helpers)
        self.generator_player_nets = ("generator", *partners)
        self.n_critic = n_critic
        self.generator_optimizer, self.critic_optimizer = generator_optimizer, critic_optimizer
        self.generator_scheduler, self.critic_scheduler = generator_scheduler, critic_scheduler
        self.grad_clip_norm = grad_clip_norm

    def players(self) -> list[Player]:
        return [
            Player(
                self.critic_name,
                self.critic_player_nets,
                self.critic_optimizer,
                self.critic_scheduler,
                self.grad_clip_norm,
            ),
            Player(
                "generator",
                self.generator_player_nets,
                self.generator_optimizer,
                self.generator_scheduler,
                self.grad_clip_norm,
            ),
        ]

    def phases(self) -> list[Phase]:
        return [
            Phase(
                self.critic_name,
                self.critic_name,
                self.critic_loss,
                after_step=self.after_critic_step,
            ),
            Phase("generator", "generator", self.generator_loss, every=self.n_critic),
        ]

    @abstractmethod
    def critic_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        """What the critic minimises on one batch of real data."""

    @abstractmethod
    def generator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        """What the generator minimises (``batch`` gives the batch size)."""

    def after_critic_step(self) -> None:
        """Runs after each critic step; WGAN clips the critic's weights here."""

    def fake_batch(self, batch: dict[str, Any]) -> Tensor:
        """Generated images, as many as the batch has real ones."""
        return self.generator(self.sample_latent(batch["image"].shape[0]))
