"""MUNIT (Huang, Liu, Belongie & Kautz, "Multimodal Unsupervised Image-to-Image Translation",
ECCV 2018): each domain's image splits into a content code (shared across domains) and a
style code (domain-specific, style_dim 8, prior N(0, I)); a->b translation decodes a's
content with a style drawn from the prior, so one input has many outputs. The generators'
loss (eq. 5):

    lambda_gan (L_GAN(x_ab) + L_GAN(x_ba)) + lambda_x (||G_a(c_a, s_a') - a||_1 + ...)
    + lambda_s (||E^s_b(x_ab) - s_b||_1 + ...) + lambda_c (||E^c_b(x_ab) - c_a||_1 + ...)
    + lambda_cycle (||G_a(E^c_b(x_ab), s_a') - a||_1 + ...)

x_ab = G_b(c_a, s_b), s_b ~ N(0, I); s_a' = E^s_a(a). Weights from the reference's per-data
configs (edges2shoes: GAN 1, x 10, s 1, c 1, cycle 0; summer2winter_yosemite: cycle 10);
multi-scale LSGAN discriminators (3 scales, summed); Adam 1e-4 (0.5, 0.999), weight decay
1e-4; no image pool. Optional (``lambda_perceptual`` > 0, the reference's ``vgg_w``: 0 in its
edges2shoes and Yosemite configs, 1 in synthia2cityscape): the domain-invariant perceptual
loss, the mean squared difference of the instance-normalised deepest feature maps of x_ab and
a (and of x_ba and b) under ``perceptual``, a frozen feature-registry net with feature maps
(``vgg16``: relu5_3 as the reference, your ImageNet weights; ``domain_toyfaces`` on embedded
data).
``task=translate seeds=[0,1,2]`` draws one style per seed.
"""

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ganlab.methods.base import Frozen, OptimizerFactory, SchedulerFactory, StepContext
from ganlab.methods.translation.two_domain import TwoDomainTranslation
from ganlab.objectives.translation import (
    cycle_consistency_loss,
    domain_invariant_perceptual_loss,
    reference_generator_loss,
)


