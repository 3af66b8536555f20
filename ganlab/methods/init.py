"""INIT (Cao, Huang, Li, He & Sun, "Informative Sample Mining Network for Multi-Domain
Image-to-Image Translation", ECCV 2020): a conditional translator G(x^s, a^t) against a
conditional patch discriminator D(x, a), with

- **Adversarial Importance Weighting** (sec. 3.1, ``aiw``): each translation's fake term is
  weighted by AIW(x^t) = (1 + dl* - dl)^2 exp(D~(x^t)) (eq. 5-8), dl from a frozen embedding
  phi of sources and translations (``embedding``: a feature-registry net, the ToyFaces
  identity net on embedded data, VGG with the user's weights on real faces). The weights
  and their normalisation: ``ganlab.objectives.aiw``.
- **Multi-hop Sample Training** (sec. 3.2, ``hops``): x^{t_n} = G(x^{t_{n-1}}, a^{t_n}),
  n = 1..N; both players' losses sum over the hops (eq. 9-10). Each hop's target is the
  batch's labels in a fresh random order (the intermediate attributes are random, the last
  is the target). Test time translates in one hop. ``one_hop_steps`` (ours, 0 by default)
  trains one hop for the first generator steps, so the later hops start from a translator
  that has learnt the first.

The game is the paper's: D minimises -E log D(x, a) - E[AIW log(1 - D(x^t, a^t))] per hop,
G the non-saturating -E[AIW log D(x^t, a^t)]. Ours where the paper is silent: G also keeps
content with a cycle L1 lambda_rec ||G(x^{t_n}, a^s) - x^s||_1 per hop (as StarGAN and AttGAN
do); the hops are computed once per step and shared by both phases (the discriminator reads
them detached); an ``attribute_reader`` (a small classifier, outside the game) learns the
attributes of real images so ``task=translate attributes=[...]`` can keep the ones a user
does not name. On two-domain data (Yosemite's seasons, edges2shoes) the domain is the one
attribute; ``lambda_paired`` adds the pixel L1 of paired data (edges2shoes, sec. 4.4).
With ``aiw=false, hops=1`` this is the plain conditional GAN of the paper's
ablation.
"""

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlab.methods.attribute_translation import AttributeTranslationModule
from ganlab.methods.base import Frozen, OptimizerFactory, SchedulerFactory, StepContext
from ganlab.objectives.aiw import (
    embedding_scale,
    importance_weights,
    multi_hop,
    multi_hop_loss,
    per_sample_logits,
    weighted_discriminator_loss,
    weighted_generator_loss,
)
from ganlab.objectives.translation import cycle_consistency_loss


