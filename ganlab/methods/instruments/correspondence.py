"""Training MGI's correspondence net on paired data (ToyFaces: the edge map or mask of a
face and its photo), with the losses of CoCosNet's correspondence (Zhang et al. 2020):

- warp (pseudo exemplar): the face's own photo, randomly flipped, shifted, scaled and
  rotated, is the exemplar; warped onto the face's structure it must give back the photo at
  a quarter of the size, L1 (CoCosNet trains on such pseudo pairs where no exemplar pair
  is known);
- domain alignment (CoCosNet eq. 5): the structure adaptor's output for the edge map equals
  the exemplar adaptor's output for the face's photo, L1;
- warp cycle: a real exemplar (another face of the batch) warped onto the structure and
  carried back with the transposed correlation returns the exemplar, L1;
- warp mask (CoCosNet's ``warp_mask_losstype=direct``): that exemplar's segmentation mask,
  warped like the exemplar, must give the structure's mask (negative log-likelihood per
  position). Without it, near-identity warps of the aligned pseudo exemplar win, and a
  real exemplar is copied rather than matched part to part.

Not a game: one player, one phase. ``python -m ganlab.run experiment=correspondence_toyfaces``
writes ``correspondence_<data>.pt`` (weights + config) into the run dir; MGI loads it.
"""

from pathlib import Path
from typing import Any

import kornia.augmentation as K
import torch
import torch.nn.functional as F
from torch import Tensor

from ganlab.assets import file_sha256, manifest_entry, write_manifest
from ganlab.errors import ConfigError
from ganlab.evaluation import Evaluation, ValidationLosses
from ganlab.methods.base import (
    AdversarialModule,
    OptimizerFactory,
    Phase,
    Player,
    SchedulerFactory,
    StepContext,
)
from ganlab.nets.correspondence import CorrespondenceNet, save_correspondence, warp, warp_back

STRUCTURES = ("edges", "mask")


def structure_input(batch: dict[str, Tensor], kind: str, n_mask_classes: int) -> Tensor:
    """The structure image the net reads: the edge map in [-1, 1], or the one-hot mask."""
    if kind == "edges":
        return batch["edges"] * 2 - 1
    if kind == "mask":
        return F.one_hot(batch["mask"], n_mask_classes).permute(0, 3, 1, 2).float()
    raise ConfigError(f"structure must be one of {STRUCTURES}, got {kind!r}")


def structure_channels(kind: str, n_mask_classes: int) -> int:
    return 1 if kind == "edges" else n_mask_classes


def l1(a: Tensor, b: Tensor) -> Tensor:
    return (a - b).abs().mean()


