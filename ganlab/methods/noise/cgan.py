"""Conditional GAN (Mirza & Osindero, "Conditional Generative Adversarial Nets", 2014): the
generator and the discriminator both see the class y, so the generator learns p(x | y).

Generator input: z (``noise_dim``, N(0, I)) concatenated with one_hot(y) (sec. 4.1). The
discriminator is a ``ConditionalCritic``: y as extra image channels (the paper) or by
projection (Miyato & Koyama 2018), chosen by ``model.discriminator.conditioning``. The game
comes from ``loss=`` as for the GAN (eq. 2 with every term conditioned on y). Fake classes
are drawn uniformly; real ones are the batch's labels.
"""

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlab.evaluation import ClassAccuracy, Evaluation
from ganlab.methods.base import OptimizerFactory, SchedulerFactory, StepContext
from ganlab.methods.noise.two_player import Tricks, TwoPlayerModule
from ganlab.objectives.adversarial import DISCRIMINATOR_GAMES, get_game


class CGAN(TwoPlayerModule):
    critic_name = "discriminator"

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        generator_optimizer: OptimizerFactory,
        discriminator_optimizer: OptimizerFactory,
        n_classes: int = 10,
        noise_dim: int = 64,
        game: str = "nsgan",
        n_critic: int = 1,
        generator_scheduler: SchedulerFactory | None = None,
        discriminator_scheduler: SchedulerFactory | None = None,
        ema_decay: float | None = 0.999,
        ema_start_step: int = 0,
        tricks: Tricks | Mapping[str, Any] | None = None,
    ) -> None:
        if game not in DISCRIMINATOR_GAMES:
            raise ValueError(
                f"model=cgan plays one of {', '.join(DISCRIMINATOR_GAMES)}, got {game!r}"
            )
        if getattr(generator, "latent_dim", noise_dim + n_classes) != noise_dim + n_classes:
            raise ValueError(
                f"the cGAN generator takes noise_dim + n_classes = {noise_dim + n_classes} "
                f"inputs, but its latent_dim is {generator.latent_dim}"
            )
        super().__init__(
            generator,
            discriminator,
            generator_optimizer,
            discriminator_optimizer,
            n_critic=n_critic,
            generator_scheduler=generator_scheduler,
            critic_scheduler=discriminator_scheduler,
            ema_decay=ema_decay,
            ema_start_step=ema_start_step,
            tricks=tricks,
        )
        self.game = get_game(game, self.real_label, self.fake_label)
        self.n_classes, self.noise_dim = n_classes, noise_dim

    def sample_codes(
        self, n: int, generator: torch.Generator | None = None, labels: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Generator inputs (n, noise_dim + K) and their classes (n,), uniform unless given."""
        device = "cpu" if generator is not None else self.device

        def draw(make: Callable[[int], Tensor]) -> Tensor:  # seeded, or this process's share
            return make(n) if generator is not None else self.draw_per_sample(make, n)

        noise = draw(lambda m: torch.randn(m, self.noise_dim, generator=generator, device=device))
        if labels is None:
            labels = draw(
                lambda m: torch.randint(self.n_classes, (m,), generator=generator, device=device)
            )
        one_hot = F.one_hot(labels.to(device), self.n_classes).to(noise)
        latent = torch.cat([noise, one_hot], 1)
        return latent.to(self.device, self.dtype), labels.to(self.device)

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return self.sample_codes(n, generator)[0]

    def critic_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        real, real_labels = batch["image"], batch["label"]
        latent, fake_labels = self.sample_codes(real.shape[0])
        fake = self.generator(latent).detach()
        return self.game.critic_loss(
            self.discriminator(real, real_labels), self.discriminator(fake, fake_labels)
        )

    def critic_features(self, image: Tensor, batch: dict[str, Any]) -> Tensor:
        """Feature matching: real images with their classes, fakes made for the same classes."""
        return self.discriminator.features(image, batch["label"])

    def fake_batch(self, batch: dict[str, Any]) -> Tensor:
        """Fakes of the batch's classes (what feature matching compares with the batch)."""
        latent, _ = self.sample_codes(batch["image"].shape[0], labels=batch["label"])
        return self.generator(latent)

    def generator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        latent, labels = self.sample_codes(batch["image"].shape[0])
        return self.game.generator_loss(self.discriminator(self.generator(latent), labels))

    @property
    def n_codes(self) -> int:
        return self.n_classes

    @torch.no_grad()
    def generate_for_codes(self, codes: Tensor, generator: torch.Generator) -> Tensor:
        """Samples for (B,) classes, the rest of the latent drawn from ``generator``."""
        return self.sample(latent=self.sample_codes(len(codes), generator, codes)[0])

    def evaluations(self) -> list[Evaluation]:
        return [*super().evaluations(), ClassAccuracy("cgan_class_accuracy", matching="asked")]