class INIT(AttributeTranslationModule):
    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        attribute_reader: nn.Module,
        generator_optimizer: OptimizerFactory,
        discriminator_optimizer: OptimizerFactory,
        attribute_names: Sequence[str],
        embedding: str | None = None,
        embedding_size: int | None = None,
        aiw: bool = True,
        hops: int = 2,
        one_hop_steps: int = 0,
        lambda_rec: float = 10.0,
        lambda_paired: float = 0.0,
        radius: float = 1.0,
        max_logit: float | None = 5.0,
        normalise_weights: bool = True,
        n_critic: int = 1,
        generator_scheduler: SchedulerFactory | None = None,
        discriminator_scheduler: SchedulerFactory | None = None,
        ema_decay: float | None = 0.999,
        ema_start_step: int = 0,
    ) -> None:
        if hops < 1:
            raise ValueError(f"hops must be >= 1 (1: no multi-hop training), got {hops}")
        if one_hop_steps < 0:
            raise ValueError(f"one_hop_steps must be >= 0, got {one_hop_steps}")
        if aiw and not embedding:
            raise ValueError(
                "AIW needs an embedding phi (a feature-registry name, e.g. identity_toyfaces "
                "or vgg16); or set aiw=false"
            )
        if radius <= 0:
            raise ValueError(f"the hypersphere radius must be > 0, got {radius}")
        if max_logit is not None and max_logit <= 0:
            raise ValueError(
                f"max_logit clamps D~ to [-max_logit, max_logit]: > 0 or null, not {max_logit}"
            )
        frozen = {"embedding": Frozen.feature(embedding)} if aiw else {}
        super().__init__(
            {
                "generator": generator,
                "discriminator": discriminator,
                "attribute_reader": attribute_reader,
            },
            attribute_names,
            generator_optimizer,
            discriminator_optimizer,
            n_critic=n_critic,
            generator_scheduler=generator_scheduler,
            discriminator_scheduler=discriminator_scheduler,
            ema_decay=ema_decay,
            ema_start_step=ema_start_step,
            frozen=frozen,
            discriminator_nets=("discriminator", "attribute_reader"),
        )
        self.aiw, self.hops, self.lambda_rec = aiw, hops, lambda_rec
        self.one_hop_steps = one_hop_steps
        self.lambda_paired = lambda_paired
        self.radius, self.max_logit, self.normalise_weights = radius, max_logit, normalise_weights
        self.embedding_size = embedding_size

    # ---- the hops --------------------------------------------------------------------------
    def hops_now(self) -> int:
        """N at this step: 1 during the one-hop warm-up, then ``hops``."""
        return 1 if self.run_step < self.one_hop_steps else self.hops

    def hop_targets(self, labels: Tensor) -> list[Tensor]:
        """a^{t_1}, ..., a^{t_N}: the batch's labels in N independent random orders."""
        return [self.draw_targets(labels) for _ in range(self.hops_now())]

    def translations(
        self, batch: dict[str, Any], ctx: StepContext
    ) -> tuple[list[Tensor], list[Tensor]]:
        """(hop images, hop targets) of this step, computed once and shared by both phases
        (with their graph only on the batches where the generator steps)."""

        def compute() -> tuple[list[Tensor], list[Tensor]]:
            images, labels = self.labelled(batch)
            targets = self.hop_targets(labels)
            generator_steps = (self.iteration + 1) % self.n_critic == 0
            with torch.enable_grad() if generator_steps else torch.no_grad():
                return multi_hop(self.generator, images, targets), targets

        return ctx.remember("hops", compute)

    def embed(self, images: Tensor) -> Tensor:
        """phi(x), the frozen embedding, at its own input size when ``embedding_size`` is set."""
        if self.embedding_size and images.shape[-1] != self.embedding_size:
            size = (self.embedding_size, self.embedding_size)
            images = F.interpolate(images, size=size, mode="bilinear", align_corners=False)
        return self.embedding(images)

    def hop_scales(self, batch: dict[str, Any], ctx: StepContext) -> list[Tensor]:
        """The embedding factor (1 + dl* - dl)^2 of each hop's translations, once per step
        (the hops are the same in both phases; only D's logits change between them)."""

        def compute() -> list[Tensor]:
            images, _ = self.labelled(batch)
            hops, _ = self.translations(batch, ctx)
            with torch.no_grad():  # the sources and every hop in one pass of phi
                sources, *translated = self.embed(torch.cat([images, *hops])).chunk(len(hops) + 1)
                return [embedding_scale(sources, hop, self.radius) for hop in translated]

        return ctx.remember("aiw_scales", compute)

    def hop_weights(self, scale: Tensor | None, logits: Tensor, hop: int) -> Tensor | None:
        """AIW of hop ``hop``'s translations from its embedding factor and D~, the mean of
        D's patch logits (None when AIW is off)."""
        if scale is None:
            return None
        weights = importance_weights(
            scale, per_sample_logits(logits), self.max_logit, self.normalise_weights
        )
        self.log_step(f"aiw/{self._phase_name}/max_weight_hop{hop + 1}", weights.max())
        return weights

    # ---- the players' losses -------------------------------------------------------------
    def discriminator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        images, labels = self.labelled(batch)
        hops, targets = self.translations(batch, ctx)
        scales = self.hop_scales(batch, ctx) if self.aiw else [None] * len(hops)
        real_logits = self.discriminator(images, labels)
        hop_losses = []
        for index, (hop, target, scale) in enumerate(zip(hops, targets, scales, strict=True)):
            fake_logits = self.discriminator(hop.detach(), target)
            weights = self.hop_weights(scale, fake_logits, index)
            hop_losses.append(weighted_discriminator_loss(real_logits, fake_logits, weights))
        reader = F.binary_cross_entropy_with_logits(self.attribute_reader(images), labels)
        return self.weighted_sum(
            {"adversarial": multi_hop_loss(hop_losses), "attribute_reader": reader}
        )

    def generator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        images, labels = self.labelled(batch)
        hops, targets = self.translations(batch, ctx)
        scales = self.hop_scales(batch, ctx) if self.aiw else [None] * len(hops)
        adversarial, reconstruction = [], []
        for index, (hop, target, scale) in enumerate(zip(hops, targets, scales, strict=True)):
            fake_logits = self.discriminator(hop, target)
            weights = self.hop_weights(scale, fake_logits, index)
            adversarial.append(weighted_generator_loss(fake_logits, weights))
            reconstruction.append(cycle_consistency_loss(self.generator(hop, labels), images))
        terms = {
            "adversarial": multi_hop_loss(adversarial),
            "reconstruction": multi_hop_loss(reconstruction),
        }
        weights = {"reconstruction": self.lambda_rec}
        if self.lambda_paired > 0:
            terms["paired"], weights["paired"] = self.paired_loss(batch), self.lambda_paired
        return self.weighted_sum(terms, weights)

    def paired_loss(self, batch: dict[str, Any]) -> Tensor:
        """||G(x_A, 1) - x_B||_1 + ||G(x_B, 0) - x_A||_1 on paired data (sec. 4.4's pixel L1)."""
        if "edges" not in batch or "attributes" in batch:
            raise ValueError(
                "model.lambda_paired > 0 needs paired two-domain data (items with edges and "
                "image, e.g. data=edges2shoes); set model.lambda_paired=0 for other data"
            )
        edges, photos = batch["edges"], batch["image"]
        ones = torch.ones(len(edges), 1, device=edges.device, dtype=edges.dtype)
        return cycle_consistency_loss(self.generator(edges, ones), photos) + cycle_consistency_loss(
            self.generator(photos, 0 * ones), edges
        )

    @torch.no_grad()
    def read_attributes(self, images: Tensor) -> Tensor:
        """The attribute reader's verdict (logit > 0) on real images."""
        return (self.attribute_reader(images.to(self.device, self.dtype)) > 0).to(images)
