"""BiGAN (Donahue, Krähenbühl & Darrell, "Adversarial Feature Learning", ICLR 2017): an
encoder E learned jointly with the generator G, so that inverting G is learned, not
optimised per image (the learning-based inversion of the lecture).

The discriminator judges pairs: (x, E(x)) for real images against (G(z), z) for samples
(eq. 3): V(D, E, G) = E_x[log D(x, E(x))] + E_z[log(1 - D(G(z), z))]. D maximises V; G and E
minimise it, trained together as one player with the labels swapped (the non-saturating
form, as the paper's code). At the optimum E = G^-1 (Theorem 2), so G(E(x)) reconstructs x.
"""

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlab.evaluation import Evaluation, LabelAgreement
from ganlab.methods.base import OptimizerFactory, SchedulerFactory, StepContext
from ganlab.methods.noise.two_player import Tricks, TwoPlayerModule
from ganlab.objectives.adversarial import get_game


def bigan_generator_loss(real_pair_logits: Tensor, fake_pair_logits: Tensor) -> Tensor:
    """G and E's loss, eq. 3 with swapped labels: -log D(G(z), z) - log(1 - D(x, E(x)))."""
    return F.softplus(-fake_pair_logits).mean() + F.softplus(real_pair_logits).mean()


class BiGAN(TwoPlayerModule):
    critic_name = "discriminator"
    generator_loss_is_adversarial = False  # its critic judges (image, code) pairs

    def __init__(
        self,
        generator: nn.Module,
        encoder: nn.Module,
        discriminator: nn.Module,
        generator_optimizer: OptimizerFactory,
        discriminator_optimizer: OptimizerFactory,
        generator_scheduler: SchedulerFactory | None = None,
        discriminator_scheduler: SchedulerFactory | None = None,
        ema_decay: float | None = 0.999,
        ema_start_step: int = 0,
        tricks: Tricks | Mapping[str, Any] | None = None,
    ) -> None:
        if encoder.latent_dim != generator.latent_dim:
            raise ValueError(
                f"the encoder gives {encoder.latent_dim} latent dims, the generator takes "
                f"{generator.latent_dim}"
            )
        super().__init__(
            generator,
            discriminator,
            generator_optimizer,
            discriminator_optimizer,
            generator_scheduler=generator_scheduler,
            critic_scheduler=discriminator_scheduler,
            ema_decay=ema_decay,
            ema_start_step=ema_start_step,
            tricks=tricks,
            generator_helpers={"encoder": encoder},
        )

    def pair_logits(self, batch: dict[str, Any], detach: bool) -> tuple[Tensor, Tensor]:
        """D's logits for (x, E(x)) and (G(z), z)."""
        real = batch["image"]
        z = self.sample_latent(real.shape[0])
        encoded, fake = self.encoder(real), self.generator(z)
        if detach:
            encoded, fake = encoded.detach(), fake.detach()
        return self.discriminator(real, encoded), self.discriminator(fake, z)

    def critic_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        return get_game("nsgan", self.real_label, self.fake_label).critic_loss(
            *self.pair_logits(batch, detach=True)
        )

    def generator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        return bigan_generator_loss(*self.pair_logits(batch, detach=False))

    @torch.no_grad()
    def reconstruct(self, images: Tensor, encoder: nn.Module | None = None) -> Tensor:
        """G(E(x)) with the (EMA) generator, in eval mode."""
        encoder = encoder or self.encoder
        was_training = encoder.training
        encoder.eval()
        codes = encoder(images.to(self.device, self.dtype))
        encoder.train(was_training)
        return self.sample(latent=codes)

    def reconstruct_untrained(self, images: Tensor, seed: int) -> Tensor:
        """G(E'(x)) through a freshly initialised encoder E' of the same architecture (seeded):
        the chance level of this generator."""
        torch.manual_seed(seed)
        untrained = type(self.encoder)(**self.encoder.config).to(self.device, self.dtype)
        return self.reconstruct(images, untrained)

    def evaluations(self) -> list[Evaluation]:
        return [*super().evaluations(), LabelAgreement("bigan", split="val")]
