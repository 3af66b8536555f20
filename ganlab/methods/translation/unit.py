"""UNIT (Liu, Breuel & Kautz, "Unsupervised Image-to-Image Translation Networks", NIPS 2017):
a shared latent space for two domains. Each domain has a VAE (encoder E, decoder G) whose
last encoder layer and first decoder layer are shared (``ganlab.nets.unit``); a code
z = E(x) + n, n ~ N(0, I), decodes to either domain, and x_ab = G_b(E_a(a) + n) is judged by
domain B's discriminator. The generators' loss (eq. 2-5):

    lambda_gan (L_GAN(x_ab) + L_GAN(x_ba))
    + lambda_recon (||G_a(z_a) - a||_1 + ||G_b(z_b) - b||_1) + lambda_kl (KL(z_a) + KL(z_b))
    + lambda_cycle (||G_a(E_b(x_ab) + n) - a||_1 + ||G_b(E_a(x_ba) + n) - b||_1)
    + lambda_cycle_kl (KL(E_b(x_ab)) + KL(E_a(x_ba)))

with the weights of the authors' NIPS'17 code (100, 0.1, 100, 0.1, GAN 10), KL = E[mean^2]
(their reduced VAE). Translation uses the mean code (no noise): UNIT is unimodal. No image
pool (``pool_size: 0``), as the reference.

**Domain adaptation** (the paper's Table 2, ``n_classes > 0``): a classifier learns the
classes of the ``labelled_domain`` (``label_a``/``label_b`` of the batch) with weight
``lambda_class``; each domain's images are classified through its own path, and
``da_accuracy_<domain>`` reports each domain's test accuracy. Where the classifier sits:

- ``classifier: discriminator`` (the paper's Sec. 5): the discriminators
  (``ganlab.nets.unit.DomainDiscriminator``) share their high-level layers and a class head;
  the discriminators' player learns the labelled domain's classes through its
  discriminator, and a feature-consistency term (weight ``lambda_feature``) asks the shared
  layers to read a translation as they read its source's reconstruction:
  ||f_b(G_b(z_a)) - f_a(G_a(z_a))||_1 + ||f_a(G_a(z_b)) - f_b(G_b(z_b))||_1, the pair
  decoded from one code (our reading of the paper's Sec. 5). These are UNIT's losses, the
  digits experiments' default. Ours, an extension, where ``lambda_translated_class`` > 0
  (10 in the extension row of ``experiments/i2i_toyfaces``): the class head also learns the
  labelled images' translations, with their source labels, through the other domain's
  discriminator (pixel-level adaptation, as PixelDA and CyCADA train on translated sources).
- ``classifier: latent`` (ours): a small net on the shared latent code (conv3, ReLU, global
  pooling, linear), trained with the generators.

``adaptation=false`` is the source-only baseline with the same classifier: only the labelled
domain's path (its encoder and the shared layer, or its discriminator) learns the classes,
nothing translates, and both domains are classified through the labelled domain's path.
"""

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlab.errors import ConfigError
from ganlab.evaluation import DomainClassification, Evaluation
from ganlab.methods.base import (
    OptimizerFactory,
    Phase,
    SchedulerFactory,
    StepContext,
    evaluating,
)
from ganlab.methods.translation.two_domain import TwoDomainTranslation
from ganlab.nets.unit import DomainDiscriminator, shared_residual_block
from ganlab.objectives.translation import (
    cycle_consistency_loss,
    feature_consistency_loss,
    latent_kl,
    reference_generator_loss,
)


