"""CycleGAN (Zhu, Park, Isola & Efros, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks", ICCV 2017): G: A -> B and F: B -> A trained with
the adversarial losses of both domains (eq. 1), cycle consistency (eq. 2) and the identity
mapping loss of sec. 5.2:

    L_G = L_GAN(G, D_B) + L_GAN(F, D_A) + lambda ||F(G(a)) - a||_1 + lambda ||G(F(b)) - b||_1
          + lambda * lambda_idt (||G(b) - b||_1 + ||F(a) - a||_1)

with the reference code's defaults: LSGAN, lambda 10, lambda_idt 0.5, pools of 50, Adam 2e-4
(0.5, 0.999), constant then linearly decaying learning rates. The frame (pools, game scaling,
translation) is ``ganlab.methods.translation.two_domain``.
"""

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from ganlab.methods.base import OptimizerFactory, SchedulerFactory, StepContext
from ganlab.methods.translation.two_domain import TwoDomainTranslation
from ganlab.objectives.translation import (
    cycle_consistency_loss,
    identity_mapping_loss,
    reference_generator_loss,
)


class CycleGAN(TwoDomainTranslation):
    def __init__(
        self,
        generator_ab: nn.Module,
        generator_ba: nn.Module,
        discriminator_a: nn.Module,
        discriminator_b: nn.Module,
        generator_optimizer: OptimizerFactory,
        discriminator_optimizer: OptimizerFactory,
        game: str = "lsgan",
        domains: Sequence[str] = ("a", "b"),
        lambda_cycle: float = 10.0,
        lambda_identity: float = 0.5,
        pool_size: int = 50,
        generator_scheduler: SchedulerFactory | None = None,
        discriminator_scheduler: SchedulerFactory | None = None,
        ema_decay: float | None = 0.999,
        ema_start_step: int = 0,
    ) -> None:
        super().__init__(
            {"generator_ab": generator_ab, "generator_ba": generator_ba},
            {"a": discriminator_a, "b": discriminator_b},
            generator_optimizer,
            discriminator_optimizer,
            game=game,
            domains=domains,
            pool_size=pool_size,
            generator_scheduler=generator_scheduler,
            discriminator_scheduler=discriminator_scheduler,
            ema_decay=ema_decay,
            ema_start_step=ema_start_step,
        )
        self.lambda_cycle, self.lambda_identity = lambda_cycle, lambda_identity

    def generator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        a, b = batch["image_a"], batch["image_b"]
        fake_b, fake_a = self.generator_ab(a), self.generator_ba(b)
        ctx["fake_a"], ctx["fake_b"] = fake_a.detach(), fake_b.detach()
        adversarial = reference_generator_loss(
            self.game, self.game_name, self.discriminator_b(fake_b)
        ) + reference_generator_loss(self.game, self.game_name, self.discriminator_a(fake_a))
        terms = {
            "adversarial": adversarial,
            "cycle": cycle_consistency_loss(self.generator_ba(fake_b), a)
            + cycle_consistency_loss(self.generator_ab(fake_a), b),
        }
        weights = {"cycle": self.lambda_cycle}
        if self.lambda_identity > 0:
            terms["identity"] = identity_mapping_loss(
                self.generator_ab(b), b
            ) + identity_mapping_loss(self.generator_ba(a), a)
            weights["identity"] = self.lambda_cycle * self.lambda_identity
        return self.weighted_sum(terms, weights)
