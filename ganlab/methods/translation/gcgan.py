"""GcGAN (Fu, Gong, Wang, Batmanghelich, Zhang & Tao, "Geometry-Consistent Generative
Adversarial Networks for One-Sided Unsupervised Domain Mapping", CVPR 2019): one generator
G: A -> B kept consistent with a fixed invertible geometric transform f (``rot``: 90
degrees, ``vflip``), G(f(x)) ~ f(G(x)), with no reverse generator.

The reference code's share model: the same G reads x and f(x); D_B judges G(x) against
domain B and D_gc_B judges G(f(x)) against f(B), each through its own pool; LSGAN;

    L_G = L_GAN(G(x)) + L_GAN(G(f(x))) + lambda_ab * lambda_gc * L_gc
          + lambda_ab * lambda_idt * (||G(y) - y||_1 + ||G(f(y)) - f(y)||_1)

with lambda_ab 10, lambda_gc 2, lambda_idt 0.5 (README: 0.3 for parsing2city) and L_gc the
geometry-consistency L1 of both ways round (``ganlab.objectives.translation``). L_gc's
gradient (``geometry_target``): ``paper``, through both sides of each term, as the paper's
L_geo is written; ``detached``, with f^-1(G(f(x))) and f(G(x)) detached as targets, as the
reference code, which halves the gradient that lambda_ab * lambda_gc gives L_gc.
"""

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from ganlab.methods.base import OptimizerFactory, SchedulerFactory, StepContext
from ganlab.methods.translation.two_domain import TwoDomainTranslation
from ganlab.objectives.translation import (
    GEOMETRIC_TRANSFORMS,
    geometric_transform,
    geometry_consistency_loss,
    identity_mapping_loss,
    reference_generator_loss,
)

GEOMETRY_TARGETS = ("paper", "detached")


class GcGAN(TwoDomainTranslation):
    def __init__(
        self,
        generator_ab: nn.Module,
        discriminator_b: nn.Module,
        discriminator_gc_b: nn.Module,
        generator_optimizer: OptimizerFactory,
        discriminator_optimizer: OptimizerFactory,
        transform: str = "rot",
        geometry_target: str = "paper",
        game: str = "lsgan",
        domains: Sequence[str] = ("a", "b"),
        lambda_ab: float = 10.0,
        lambda_gc: float = 2.0,
        lambda_identity: float = 0.5,
        pool_size: int = 50,
        generator_scheduler: SchedulerFactory | None = None,
        discriminator_scheduler: SchedulerFactory | None = None,
        ema_decay: float | None = 0.999,
        ema_start_step: int = 0,
    ) -> None:
        if transform not in GEOMETRIC_TRANSFORMS:
            raise ValueError(
                f"transform must be one of {', '.join(GEOMETRIC_TRANSFORMS)}, got {transform!r}"
            )
        if geometry_target not in GEOMETRY_TARGETS:
            raise ValueError(
                f"geometry_target must be one of {', '.join(GEOMETRY_TARGETS)}, "
                f"got {geometry_target!r}"
            )
        super().__init__(
            {"generator_ab": generator_ab},
            {"b": discriminator_b, "gc_b": discriminator_gc_b},
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
        self.transform, self.geometry_target = transform, geometry_target
        self.lambda_ab, self.lambda_gc, self.lambda_identity = lambda_ab, lambda_gc, lambda_identity

    def real_images(self, side: str, batch: dict[str, Any]) -> Tensor:
        if side == "gc_b":  # D_gc_B's real images are f(B)
            return geometric_transform(batch["image_b"], self.transform)
        return super().real_images(side, batch)

    def generator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        a, b = batch["image_a"], batch["image_b"]
        if self.transform == "rot" and a.shape[-1] != a.shape[-2]:
            raise ValueError(f"transform=rot needs square images, got {tuple(a.shape[-2:])}")
        fake_b = self.generator_ab(a)
        fake_gc_b = self.generator_ab(geometric_transform(a, self.transform))
        ctx["fake_b"], ctx["fake_gc_b"] = fake_b.detach(), fake_gc_b.detach()
        game, name = self.game, self.game_name
        terms = {
            "adversarial": reference_generator_loss(game, name, self.discriminator_b(fake_b))
            + reference_generator_loss(game, name, self.discriminator_gc_b(fake_gc_b)),
            "geometry": geometry_consistency_loss(
                fake_b,
                fake_gc_b,
                self.transform,
                detach_targets=self.geometry_target == "detached",
            ),
        }
        weights = {"geometry": self.lambda_ab * self.lambda_gc}
        if self.lambda_identity > 0:
            transformed_b = geometric_transform(b, self.transform)
            terms["identity"] = identity_mapping_loss(
                self.generator_ab(b), b
            ) + identity_mapping_loss(self.generator_ab(transformed_b), transformed_b)
            weights["identity"] = self.lambda_ab * self.lambda_identity
        return self.weighted_sum(terms, weights)
