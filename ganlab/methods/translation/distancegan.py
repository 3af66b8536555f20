"""DistanceGAN (Benaim & Wolf, "One-Sided Unsupervised Domain Mapping", NIPS 2017): G: A -> B
keeps the distances between samples. For every pair of a batch, the L1 distance of two
inputs and the distance of their translations, each standardised by its own domain's mean
and standard deviation, should agree (eq. 5); the self-distance variant compares the top
and bottom halves of each image instead (eq. 6). One-sided by default (no reverse
generator); ``cycle=true`` adds the reverse generator, its distance loss and CycleGAN's cycle
loss (the reference's ``--use_cycle_loss``).

The domains' (mean, std) of pair distances are computed when fit starts over the first
``stats_batches`` training batches (the reference: up to 900), and kept as buffers, so a
resumed run keeps them. Defaults as the reference: LSGAN, lambda_distance 1, cycle 10,
Adam 2e-4 (0.5, 0.999), batch 2 or more (a pair needs two images).
"""

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ganlab.methods.base import OptimizerFactory, SchedulerFactory, StepContext
from ganlab.methods.translation.two_domain import TwoDomainTranslation
from ganlab.objectives.translation import (
    cycle_consistency_loss,
    distance_preservation_loss,
    half_distances,
    pairwise_distances,
    reference_generator_loss,
)


class DistanceGAN(TwoDomainTranslation):
    def __init__(
        self,
        generator_ab: nn.Module,
        discriminator_b: nn.Module,
        generator_optimizer: OptimizerFactory,
        discriminator_optimizer: OptimizerFactory,
        generator_ba: nn.Module | None = None,
        discriminator_a: nn.Module | None = None,
        cycle: bool = False,
        self_distance: bool = False,
        normalise_distances: bool = True,
        stats_batches: int = 900,
        game: str = "lsgan",
        domains: Sequence[str] = ("a", "b"),
        lambda_distance: float = 1.0,
        lambda_cycle: float = 10.0,
        pool_size: int = 50,
        generator_scheduler: SchedulerFactory | None = None,
        discriminator_scheduler: SchedulerFactory | None = None,
        ema_decay: float | None = 0.999,
        ema_start_step: int = 0,
    ) -> None:
        if cycle and (generator_ba is None or discriminator_a is None):
            raise ValueError("cycle=true needs generator_ba and discriminator_a")
        generators, discriminators = {"generator_ab": generator_ab}, {"b": discriminator_b}
        if cycle:
            generators["generator_ba"], discriminators["a"] = generator_ba, discriminator_a
        super().__init__(
            generators,
            discriminators,
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
        self.cycle, self.self_distance = cycle, self_distance
        self.normalise_distances, self.stats_batches = normalise_distances, stats_batches
        self.lambda_distance, self.lambda_cycle = lambda_distance, lambda_cycle
        # (mean, std) of the distances in domains A and B; (0, 1): not standardised
        self.register_buffer("distance_stats", torch.tensor([[0.0, 1.0], [0.0, 1.0]]))
        self.register_buffer("stats_ready", torch.tensor(not normalise_distances))

    def distances(self, images: Tensor) -> Tensor:
        return half_distances(images) if self.self_distance else pairwise_distances(images)

    # ---- the domains' distance statistics ---------------------------------------------------
    def on_fit_start(self) -> None:
        super().on_fit_start()
        if not bool(self.stats_ready):
            self.measure_distance_stats(self.trainer.datamodule.train_dataloader())

    @torch.no_grad()
    def measure_distance_stats(self, batches: Any) -> None:
        """(mean, std) of each domain's distances over the first ``stats_batches`` batches."""
        collected: dict[str, list[Tensor]] = {"a": [], "b": []}
        for index, batch in enumerate(batches):
            if index >= self.stats_batches:
                break
            for side in collected:
                collected[side].append(self.distances(batch[f"image_{side}"].float()))
        for row, side in enumerate(("a", "b")):
            values = torch.cat(collected[side])
            if len(values) < 2:
                raise ValueError(
                    "DistanceGAN standardises distances by their spread over the training "
                    "batches and found fewer than two; use data.batch_size >= 2"
                )
            self.distance_stats[row] = torch.stack([values.mean(), values.std()]).to(
                self.distance_stats
            )
        self.stats_ready.fill_(True)

    # ---- the generators' loss ------------------------------------------------------------
    def generator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        a, b = batch["image_a"], batch["image_b"]
        stats_a, stats_b = self.distance_stats[0], self.distance_stats[1]
        fake_b = self.generator_ab(a)
        ctx["fake_b"] = fake_b.detach()
        adversarial = reference_generator_loss(
            self.game, self.game_name, self.discriminator_b(fake_b)
        )
        distance = distance_preservation_loss(
            self.distances(a), self.distances(fake_b), stats_a, stats_b
        )
        terms: dict[str, Tensor] = {}
        weights = {"distance": self.lambda_distance}
        if self.cycle:
            fake_a = self.generator_ba(b)
            ctx["fake_a"] = fake_a.detach()
            adversarial = adversarial + reference_generator_loss(
                self.game, self.game_name, self.discriminator_a(fake_a)
            )
            distance = distance + distance_preservation_loss(
                self.distances(b), self.distances(fake_a), stats_b, stats_a
            )
            terms["cycle"] = cycle_consistency_loss(
                self.generator_ba(fake_b), a
            ) + cycle_consistency_loss(self.generator_ab(fake_a), b)
            weights["cycle"] = self.lambda_cycle
        terms = {"adversarial": adversarial, "distance": distance, **terms}
        return self.weighted_sum(terms, weights)
