"""Training the measuring instruments: a DomainNet classifier on embedded data.

Not a game: one player, one phase, the supervised loss of whatever the dataset labels
(digit class; toyfaces attributes and identity parameters). The trained net's
penultimate features serve FID/KID on that data (``features=domain``) and its heads
score attributes. ``python -m ganlab.run experiment=features_digits`` writes
``domain_digits.pt`` and ``manifest.json`` into the run dir.
"""

from pathlib import Path
from typing import Any

import kornia.augmentation as K
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader

from ganlab.assets import manifest_entry, write_manifest
from ganlab.evaluation import Evaluation, HeadAccuracy
from ganlab.features.domain import DomainNet, domain_net_filename, save_domain_net
from ganlab.methods.base import (
    AdversarialModule,
    OptimizerFactory,
    Phase,
    Player,
    SchedulerFactory,
    StepContext,
)


class DomainNetTraining(AdversarialModule):
    step_phase = "fit"

    def __init__(
        self,
        domain_net: DomainNet,
        optimizer: OptimizerFactory,
        dataset: str,
        scheduler: SchedulerFactory | None = None,
        max_rotation: float = 8.0,
        max_shift: float = 0.08,
        identity_weight: float = 1.0,
        sized_asset: bool = False,
    ) -> None:
        """``sized_asset``: name the exported net after its image size (a judge of images at
        that size, beside the dataset's default net) instead of the dataset alone."""
        super().__init__({"domain_net": domain_net}, ema_decay=None)
        self.optimizer, self.scheduler, self.dataset = optimizer, scheduler, dataset
        self.identity_weight, self.sized_asset = identity_weight, sized_asset
        self.augment = K.RandomAffine(
            degrees=max_rotation, translate=(max_shift, max_shift), padding_mode="border", p=1.0
        )

    def players(self) -> list[Player]:
        return [Player("domain_net", ("domain_net",), self.optimizer, self.scheduler)]

    def phases(self) -> list[Phase]:
        return [Phase("fit", "domain_net", self.supervised_loss)]

    def supervised_loss(self, batch: dict[str, Tensor], ctx: StepContext) -> Tensor:
        outputs = self.domain_net(self.augment(batch["image"]))
        losses = {}
        if "class_logits" in outputs:
            losses["class"] = F.cross_entropy(outputs["class_logits"], batch["label"])
        if "attribute_logits" in outputs:
            losses["attributes"] = F.binary_cross_entropy_with_logits(
                outputs["attribute_logits"], batch["attributes"]
            )
        if "identity" in outputs:
            losses["identity"] = self.identity_weight * F.mse_loss(
                outputs["identity"], batch["identity"]
            )
        for name, value in losses.items():
            self.log_step(f"domain_net/{name}_loss", value)
        return sum(losses.values())

    @torch.no_grad()
    def predict(self, dataset: Any, batch_size: int = 256) -> tuple[dict[str, Tensor], dict]:
        """(head outputs, dataset items) over a whole dataset, concatenated on the CPU."""
        self.domain_net.eval()
        predicted: dict[str, list[Tensor]] = {}
        targets: dict[str, list[Tensor]] = {}
        for batch in DataLoader(dataset, batch_size=batch_size):
            for key, value in self.domain_net(batch["image"].to(self.device)).items():
                predicted.setdefault(key, []).append(value.cpu())
            for key, value in batch.items():
                targets.setdefault(key, []).append(torch.as_tensor(value))
        self.domain_net.train()
        return (
            {key: torch.cat(values) for key, values in predicted.items()},
            {key: torch.cat(values) for key, values in targets.items()},
        )

    def evaluations(self) -> list[Evaluation]:
        return [HeadAccuracy(notes={"data": self.dataset})]

    def export(self, run_dir: Path, record: dict[str, Any]) -> None:
        size = self.domain_net.config["image_size"] if self.sized_asset else None
        filename = domain_net_filename(self.dataset, size)
        sha256 = save_domain_net(self.domain_net, self.dataset, run_dir / filename)
        write_manifest(run_dir, {filename: manifest_entry(record, self.dataset, sha256=sha256)})
