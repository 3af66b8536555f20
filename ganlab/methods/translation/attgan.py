"""AttGAN (He, Zuo, Kan, Shan & Chen, "AttGAN: Facial Attribute Editing by Only Changing What
You Want", TIP 2019): an encoder-decoder G_dec(G_enc(x), b) with an attribute classifier
constraint, reconstruction learning and adversarial learning.

- Attributes enter the decoder as the code (2b - 1) * 0.5 (+-0.5, the reference's
  ``thres_int``); targets b are the batch's labels in a random order.
- D (one trunk, an adversarial head and a classifier head C) minimises
  -E D(x) + E D(x_hat) + lambda_gp GP + lambda_3 BCE(C(x), a) (eq. 12; WGAN-GP as the
  reference code).
- G minimises -E D(x_hat) + lambda_2 BCE(C(x_hat), b) + lambda_1 ||x - G_dec(z, a)||_1
  (eq. 11), x_hat = G_dec(z, b), z = G_enc(x) computed once for both decodings.
- BCE and L1 are means over elements (the reference port). Our choice: translations use the
  training code +-0.5 for every attribute (the port's larger test intensity for the edited
  attribute is not applied).
"""

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlab.methods.base import OptimizerFactory, SchedulerFactory, StepContext
from ganlab.methods.translation.attribute_translation import AttributeTranslationModule
from ganlab.objectives.translation import cycle_consistency_loss


def attribute_code(attributes: Tensor, intensity: float = 0.5) -> Tensor:
    """0/1 attributes -> (2b - 1) * intensity, the decoder's input."""
    return (2 * attributes - 1) * intensity


class AttGAN(AttributeTranslationModule):
    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        generator_optimizer: OptimizerFactory,
        discriminator_optimizer: OptimizerFactory,
        attribute_names: Sequence[str],
        n_critic: int = 5,
        lambda_rec: float = 100.0,
        lambda_generator_cls: float = 10.0,
        lambda_discriminator_cls: float = 1.0,
        lambda_gp: float = 10.0,
        code_intensity: float = 0.5,
        generator_scheduler: SchedulerFactory | None = None,
        discriminator_scheduler: SchedulerFactory | None = None,
        ema_decay: float | None = 0.999,
        ema_start_step: int = 0,
    ) -> None:
        super().__init__(
            {"generator": generator, "discriminator": discriminator},
            attribute_names,
            generator_optimizer,
            discriminator_optimizer,
            n_critic=n_critic,
            generator_scheduler=generator_scheduler,
            discriminator_scheduler=discriminator_scheduler,
            ema_decay=ema_decay,
            ema_start_step=ema_start_step,
        )
        self.lambda_rec, self.lambda_gp = lambda_rec, lambda_gp
        self.lambda_generator_cls = lambda_generator_cls
        self.lambda_discriminator_cls = lambda_discriminator_cls
        self.code_intensity = code_intensity

    def generate(self, net: nn.Module, images: Tensor, attributes: Tensor) -> Tensor:
        return net(images, attribute_code(attributes, self.code_intensity))

    def discriminator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        images, labels = self.labelled(batch)
        with torch.no_grad():
            fake = self.generate(self.generator, images, self.draw_targets(labels))
        real_scores, logits = self.discriminator(images)
        classification = F.binary_cross_entropy_with_logits(logits, labels)
        return self.wgan_gp_classifier_loss(
            images,
            real_scores,
            fake,
            classification,
            self.lambda_discriminator_cls,
            self.lambda_gp,
        )

    def generator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        images, labels = self.labelled(batch)
        targets = self.draw_targets(labels)
        features = self.generator.encode(images)
        fake = self.generator.decode(features, attribute_code(targets, self.code_intensity))
        reconstructed = self.generator.decode(features, attribute_code(labels, self.code_intensity))
        fake_scores, fake_logits = self.discriminator(fake)
        terms = {
            "adversarial": -fake_scores.mean(),
            "classification": F.binary_cross_entropy_with_logits(fake_logits, targets),
            "reconstruction": cycle_consistency_loss(reconstructed, images),
        }
        weights = {"classification": self.lambda_generator_cls, "reconstruction": self.lambda_rec}
        return self.weighted_sum(terms, weights)

    @torch.no_grad()
    def read_attributes(self, images: Tensor) -> Tensor:
        """C(x) > 0: the discriminator's classifier head."""
        return (self.discriminator(images.to(self.device, self.dtype))[1] > 0).to(images)