def warp_mask_loss(
    matrix: Tensor,
    exemplar_mask: Tensor,
    structure_mask: Tensor,
    factor: int,
    alpha: float,
    n_classes: int,
) -> Tensor:
    """NLL of the structure's mask classes (B, H, W) under the exemplar's one-hot mask
    warped by ``matrix``: the share of each class the warp pulls to each position
    (CoCosNet's direct warp-mask loss; masks pooled to the warp's resolution)."""
    one_hot = F.one_hot(exemplar_mask, n_classes).permute(0, 3, 1, 2).float().contiguous()
    warped = warp(matrix, F.avg_pool2d(one_hot, factor), alpha).contiguous()
    labels = structure_mask[:, factor // 2 :: factor, factor // 2 :: factor]
    return F.nll_loss(torch.log(warped + 1e-10), labels)


class CorrespondenceTraining(AdversarialModule):
    step_phase = "fit"

    def __init__(
        self,
        correspondence: CorrespondenceNet,
        optimizer: OptimizerFactory,
        dataset: str,
        structure: str = "edges",
        n_mask_classes: int | None = None,
        scheduler: SchedulerFactory | None = None,
        lambda_warp: float = 1.0,
        lambda_align: float = 1.0,
        lambda_cycle: float = 1.0,
        lambda_mask: float = 1.0,
        max_rotation: float = 10.0,
        max_shift: float = 0.1,
        scale: tuple[float, float] = (0.9, 1.1),
    ) -> None:
        super().__init__({"correspondence": correspondence}, ema_decay=None)
        if structure not in STRUCTURES:
            raise ConfigError(f"structure must be one of {STRUCTURES}, got {structure!r}")
        if structure == "mask" and n_mask_classes is None:
            raise ConfigError("structure=mask needs n_mask_classes (the data's mask classes)")
        expected = structure_channels(structure, n_mask_classes)
        if correspondence.config["structure_channels"] != expected:
            raise ConfigError(
                f"structure={structure} gives {expected} channel(s); the net reads "
                f"{correspondence.config['structure_channels']}"
            )
        self.optimizer, self.scheduler, self.dataset = optimizer, scheduler, dataset
        self.structure, self.n_mask_classes = structure, n_mask_classes
        self.weights = {
            "warp": lambda_warp,
            "align": lambda_align,
            "cycle": lambda_cycle,
            "mask": lambda_mask,
        }

        self.pseudo_exemplar = K.AugmentationSequential(
            K.RandomHorizontalFlip(),
            K.RandomAffine(
                degrees=max_rotation,
                translate=(max_shift, max_shift),
                scale=tuple(scale),
                padding_mode="border",
                p=1.0,
            ),
        )

    def players(self) -> list[Player]:
        return [Player("correspondence", ("correspondence",), self.optimizer, self.scheduler)]

    def phases(self) -> list[Phase]:
        return [Phase("fit", "correspondence", self.correspondence_loss)]

    def losses(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """The unweighted losses of one batch (also the validation figures); the mask loss
        needs ``n_mask_classes`` and masks in the batch."""
        net: CorrespondenceNet = self.correspondence
        photo = batch["image"]
        structure = structure_input(batch, self.structure, self.n_mask_classes)
        pseudo = net(structure, self.pseudo_exemplar(photo))
        target_small = F.avg_pool2d(photo, photo.shape[-1] // pseudo["warped"].shape[-1])
        photo_adapted = net.exemplar_adaptor(photo)
        other = net(structure, photo.roll(1, 0))
        back = warp_back(other["matrix"], other["warped"], net.alpha)
        losses = {
            "warp": l1(pseudo["warped"], target_small),
            "align": l1(pseudo["structure_adapted"], photo_adapted),
            "cycle": l1(back, other["exemplar_small"]),
        }
        if self.n_mask_classes is not None and "mask" in batch:
            factor = photo.shape[-1] // other["warped"].shape[-1]
            mask = batch["mask"]
            losses["mask"] = warp_mask_loss(
                other["matrix"], mask.roll(1, 0), mask, factor, net.alpha, self.n_mask_classes
            )
        return losses

    def correspondence_loss(self, batch: dict[str, Tensor], ctx: StepContext) -> Tensor:
        losses = self.losses(batch)
        for name, value in losses.items():
            self.log_step(f"correspondence/{name}_loss", value)
        return sum(self.weights[name] * value for name, value in losses.items())

    @torch.no_grad()
    def validation_losses(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """The unweighted losses with the net in eval mode."""
        was_training = self.correspondence.training
        self.correspondence.eval()
        losses = self.losses(batch)
        self.correspondence.train(was_training)
        return losses

    def evaluations(self) -> list[Evaluation]:
        return [ValidationLosses(notes={"structure": self.structure})]

    def export(self, run_dir: Path, record: dict[str, Any]) -> None:
        """``correspondence_<data>.pt`` and its manifest entry (``python -m
        ganlab.assets publish <run dir>`` ships it in ganlab/assets)."""
        filename = f"correspondence_{self.dataset}.pt"
        entry = manifest_entry(record, self.dataset, structure=self.structure)
        details = {**entry, "n_mask_classes": self.n_mask_classes}
        save_correspondence(self.correspondence, run_dir / filename, details)
        write_manifest(run_dir, {filename: {**entry, "sha256": file_sha256(run_dir / filename)}})
