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
build the reverse generator or domain A's discriminator; ``extra_discriminators`` adds
more (GcGAN's discriminator of transformed images, with ``real_images`` saying what it
reads as real).
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
    OptimizerFactory,
    Phase,
    Player,
    SchedulerFactory,
    StepContext,
)
from ganlab.methods.image_pool import ImagePool
from ganlab.objectives.adversarial import get_game
from ganlab.objectives.translation import REFERENCE_GAN_SCALES, reference_critic_loss


class TwoDomainTranslation(AdversarialModule):
    step_phase = "generators"
    translation_kind = "target"

    def __init__(
        self,
        generator_ab: nn.Module,
        discriminator_b: nn.Module,
        generator_optimizer: OptimizerFactory,
        discriminator_optimizer: OptimizerFactory,
        game: str = "lsgan",
        domains: Sequence[str] = ("a", "b"),
        generator_ba: nn.Module | None = None,
        discriminator_a: nn.Module | None = None,
        pool_size: int = 50,
        generator_scheduler: SchedulerFactory | None = None,
        discriminator_scheduler: SchedulerFactory | None = None,
        ema_decay: float | None = 0.999,
        ema_start_step: int = 0,
        generator_helpers: dict[str, nn.Module] | None = None,
        extra_discriminators: dict[str, nn.Module] | None = None,
    ) -> None:
        if game not in REFERENCE_GAN_SCALES:
            raise ValueError(
                f"two-domain translation plays one of {', '.join(REFERENCE_GAN_SCALES)}, "
                f"got loss game {game!r}"
            )
        if (generator_ba is None) != (discriminator_a is None):
            raise ValueError("a two-sided method needs both generator_ba and discriminator_a")
        self.domains = tuple(str(name) for name in domains)
        if len(self.domains) != 2:
            raise ValueError(f"domains names A and B, got {list(domains)}")
        nets = {"generator_ab": generator_ab, "discriminator_b": discriminator_b}
        if generator_ba is not None:
            nets |= {"generator_ba": generator_ba, "discriminator_a": discriminator_a}
        self.helper_names = tuple(generator_helpers or {})
        nets |= generator_helpers or {}
        nets |= {f"discriminator_{side}": net for side, net in (extra_discriminators or {}).items()}
        self.ema_nets = tuple(name for name in ("generator_ab", "generator_ba") if name in nets)
        super().__init__(nets, ema_decay, ema_start_step)
        self.two_sided = generator_ba is not None
        self.game_name, self.game = game, get_game(game)
        sides = ("a", "b") if self.two_sided else ("b",)
        sides += tuple(extra_discriminators or {})
        self.pools = nn.ModuleDict({side: ImagePool(pool_size) for side in sides})
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        self.generator_scheduler = generator_scheduler
        self.discriminator_scheduler = discriminator_scheduler

    @property
    def translation_targets(self) -> tuple[str, ...]:
        return self.domains if self.two_sided else self.domains[1:]

    # ---- the game ------------------------------------------------------------------------
    def players(self) -> list[Player]:
        generators = (*self.ema_nets, *self.helper_names)
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
        """Images of the other domain translated to ``target`` by the EMA generator."""
        if target not in self.translation_targets:
            raise ConfigError(
                f"target={target}: this model translates to {', '.join(self.translation_targets)}"
            )
        name = "generator_ab" if target == self.domains[1] else "generator_ba"
        net = self.averaged(name)
        was_training = net.training
        net.eval()
        try:
            return net(images.to(self.device, self.dtype))
        finally:
            net.train(was_training)

    def evaluations(self) -> list[Translation]:
        a, b = self.domains
        directions = ((a, b), (b, a)) if self.two_sided else ((a, b),)
        return [Translation(directions=directions)]
