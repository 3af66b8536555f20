"""Training a segmenter on data with exact masks (ToyFaces), the instrument GAN dissection
reads generated images with. Not a game: one player, one phase, per-pixel cross-entropy.

Generated faces are softer than rendered ones, so the training images are blurred and
noised at random (kornia) besides flips and small shifts; the masks move with the images.
``python -m ganlab.run experiment=segmenter_toyfaces`` writes ``segmenter_<data>.pt``.
"""

from pathlib import Path
from typing import Any

import kornia.augmentation as K
import torch
import torch.nn.functional as F
from torch import Tensor

from ganlab.assets import file_sha256, manifest_entry, write_manifest
from ganlab.evaluation import Evaluation, Segmentation
from ganlab.methods.base import (
    AdversarialModule,
    OptimizerFactory,
    Phase,
    Player,
    SchedulerFactory,
    StepContext,
)
from ganlab.nets.segmenter import Segmenter, save_segmenter


class SegmenterTraining(AdversarialModule):
    step_phase = "fit"

    def __init__(
        self,
        segmenter: Segmenter,
        optimizer: OptimizerFactory,
        dataset: str,
        class_names: list[str] | None = None,
        scheduler: SchedulerFactory | None = None,
        max_blur_sigma: float = 1.5,
        noise_std: float = 0.05,
        max_shift: float = 0.06,
    ) -> None:
        super().__init__({"segmenter": segmenter}, ema_decay=None)
        self.optimizer, self.scheduler, self.dataset = optimizer, scheduler, dataset
        self.class_names = list(class_names or [])
        self.geometry = K.AugmentationSequential(
            K.RandomHorizontalFlip(),
            K.RandomAffine(degrees=0.0, translate=(max_shift, max_shift), p=1.0),
            data_keys=["input", "mask"],
        )
        self.softening = K.AugmentationSequential(
            K.RandomGaussianBlur((5, 5), (0.1, max_blur_sigma), p=0.7),
            K.RandomGaussianNoise(std=noise_std, p=0.5),
        )

    def players(self) -> list[Player]:
        return [Player("segmenter", ("segmenter",), self.optimizer, self.scheduler)]

    def phases(self) -> list[Phase]:
        return [Phase("fit", "segmenter", self.segmentation_loss)]

    def segmentation_loss(self, batch: dict[str, Tensor], ctx: StepContext) -> Tensor:
        mask = batch["mask"][:, None].float()
        images, mask = self.geometry(batch["image"], mask)
        logits = self.segmenter(self.softening(images).clamp(-1, 1))
        loss = F.cross_entropy(logits, mask[:, 0].round().long())
        self.log_step("segmenter/cross_entropy", loss)
        return loss

    @property
    def n_classes(self) -> int:
        return self.segmenter.config["n_classes"]

    @torch.no_grad()
    def segment(self, images: Tensor) -> Tensor:
        """(B, H, W) class labels of (B, C, H, W) images, the segmenter in eval mode."""
        was_training = self.segmenter.training
        self.segmenter.eval()
        labels = self.segmenter.segment(images.to(self.device))
        self.segmenter.train(was_training)
        return labels

    def evaluations(self) -> list[Evaluation]:
        return [Segmentation()]

    def export(self, run_dir: Path, record: dict[str, Any]) -> None:
        """``segmenter_<data>.pt`` and its manifest entry (``python -m
        ganlab.assets publish <run dir>`` ships it in ganlab/assets)."""
        filename = f"segmenter_{self.dataset}.pt"
        entry = manifest_entry(record, self.dataset)
        details = {**entry, "class_names": self.class_names}
        save_segmenter(self.segmenter, run_dir / filename, details)
        write_manifest(run_dir, {filename: {**entry, "sha256": file_sha256(run_dir / filename)}})