def latent_classifier(channels: int, n_classes: int) -> nn.Sequential:
    """Shared code (B, C, h, w) -> class logits: conv3, ReLU, global average, linear."""
    return nn.Sequential(
        nn.Conv2d(channels, channels, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(channels, n_classes),
    )


CLASSIFIER_PLACES = ("latent", "discriminator")


def share_discriminator_layers(
    discriminator_a: nn.Module, discriminator_b: nn.Module, n_classes: int
) -> None:
    """Tie domain B's discriminator's high-level layers and heads to domain A's."""
    for side, net in (("a", discriminator_a), ("b", discriminator_b)):
        if not isinstance(net, DomainDiscriminator) or net.n_classes != n_classes:
            raise ConfigError(
                "model.classifier=discriminator classifies with the discriminators: set "
                f"model.discriminator_{side}._target_=ganlab.nets.unit.DomainDiscriminator "
                f"with n_classes={n_classes} (experiment=unit_digits_da does)"
            )
    discriminator_b.share_high_level_layers(discriminator_a)


class UNIT(TwoDomainTranslation):
    def __init__(
        self,
        encoder_a: nn.Module,
        encoder_b: nn.Module,
        decoder_a: nn.Module,
        decoder_b: nn.Module,
        discriminator_a: nn.Module,
        discriminator_b: nn.Module,
        generator_optimizer: OptimizerFactory,
        discriminator_optimizer: OptimizerFactory,
        game: str = "lsgan",
        domains: Sequence[str] = ("a", "b"),
        lambda_gan: float = 10.0,
        lambda_recon: float = 100.0,
        lambda_kl: float = 0.1,
        lambda_cycle: float = 100.0,
        lambda_cycle_kl: float = 0.1,
        n_classes: int = 0,
        labelled_domain: str = "a",
        lambda_class: float = 1.0,
        classifier: str = "latent",
        lambda_feature: float = 1.0,
        lambda_translated_class: float = 0.0,
        adaptation: bool = True,
        pool_size: int = 0,
        generator_scheduler: SchedulerFactory | None = None,
        discriminator_scheduler: SchedulerFactory | None = None,
        ema_decay: float | None = 0.999,
        ema_start_step: int = 0,
    ) -> None:
        if labelled_domain not in ("a", "b"):
            raise ValueError(f"labelled_domain is a or b, got {labelled_domain!r}")
        if not adaptation and not n_classes:
            raise ValueError("adaptation=false is the source-only classifier: set n_classes")
        if classifier not in CLASSIFIER_PLACES:
            raise ConfigError(
                f"model.classifier is one of {', '.join(CLASSIFIER_PLACES)}, got {classifier!r}"
            )
        if n_classes and classifier == "discriminator":
            share_discriminator_layers(discriminator_a, discriminator_b, n_classes)
        if lambda_translated_class > 0 and not (n_classes and classifier == "discriminator"):
            raise ConfigError(
                "model.lambda_translated_class trains the discriminators' class head: it needs "
                "model.classifier=discriminator and n_classes > 0 (or set it to 0)"
            )
        channels = encoder_a.out_channels
        generators = {
            "encoder_a": encoder_a,
            "encoder_b": encoder_b,
            "shared_encoder": shared_residual_block(channels),
            "shared_decoder": shared_residual_block(channels),
            "decoder_a": decoder_a,
            "decoder_b": decoder_b,
        }
        if n_classes and classifier == "latent":
            generators["classifier"] = latent_classifier(channels, n_classes)
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
        )
        self.lambda_gan, self.lambda_recon, self.lambda_kl = lambda_gan, lambda_recon, lambda_kl
        self.lambda_cycle, self.lambda_cycle_kl = lambda_cycle, lambda_cycle_kl
        self.n_classes, self.labelled_domain = n_classes, labelled_domain
        self.lambda_class, self.adaptation = lambda_class, adaptation
        self.classifier_place, self.lambda_feature = classifier, lambda_feature
        self.lambda_translated_class = lambda_translated_class
        if not adaptation:
            self.step_phase = "source_only"

    # ---- the shared latent space -------------------------------------------------------------
    def encode(self, images: Tensor, side: str, averaged: bool = False) -> Tensor:
        """The mean code E(x) of domain ``side``'s images (private layers, then shared)."""
        private = self.net(f"encoder_{side}", averaged)
        return self.net("shared_encoder", averaged)(private(images))

    def decode(self, latent: Tensor, side: str, averaged: bool = False) -> Tensor:
        """Domain ``side``'s image of a code (shared layer, then private)."""
        shared = self.net("shared_decoder", averaged)(latent)
        return self.net(f"decoder_{side}", averaged)(shared)

    @staticmethod
    def with_noise(mean: Tensor) -> Tensor:
        """z = mean + n, n ~ N(0, I) (the VAE's reparametrised sample)."""
        return mean + torch.randn_like(mean)

    # ---- the generators' loss ------------------------------------------------------------
    def class_logits(self, images: Tensor, side: str, averaged: bool = False) -> Tensor:
        """Class logits of images through domain ``side``'s path to the classifier."""
        if self.classifier_place == "discriminator":  # discriminators have no EMA copies
            return self.get_submodule(f"discriminator_{side}").classify(images)
        return self.net("classifier", averaged)(self.encode(images, side, averaged))

    def classification_loss(self, batch: dict[str, Any]) -> Tensor:
        """Cross-entropy of the classifier on the labelled domain's images."""
        side = self.labelled_domain
        if f"label_{side}" not in batch:
            raise ValueError(
                f"n_classes > 0 trains on the labels of domain {side}; the batch has none "
                "(use data=digit_domains, or data=digits_da for SVHN, MNIST and USPS)"
            )
        return F.cross_entropy(
            self.class_logits(batch[f"image_{side}"], side), batch[f"label_{side}"]
        )

    def source_only_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        return self.weighted_sum({"classification": self.classification_loss(batch)})

    def generator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        a, b = batch["image_a"], batch["image_b"]
        mean_a, mean_b = self.encode(a, "a"), self.encode(b, "b")
        z_a, z_b = self.with_noise(mean_a), self.with_noise(mean_b)
        fake_b, fake_a = self.decode(z_a, "b"), self.decode(z_b, "a")
        recon_a, recon_b = self.decode(z_a, "a"), self.decode(z_b, "b")
        ctx["fake_a"], ctx["fake_b"] = fake_a.detach(), fake_b.detach()
        ctx["recon_a"], ctx["recon_b"] = recon_a.detach(), recon_b.detach()
        mean_ab, mean_ba = self.encode(fake_b, "b"), self.encode(fake_a, "a")
        game, name = self.game, self.game_name
        terms = {
            "adversarial": reference_generator_loss(game, name, self.discriminator_b(fake_b))
            + reference_generator_loss(game, name, self.discriminator_a(fake_a)),
            "reconstruction": cycle_consistency_loss(recon_a, a)
            + cycle_consistency_loss(recon_b, b),
            "kl": latent_kl(mean_a) + latent_kl(mean_b),
            "cycle": cycle_consistency_loss(self.decode(self.with_noise(mean_ab), "a"), a)
            + cycle_consistency_loss(self.decode(self.with_noise(mean_ba), "b"), b),
            "cycle_kl": latent_kl(mean_ab) + latent_kl(mean_ba),
        }
        weights = {
            "adversarial": self.lambda_gan,
            "reconstruction": self.lambda_recon,
            "kl": self.lambda_kl,
            "cycle": self.lambda_cycle,
            "cycle_kl": self.lambda_cycle_kl,
        }
        if self.n_classes and self.classifier_place == "latent":
            terms["classification"] = self.classification_loss(batch)
            weights["classification"] = self.lambda_class
        return self.weighted_sum(terms, weights)

    def discriminator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        adversarial = super().discriminator_loss(batch, ctx)
        if not (self.n_classes and self.classifier_place == "discriminator"):
            return adversarial
        features_a, features_b = self.discriminator_a.features, self.discriminator_b.features
        terms = {
            "adversarial": adversarial,
            "classification": self.classification_loss(batch),
            "feature_consistency": feature_consistency_loss(
                features_b(ctx["fake_b"]), features_a(ctx["recon_a"])
            )
            + feature_consistency_loss(features_a(ctx["fake_a"]), features_b(ctx["recon_b"])),
        }
        weights = {"classification": self.lambda_class, "feature_consistency": self.lambda_feature}
        if self.lambda_translated_class > 0:
            source = self.labelled_domain
            target = "b" if source == "a" else "a"
            logits = self.class_logits(ctx[f"fake_{target}"], target)
            terms["translated_classification"] = F.cross_entropy(logits, batch[f"label_{source}"])
            weights["translated_classification"] = self.lambda_translated_class
        return self.weighted_sum(terms, weights)

    def phases(self) -> list[Phase]:
        if self.adaptation:
            return super().phases()
        # source only: the labelled domain's path learns the classes, nothing translates
        player = "discriminators" if self.classifier_place == "discriminator" else "generators"
        return [Phase("source_only", player, self.source_only_loss)]

    # ---- domain adaptation ---------------------------------------------------------------------
    def classifying_side(self, side: str) -> str:
        """Whose path classifies domain ``side``'s images: its own, or the labelled domain's
        without adaptation."""
        return side if self.adaptation else self.labelled_domain

    @torch.no_grad()
    def classify(self, images: Tensor, side: str) -> Tensor:
        """Class predictions for domain ``side``'s images through ``classifying_side``'s path,
        eval mode; the EMA nets on the latent."""
        path = self.classifying_side(side)
        images = images.to(self.device, self.dtype)
        if self.classifier_place == "latent":
            return self.class_logits(images, path, averaged=True).argmax(1)
        with evaluating(self.get_submodule(f"discriminator_{path}")):
            return self.class_logits(images, path).argmax(1)

    def classifier_path(self, side: str) -> str:
        """The nets domain ``side``'s images pass through to be classified."""
        net = "discriminator" if self.classifier_place == "discriminator" else "encoder"
        return f"{net}_{self.classifying_side(side)}"

    def translation(self, images: Tensor, to_b: bool, seed: int | None = None) -> Tensor:
        """G_b(E_a(x)) (or G_a(E_b(x))) of the mean code with the EMA nets: no noise, so
        ``seed`` changes nothing (UNIT is unimodal)."""
        source, target = ("a", "b") if to_b else ("b", "a")
        return self.decode(self.encode(images, source, True), target, True)

    def evaluations(self) -> list[Evaluation]:
        """Translations, and with classes each domain's classification accuracy."""
        own = [DomainClassification()] if self.n_classes else []
        return [*super().evaluations(), *own]
