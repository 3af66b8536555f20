"""The shape StarGAN, AttGAN and INIT share: one generator G(x, a) that translates an image to
target attributes a (binary vectors in the data's ``attribute_names`` order), trained against
a discriminator on labelled images (batches with ``image`` and ``attributes``).

What this base gives a method:
- training targets: the batch's labels in a random order, as StarGAN and AttGAN draw them;
- two-domain data (Yosemite's seasons, edges2shoes) as one attribute (``labelled``);
- the EMA generator that translates, through ``translate_attributes`` (the evaluation's
  entry) and ``translate`` (``task=translate attributes=[smiling,-male]``: each input's own
  attributes, as the method's ``read_attributes`` reads them, with the named ones changed);
- the :class:`AttributeTranslation` evaluation (per-attribute accuracy, FID and, on
  ToyFaces, the error against the ground-truth rendering).

A method writes the losses (``discriminator_loss``; ``generator_loss``, on every
``n_critic``-th batch), ``generate`` (how G is called, e.g. AttGAN's +-0.5 code) and
``read_attributes``.
"""

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ganlab.data.attribute_targets import apply_target, shuffled_targets
from ganlab.data.base import TwoDomainDataModule
from ganlab.errors import ConfigError
from ganlab.evaluation import AttributeTranslation
from ganlab.methods.base import (
    AdversarialModule,
    Frozen,
    OptimizerFactory,
    Phase,
    Player,
    SchedulerFactory,
    StepContext,
    evaluating,
)
from ganlab.objectives.adversarial import gradient_penalty

DOMAIN_KEYS = (("image_a", "image_b"), ("edges", "image"))  # unpaired, paired


def domain_images(first: Tensor, second: Tensor) -> tuple[Tensor, Tensor]:
    """Two domains' images as one batch with the domain as one attribute (0: first, 1: second)."""
    images = torch.cat([first, second])
    domain = torch.cat([torch.zeros(len(first), 1), torch.ones(len(second), 1)])
    return images, domain.to(images)


def check_attributes_match(names: tuple[str, ...], datamodule: Any) -> None:
    """Refuse data whose labels are not the model's attributes (before training starts)."""
    if isinstance(datamodule, TwoDomainDataModule) or datamodule.translated_as_pairs:
        if len(names) != 1:
            raise ConfigError(
                f"data={datamodule.name} has two domains, translated as one attribute; the "
                f"model has {len(names)} ({', '.join(names)}): set model.attribute_names=[<the "
                "second domain>] (experiment=init_yosemite or init_edges2shoes do)"
            )
        return
    labels = tuple(getattr(datamodule, "attribute_names", ()))
    if labels != names:
        raise ConfigError(
            f"data={datamodule.name} labels {list(labels) or 'no attributes'}; the model "
            f"translates {list(names)}: set model.attribute_names={list(labels)} or pick "
            "those attributes with data.attributes"
        )


