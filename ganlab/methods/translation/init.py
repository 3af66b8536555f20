"""INIT (Cao, Huang, Li, He & Sun, "Informative Sample Mining Network for Multi-Domain
Image-to-Image Translation", ECCV 2020): a conditional translator G(x^s, a^t) against a
conditional patch discriminator D(x, a), trained as the paper's Algorithm 1 reads:

    1. G makes the 1-hop targets x^{t_1} = G(x^s, a^{t_1}); D scores them     (lines 6-7)
    2. AIW(x^t) = ||1 + (dl* - dl)||^2 exp(D~(x^t)) from them, once           (line 8, eq. 6-7)
    3. intermediate attributes drawn, G makes the n-hop targets, D scores      (lines 9-11, eq. 9)
    4. L = L_data + L_g, L_g = sum_{n=1..N} E[AIW E_{n-hop}[sum_{i<=n}
       log(1 - D(x^{t_i}, a^{t_i}))]]                                          (lines 12-14, eq. 10)
    5. G minimises L, then D maximises it                                      (lines 15-16)

The math is in ``ganlab.objectives.aiw``. Every hop's target is the batch's labels in a fresh
random order; the N chains of eq. 10 are one chain here, the n-hop chain its first n hops, so
hop i counts N - i + 1 times (the N chains drawn with common random numbers; in expectation
the same as independent chains, every hop's target being an independent draw). dl comes from
a frozen embedding phi (``embedding``): VGG-Face on faces as in the paper (``vggface``, the
file ``vgg_face_dag.pth``), ImageNet VGG-16 on other photos (``vgg16``), ganlab's own
identity net on the embedded ToyFaces. Test time translates in one hop. D reads the image
concatenated with the replicated attributes (``ganlab.nets.stargan``, ``conditioning``).

Each choice is an option, the default first (the paper's form; for ``max_logit`` a clamp for
numerical safety only, the paper has none) and the pre-change default second: ``aiw_gap``
batch | per_sample, ``normalise_weights`` false | true, ``max_logit`` 50 | 5,
``aiw_per_hop`` false | true, ``hop_weighting`` nested | uniform, ``real_term_per_hop`` false |
true, ``generator_objective`` saturating | non_saturating, ``generator_first`` true | false,
``discriminator.conditioning`` concat | projection.

Ours where the paper is silent: AIW weights are constants (no gradient through them); a
patch discriminator's D~ of a sample is the mean of its patch logits; G also keeps content
with a cycle L1 lambda_rec ||G(x^{t_n}, a^s) - x^s||_1, once per hop (as StarGAN and AttGAN
do); the hops are computed once per step and shared by both phases (D reads them detached),
which with G first is Algorithm 1's one forward pass for both updates; ``one_hop_steps`` (0
by default) trains one hop for the first generator steps; an ``attribute_reader`` (a small
classifier, outside the game) learns the attributes of real images so ``task=translate
attributes=[...]`` can keep the ones a user does not name. On two-domain data (Yosemite's
seasons, edges2shoes) the domain is the one attribute; ``lambda_paired`` adds the pixel L1 of
paired data (edges2shoes, sec. 4.4). With ``aiw=false, hops=1`` this is the plain
conditional GAN of the paper's ablation.
"""

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlab.evaluation import Evaluation, Notes
from ganlab.features import get_extractor
from ganlab.methods.base import Frozen, OptimizerFactory, Phase, SchedulerFactory, StepContext
from ganlab.methods.translation.attribute_translation import AttributeTranslationModule
from ganlab.objectives.aiw import (
    GAPS,
    discriminator_fake_loss,
    discriminator_real_loss,
    embedding_scale,
    importance_weights,
    multi_hop,
    multi_hop_loss,
    nested_hop_weights,
    non_saturating_generator_loss,
    per_sample_logits,
    saturating_generator_loss,
)
from ganlab.objectives.translation import cycle_consistency_loss