class MUNIT(TwoDomainTranslation):
    def __init__(
        self,
        content_encoder_a: nn.Module,
        content_encoder_b: nn.Module,
        style_encoder_a: nn.Module,
        style_encoder_b: nn.Module,
        decoder_a: nn.Module,
        decoder_b: nn.Module,
        discriminator_a: nn.Module,
        discriminator_b: nn.Module,
        generator_optimizer: OptimizerFactory,
        discriminator_optimizer: OptimizerFactory,
        game: str = "lsgan",
        domains: Sequence[str] = ("a", "b"),
        lambda_gan: float = 1.0,
        lambda_image: float = 10.0,
        lambda_style: float = 1.0,
        lambda_content: float = 1.0,
        lambda_cycle: float = 0.0,
        lambda_perceptual: float = 0.0,
        perceptual: str | None = None,
        pool_size: int = 0,
        generator_scheduler: SchedulerFactory | None = None,
        discriminator_scheduler: SchedulerFactory | None = None,
        ema_decay: float | None = 0.999,
        ema_start_step: int = 0,
    ) -> None:
        generators = {
            "content_encoder_a": content_encoder_a,
            "content_encoder_b": content_encoder_b,
            "style_encoder_a": style_encoder_a,
            "style_encoder_b": style_encoder_b,
            "decoder_a": decoder_a,
            "decoder_b": decoder_b,
        }
        if lambda_perceptual > 0 and not perceptual:
            raise ValueError(
                "model.lambda_perceptual > 0 needs model.perceptual, a feature net with feature "
                "maps (vgg16 with your ImageNet weights, or domain_toyfaces on embedded data)"
            )
        if perceptual and lambda_perceptual <= 0:
            raise ValueError(
                f"model.perceptual={perceptual} is used only with model.lambda_perceptual > 0 "
                "(the reference's vgg_w; 1 in its synthia2cityscape config)"
            )
        frozen = {}
        if lambda_perceptual > 0:
            frozen["perceptual_net"] = Frozen.feature(str(perceptual))
            if not hasattr(frozen["perceptual_net"].net, "maps"):
                raise ValueError(
                    f"model.perceptual={perceptual} gives pooled features only; the perceptual "
                    "loss needs feature maps (vgg16, vgg19 or domain_<data>)"
                )
        super().__init__(
            generators,
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
            frozen=frozen,
        )
        self.style_dim = decoder_a.style_dim
        self.weights = {
            "adversarial": lambda_gan,
            "image": lambda_image,
            "style": lambda_style,
            "content": lambda_content,
            "cycle": lambda_cycle,
            "perceptual": lambda_perceptual,
        }

    def encode(self, images: Tensor, side: str, averaged: bool = False) -> tuple[Tensor, Tensor]:
        """(content code, style code) of domain ``side``'s images."""
        content = self.net(f"content_encoder_{side}", averaged)(images)
        return content, self.net(f"style_encoder_{side}", averaged)(images)

    def decode(self, content: Tensor, style: Tensor, side: str, averaged: bool = False) -> Tensor:
        return self.net(f"decoder_{side}", averaged)(content, style)

    def prior_styles(self, like: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """(B, style_dim) styles from N(0, I), one per image of ``like``."""
        shape = (like.shape[0], self.style_dim)
        if generator is None:
            return torch.randn(shape, device=like.device, dtype=like.dtype)
        return torch.randn(shape, generator=generator).to(like.device, like.dtype)

    def generator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        a, b = batch["image_a"], batch["image_b"]
        content_a, own_style_a = self.encode(a, "a")
        content_b, own_style_b = self.encode(b, "b")
        style_a, style_b = self.prior_styles(a), self.prior_styles(b)
        fake_b, fake_a = self.decode(content_a, style_b, "b"), self.decode(content_b, style_a, "a")
        ctx["fake_a"], ctx["fake_b"] = fake_a.detach(), fake_b.detach()
        content_ab, style_ab = self.encode(fake_b, "b")
        content_ba, style_ba = self.encode(fake_a, "a")
        game, name = self.game, self.game_name
        terms = {
            "adversarial": reference_generator_loss(game, name, self.discriminator_b(fake_b))
            + reference_generator_loss(game, name, self.discriminator_a(fake_a)),
            "image": cycle_consistency_loss(self.decode(content_a, own_style_a, "a"), a)
            + cycle_consistency_loss(self.decode(content_b, own_style_b, "b"), b),
            "style": cycle_consistency_loss(style_ab, style_b)
            + cycle_consistency_loss(style_ba, style_a),
            "content": cycle_consistency_loss(content_ab, content_a)
            + cycle_consistency_loss(content_ba, content_b),
        }
        if self.weights["cycle"] > 0:
            terms["cycle"] = cycle_consistency_loss(
                self.decode(content_ab, own_style_a, "a"), a
            ) + cycle_consistency_loss(self.decode(content_ba, own_style_b, "b"), b)
        if self.weights["perceptual"] > 0:
            terms["perceptual"] = self.perceptual_loss(fake_b, a) + self.perceptual_loss(fake_a, b)
        weights = {k: v for k, v in self.weights.items() if k in terms}
        return self.weighted_sum(terms, weights)

    def perceptual_loss(self, translated: Tensor, source: Tensor) -> Tensor:
        """The domain-invariant perceptual loss on the frozen net's deepest feature maps."""
        maps = self.perceptual_net.maps
        return domain_invariant_perceptual_loss(maps(translated)[-1], maps(source)[-1])

    def translation(self, images: Tensor, to_b: bool, seed: int | None = None) -> Tensor:
        """The content of ``images`` decoded with a style drawn from N(0, I) by ``seed`` (0
        when not given): one output per seed."""
        source, target = ("a", "b") if to_b else ("b", "a")
        content = self.net(f"content_encoder_{source}", True)(images)
        style = self.prior_styles(images, torch.Generator().manual_seed(seed or 0))
        return self.decode(content, style, target, True)
