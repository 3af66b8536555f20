"""The frame of unpaired two-domain translation (CycleGAN and the methods compared with it):
a generator A -> B and, for two-sided methods, one B -> A; a discriminator per target
domain, each reading fakes through an image pool (50 by default, Shrivastava et al. 2017);
the GAN game from ``loss=`` scaled as CycleGAN's code computes it
(``ganlab.objectives.translation``); EMA copies of the generators, which translate.

Each step the generators' phase runs first and leaves its fakes (detached) in the step
context; the discriminators' phase then reads them through the pools (the reference's
order: G step, then D step). A method writes ``generator_loss`` and stores ``fake_b`` (and
``fake_a``) in the context. Batches are ``{"image_a", "image_b"}`` (``data=unaligned``,
``data=yosemite``, ``data=toyfaces_domains``). One-sided methods (no ``generator_ba``) never
build the reverse generator or domain A's discriminator; more discriminators may judge
other images (GcGAN's of transformed images, with ``real_images`` saying what it reads as
real).
"""

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ganlab.errors import ConfigError
from ganlab.evaluation import Translation
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
from ganlab.methods.translation.image_pool import ImagePool
from ganlab.objectives.adversarial import get_game
from ganlab.objectives.translation import REFERENCE_GAN_SCALES, reference_critic_loss


class TwoDomainTranslation(AdversarialModule):
    step_phase = "generators"
    translation_kind = "target"
    diversity_outputs = 2  # outputs per input (seeds 0, 1) the LPIPS diversity compares

    def __init__(
        self,
        generators: dict[str, nn.Module],
        discriminators: dict[str, nn.Module],
        generator_optimizer: OptimizerFactory,
        discriminator_optimizer: OptimizerFactory,
        game: str = "lsgan",
        domains: Sequence[str] = ("a", "b"),
        pool_size: int = 50,
        generator_scheduler: SchedulerFactory | None = None,
        discriminator_scheduler: SchedulerFactory | None = None,
        ema_decay: float | None = 0.999,
        ema_start_step: int = 0,
        frozen: dict[str, Frozen] | None = None,
    ) -> None:
        """``generators``: the nets the generators' player trains (each gets an EMA copy);
        ``discriminators``: side -> net, ``b`` (and ``a`` for two-sided methods) judging
        domain B (A), any other side one more discriminator (``discriminator_<side>``)."""
        if game not in REFERENCE_GAN_SCALES:
            raise ValueError(
                f"two-domain translation plays one of {', '.join(REFERENCE_GAN_SCALES)}, "
                f"got loss game {game!r}"
            )
        if "b" not in discriminators:
            raise ValueError("a two-domain method needs a discriminator of domain B")
        self.domains = tuple(str(name) for name in domains)
        if len(self.domains) != 2:
            raise ValueError(f"domains names A and B, got {list(domains)}")
        nets = dict(generators)
        nets |= {f"discriminator_{side}": net for side, net in discriminators.items()}
        self.ema_nets = tuple(generators)
        super().__init__(nets, ema_decay, ema_start_step, frozen)
        self.two_sided = "a" in discriminators
        self.game_name, self.game = game, get_game(game)
        self.pools = nn.ModuleDict({side: ImagePool(pool_size) for side in discriminators})
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        self.generator_scheduler = generator_scheduler
        self.discriminator_scheduler = discriminator_scheduler

    @property
    def translation_targets(self) -> tuple[str, ...]:
        return self.domains if self.two_sided else self.domains[1:]

    # ---- the game ------------------------------------------------------------------------
    def players(self) -> list[Player]:
        generators = self.ema_nets
        discriminators = tuple(f"discriminator_{side}" for side in self.pools)
        return [
            Player("generators", generators, self.generator_optimizer, self.generator_scheduler),
            Player(
                "discriminators",
                discriminators,
                self.discriminator_optimizer,
                self.discriminator_scheduler,
            ),
        ]

    def phases(self) -> list[Phase]:
        return [
            Phase("generators", "generators", self.generator_loss),
            Phase("discriminators", "discriminators", self.discriminator_loss),
        ]

    @abstractmethod
    def generator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        """The generators' loss; stores ``ctx["fake_b"]`` (and ``ctx["fake_a"]``) detached."""

    def real_images(self, side: str, batch: dict[str, Any]) -> Tensor:
        """What ``discriminator_<side>`` sees as real: domain ``side``'s images."""
        return batch[f"image_{side}"]

    def discriminator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        """Each discriminator (``discriminator_<side>``) on its real images against its
        pooled fakes (``ctx["fake_<side>"]``)."""
        terms = {}
        for side, pool in self.pools.items():
            fake = pool.query(ctx[f"fake_{side}"], *self.rank_and_world)
            critic = self.get_submodule(f"discriminator_{side}")
            real = self.real_images(side, batch)
            terms[side] = reference_critic_loss(
                self.game, self.game_name, critic(real), critic(fake)
            )
        return self.weighted_sum(terms)

    # ---- checks and translation ------------------------------------------------------------
    def check_data(self, datamodule: Any) -> None:
        data = datamodule
        if not hasattr(data, "domains"):
            raise ConfigError(
                f"{type(self).__name__} translates between two unpaired domains; data={data.name} "
                "has none (use data=unaligned, data=yosemite or data=toyfaces_domains)"
            )
        if tuple(data.domains) != self.domains:
            raise ConfigError(
                f"data={data.name} has domains {list(data.domains)}; the model translates "
                f"between {list(self.domains)}: set model.domains={list(data.domains)}"
            )

    @torch.no_grad()
    def translate(self, images: Tensor, target: str, seed: int | None = None) -> Tensor:
        """Images of the other domain translated to ``target`` by the EMA nets, eval mode
        (``seed``: the style draw of a multimodal method)."""
        if target not in self.translation_targets:
            raise ConfigError(
                f"target={target}: this model translates to {', '.join(self.translation_targets)}"
            )
        with evaluating(*(self.averaged(name) for name in self.ema_nets)):
            images = images.to(self.device, self.dtype)
            return self.translation(images, target == self.domains[1], seed)

    def net(self, name: str, averaged: bool = False) -> nn.Module:
        """Net ``name``, or its EMA copy (the one that translates) when ``averaged``."""
        return self.averaged(name) if averaged else self.get_submodule(name)

    def translation(self, images: Tensor, to_b: bool, seed: int | None = None) -> Tensor:
        """A -> B (``to_b``) or B -> A with the EMA nets (``seed``: the style draw of a
        multimodal method); a method with other nets overrides it."""
        return self.averaged("generator_ab" if to_b else "generator_ba")(images)

    def evaluations(self) -> list[Translation]:
        a, b = self.domains
        directions = ((a, b), (b, a)) if self.two_sided else ((a, b),)
        return [Translation(directions=directions, diversity=self.diversity_outputs)]
