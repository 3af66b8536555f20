"""StarGAN (Choi et al., "StarGAN: Unified Generative Adversarial Networks for Multi-Domain
Image-to-Image Translation", CVPR 2018): one generator G(x, c) for every attribute domain.

- D has two heads on one trunk: D_src (a patch map of real/fake scores) and D_cls (attribute
  logits). Adversarial game: WGAN-GP (the reference code's choice for CelebA).
- D minimises -E D_src(x) + E D_src(G(x, c)) + lambda_cls L_cls^r + lambda_gp GP (eq. 7),
  L_cls^r the BCE of D_cls(x) against x's own labels c' (eq. 3).
- G, every ``n_critic`` D steps, minimises -E D_src(G(x, c)) + lambda_cls L_cls^f
  + lambda_rec ||x - G(G(x, c), c')||_1 (eq. 4, 5, 7), L_cls^f the BCE of D_cls(G(x, c))
  against the target c.
- Targets c are the batch's labels in a random order; BCE is summed over attributes and
  averaged over the batch (the reference's CelebA loss).
"""

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlab.methods.base import OptimizerFactory, SchedulerFactory, StepContext
from ganlab.methods.translation.attribute_translation import AttributeTranslationModule
from ganlab.objectives.translation import cycle_consistency_loss


def attribute_classification_loss(logits: Tensor, attributes: Tensor) -> Tensor:
    """sum_k BCE(logit_k, c_k), averaged over the batch (eq. 3 and 4, multi-label form)."""
    bce = F.binary_cross_entropy_with_logits(logits, attributes, reduction="sum")
    return bce / logits.shape[0]


class StarGAN(AttributeTranslationModule):
    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        generator_optimizer: OptimizerFactory,
        discriminator_optimizer: OptimizerFactory,
        attribute_names: Sequence[str],
        n_critic: int = 5,
        lambda_cls: float = 1.0,
        lambda_rec: float = 10.0,
        lambda_gp: float = 10.0,
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
        self.lambda_cls, self.lambda_rec, self.lambda_gp = lambda_cls, lambda_rec, lambda_gp

    def discriminator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        images, labels = self.labelled(batch)
        with torch.no_grad():
            fake = self.generator(images, self.draw_targets(labels))
        real_scores, logits = self.discriminator(images)
        classification = attribute_classification_loss(logits, labels)
        return self.wgan_gp_classifier_loss(
            images, real_scores, fake, classification, self.lambda_cls, self.lambda_gp
        )

    def generator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        images, labels = self.labelled(batch)
        targets = self.draw_targets(labels)
        fake = self.generator(images, targets)
        fake_scores, fake_logits = self.discriminator(fake)
        terms = {
            "adversarial": -fake_scores.mean(),
            "classification": attribute_classification_loss(fake_logits, targets),
            # ||x - G(G(x, c), c')||_1 (eq. 5)
            "reconstruction": cycle_consistency_loss(self.generator(fake, labels), images),
        }
        return self.weighted_sum(
            terms, {"classification": self.lambda_cls, "reconstruction": self.lambda_rec}
        )

    @torch.no_grad()
    def read_attributes(self, images: Tensor) -> Tensor:
        """D_cls(x) > 0: the discriminator's attribute head."""
        return (self.discriminator(images.to(self.device, self.dtype))[1] > 0).to(images)