class AttributeTranslationModule(AdversarialModule):
    ema_nets = ("generator",)
    translation_kind = "attributes"
    translation_targets: tuple[str, ...] = ()

    def __init__(
        self,
        nets: dict[str, nn.Module],
        attribute_names: Sequence[str],
        generator_optimizer: OptimizerFactory,
        discriminator_optimizer: OptimizerFactory,
        n_critic: int = 1,
        generator_scheduler: SchedulerFactory | None = None,
        discriminator_scheduler: SchedulerFactory | None = None,
        ema_decay: float | None = 0.999,
        ema_start_step: int = 0,
        frozen: dict[str, nn.Module | Frozen] | None = None,
        discriminator_nets: tuple[str, ...] = ("discriminator",),
    ) -> None:
        if n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}")
        super().__init__(nets, ema_decay, ema_start_step, frozen)
        self.attribute_names = tuple(attribute_names)
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        self.generator_scheduler = generator_scheduler
        self.discriminator_scheduler = discriminator_scheduler
        self.n_critic = n_critic
        self.discriminator_nets = discriminator_nets
        n_attributes = getattr(nets["generator"], "n_attributes", len(self.attribute_names))
        if n_attributes != len(self.attribute_names):
            raise ValueError(
                f"the generator takes {n_attributes} attributes; attribute_names has "
                f"{len(self.attribute_names)}: {', '.join(self.attribute_names)}"
            )

    # ---- the game ------------------------------------------------------------------------
    def players(self) -> list[Player]:
        return [
            Player(
                "discriminator",
                self.discriminator_nets,
                self.discriminator_optimizer,
                self.discriminator_scheduler,
            ),
            Player("generator", ("generator",), self.generator_optimizer, self.generator_scheduler),
        ]

    def phases(self) -> list[Phase]:
        return [
            Phase("discriminator", "discriminator", self.discriminator_loss),
            Phase("generator", "generator", self.generator_loss, every=self.n_critic),
        ]

    # ---- what a method writes ----------------------------------------------------------
    @abstractmethod
    def discriminator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor: ...

    @abstractmethod
    def generator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor: ...

    def generate(self, net: nn.Module, images: Tensor, attributes: Tensor) -> Tensor:
        """G(x, a) for 0/1 attributes ``a`` (B, K); a method with another code overrides it."""
        return net(images, attributes)

    @abstractmethod
    def read_attributes(self, images: Tensor) -> Tensor:
        """(B, K) 0/1 attributes of real images, as the model reads them (for ``translate``)."""

    def check_data(self, datamodule: Any) -> None:
        check_attributes_match(self.attribute_names, datamodule)

    # ---- training helpers --------------------------------------------------------------
    @staticmethod
    def labelled(batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        """(images, float attributes) of a batch: labelled images as they are; two domains
        (unpaired ``image_a``/``image_b``, or paired ``edges``/``image``) as one batch with a
        single attribute, 0 for the first domain and 1 for the second."""
        if "attributes" in batch:
            images = batch["image"]
            return images, batch["attributes"].to(images)
        for first, second in DOMAIN_KEYS:
            if first in batch and second in batch:
                return domain_images(batch[first], batch[second])
        raise ValueError(
            "attribute translation trains on labelled images (items with 'attributes', e.g. "
            "data=toyfaces or data=celebahq) or on two domains (data=yosemite, "
            f"data=edges2shoes); this batch has {', '.join(batch)}"
        )

    def wgan_gp_classifier_loss(
        self,
        images: Tensor,
        real_scores: Tensor,
        fake: Tensor,
        classification: Tensor,
        lambda_cls: float,
        lambda_gp: float,
    ) -> Tensor:
        """StarGAN's and AttGAN's discriminator loss: -E D(x) + E D(G(x, c)) + lambda_cls *
        ``classification`` (of the real images) + lambda_gp * GP, for a discriminator that
        returns (scores, attribute logits); ``real_scores`` are D's scores of ``images``."""
        fake_scores = self.discriminator(fake)[0]
        alpha = torch.rand(images.shape[0], device=images.device, dtype=images.dtype)
        terms = {
            "adversarial": fake_scores.mean() - real_scores.mean(),
            "classification": classification,
            "gradient_penalty": gradient_penalty(
                lambda x: self.discriminator(x)[0], images, fake, alpha
            ),
        }
        return self.weighted_sum(
            terms, {"classification": lambda_cls, "gradient_penalty": lambda_gp}
        )

    def draw_targets(self, attributes: Tensor) -> Tensor:
        """The batch's own attribute vectors in a random order (StarGAN's training targets)."""
        return shuffled_targets(attributes, torch.randperm(attributes.shape[0]))

    # ---- translation -------------------------------------------------------------------
    @torch.no_grad()
    def translate_attributes(self, images: Tensor, attributes: Tensor) -> Tensor:
        """The EMA generator's translations of ``images`` to 0/1 ``attributes`` (B, K)."""
        net = self.averaged("generator")
        with evaluating(net):
            return self.generate(
                net, images.to(self.device, self.dtype), attributes.to(self.device, self.dtype)
            )

    @torch.no_grad()
    def translate(self, images: Tensor, target: Any, seed: int | None = None) -> Tensor:
        """``task=translate attributes=[name, -name]``: each input's attributes as the model
        reads them, with the named ones turned on (``name``) or off (``-name``)."""
        images = images.to(self.device, self.dtype)
        own = self.read_attributes(images).to(images)
        return self.translate_attributes(images, apply_target(own, self.attribute_names, target))

    def evaluations(self) -> list[AttributeTranslation]:
        return [AttributeTranslation()]