GENERATOR_OBJECTIVES: dict[str, Callable[[Tensor, Tensor | None], Tensor]] = {
    "saturating": saturating_generator_loss,  # eq. 8 / 10
    "non_saturating": non_saturating_generator_loss,  # ours, pre-change
}
HOP_WEIGHTINGS = ("nested", "uniform")  # eq. 10's N - i + 1 per hop; each hop once (pre-change)


def embedding_net(name: str, weights_path: str | None = None) -> Frozen:
    """phi of AIW, the feature-registry net ``name`` (``vggface``, ``vgg16``, ganlab's
    ``identity_toyfaces_32px``, ...); ``weights_path`` is its weight file (or a folder holding
    it), else the torch hub cache."""
    extractor = get_extractor(name, weights_path)
    return Frozen(extractor, f"features:{name}", extractor.fingerprint)


def check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


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
        embedding_weights: str | None = None,
        aiw: bool = True,
        aiw_gap: str = "batch",
        aiw_per_hop: bool = False,
        normalise_weights: bool = False,
        max_logit: float | None = 50.0,
        radius: float = 1.0,
        hops: int = 2,
        hop_weighting: str = "nested",
        one_hop_steps: int = 0,
        real_term_per_hop: bool = False,
        generator_objective: str = "saturating",
        generator_first: bool = True,
        lambda_rec: float = 10.0,
        lambda_paired: float = 0.0,
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
                "AIW needs an embedding phi (a feature-registry name: vggface, vgg16, "
                "identity_toyfaces, ...); or set aiw=false"
            )
        if radius <= 0:
            raise ValueError(f"the hypersphere radius must be > 0, got {radius}")
        if max_logit is not None and max_logit <= 0:
            raise ValueError(
                f"max_logit clamps D~ to [-max_logit, max_logit]: > 0 or null, not {max_logit}"
            )
        check_choice("aiw_gap", aiw_gap, tuple(GAPS))
        check_choice("hop_weighting", hop_weighting, HOP_WEIGHTINGS)
        check_choice("generator_objective", generator_objective, tuple(GENERATOR_OBJECTIVES))
        frozen = {"embedding": embedding_net(embedding, embedding_weights)} if aiw else {}
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
        self.aiw, self.aiw_gap, self.aiw_per_hop = aiw, aiw_gap, aiw_per_hop
        self.radius, self.max_logit, self.normalise_weights = radius, max_logit, normalise_weights
        self.embedding_size = embedding_size
        self.hops, self.hop_weighting, self.one_hop_steps = hops, hop_weighting, one_hop_steps
        self.real_term_per_hop = real_term_per_hop
        self.generator_objective = generator_objective
        self.generator_first = generator_first
        self.lambda_rec, self.lambda_paired = lambda_rec, lambda_paired

    def phases(self) -> list[Phase]:
        """Algorithm 1 optimises G, then D (``generator_first``); else D, then G."""
        discriminator, generator = super().phases()
        return [generator, discriminator] if self.generator_first else [discriminator, generator]

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

    def hop_loss_weights(self, n_hops: int) -> list[float]:
        """Each hop's weight in the adversarial loss: N - i + 1 (eq. 10) or 1 (``uniform``)."""
        return nested_hop_weights(n_hops) if self.hop_weighting == "nested" else [1.0] * n_hops

    # ---- AIW ----------------------------------------------------------------------------------
    def embed(self, images: Tensor) -> Tensor:
        """phi(x), the frozen embedding, at its own input size when ``embedding_size`` is set."""
        if self.embedding_size and images.shape[-1] != self.embedding_size:
            size = (self.embedding_size, self.embedding_size)
            images = F.interpolate(images, size=size, mode="bilinear", align_corners=False)
        return self.embedding(images)

    def aiw_scales(self, batch: dict[str, Any], ctx: StepContext) -> list[Tensor]:
        """The embedding factor ||1 + (dl* - dl)||^2 of the 1-hop targets (Algorithm 1 line
        8), or of every hop with ``aiw_per_hop``; once per step (only D's logits change
        between the phases)."""

        def compute() -> list[Tensor]:
            images, _ = self.labelled(batch)
            hops, _ = self.translations(batch, ctx)
            scored = hops if self.aiw_per_hop else hops[:1]
            with torch.no_grad():  # the sources and the scored hops in one pass of phi
                sources, *translated = self.embed(torch.cat([images, *scored])).chunk(
                    len(scored) + 1
                )
                return [
                    embedding_scale(sources, hop, self.radius, self.aiw_gap) for hop in translated
                ]

        return ctx.remember("aiw_scales", compute)

    def hop_importance_weights(
        self, batch: dict[str, Any], ctx: StepContext, hop_logits: list[Tensor]
    ) -> list[Tensor | None]:
        """AIW of each hop's translations from D's logits ``hop_logits`` in this phase: the
        1-hop targets' weights for every hop (Algorithm 1), or each hop's own with
        ``aiw_per_hop``; None for every hop when AIW is off."""
        if not self.aiw:
            return [None] * len(hop_logits)
        scales = self.aiw_scales(batch, ctx)
        weights = [
            importance_weights(
                scale, per_sample_logits(logits), self.max_logit, self.normalise_weights
            )
            for scale, logits in zip(scales, hop_logits[: len(scales)], strict=True)
        ]
        for hop, hop_weights in enumerate(weights):
            self.log_step(f"aiw/{self.phase_name}/max_weight_hop{hop + 1}", hop_weights.max())
        return weights if self.aiw_per_hop else weights * len(hop_logits)

    # ---- the players' losses -------------------------------------------------------------
    def discriminator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        """-L: -E log D(x^s, a^s) once (N times with ``real_term_per_hop``) - eq. 10's L_g."""
        images, labels = self.labelled(batch)
        hops, targets = self.translations(batch, ctx)
        fake_logits = [
            self.discriminator(hop.detach(), target)
            for hop, target in zip(hops, targets, strict=True)
        ]
        weights = self.hop_importance_weights(batch, ctx, fake_logits)
        fake = [
            discriminator_fake_loss(logits, hop_weights)
            for logits, hop_weights in zip(fake_logits, weights, strict=True)
        ]
        real = discriminator_real_loss(self.discriminator(images, labels))
        real_count = len(hops) if self.real_term_per_hop else 1
        adversarial = real_count * real + multi_hop_loss(fake, self.hop_loss_weights(len(hops)))
        reader = F.binary_cross_entropy_with_logits(self.attribute_reader(images), labels)
        return self.weighted_sum({"adversarial": adversarial, "attribute_reader": reader})

    def generator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        """eq. 10's L_g (or its non-saturating form) + lambda_rec * the cycle L1 of every hop."""
        images, labels = self.labelled(batch)
        hops, targets = self.translations(batch, ctx)
        fake_logits = [
            self.discriminator(hop, target) for hop, target in zip(hops, targets, strict=True)
        ]
        weights = self.hop_importance_weights(batch, ctx, fake_logits)
        objective = GENERATOR_OBJECTIVES[self.generator_objective]
        adversarial = [
            objective(logits, hop_weights)
            for logits, hop_weights in zip(fake_logits, weights, strict=True)
        ]
        reconstruction = [
            cycle_consistency_loss(self.generator(hop, labels), images) for hop in hops
        ]
        terms = {
            "adversarial": multi_hop_loss(adversarial, self.hop_loss_weights(len(hops))),
            "reconstruction": multi_hop_loss(reconstruction),
        }
        weights_of_terms = {"reconstruction": self.lambda_rec}
        if self.lambda_paired > 0:
            terms["paired"] = self.paired_loss(batch)
            weights_of_terms["paired"] = self.lambda_paired
        return self.weighted_sum(terms, weights_of_terms)

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

    def evaluations(self) -> list[Evaluation]:
        """The attribute translation's, and a note naming the embedding phi AIW used."""
        if not self.aiw:
            described = "none (model.aiw=false)"
        else:
            source, fingerprint = self.frozen_sources["embedding"]
            size = f"{self.embedding_size} px" if self.embedding_size else "the images' own size"
            described = f"{source} ({fingerprint}), read at {size}"
        return [*super().evaluations(), Notes({"aiw_embedding": described})]
