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
from ganlab.methods.base import (
    AdversarialModule,
    OptimizerFactory,
    Phase,
    Player,
    SchedulerFactory,
    StepContext,
)
from ganlab.nets.segmenter import Segmenter, save_segmenter


def mean_iou(predicted: Tensor, truth: Tensor, n_classes: int) -> tuple[float, list[float]]:
    """Mean over the classes present in ``truth`` of |P & T| / |P | T|, and each class's IoU
    (nan for a class absent from both)."""
    ious = []
    for cls in range(n_classes):
        p, t = predicted == cls, truth == cls
        union = (p | t).sum().item()
        ious.append((p & t).sum().item() / union if union else float("nan"))
    present = [iou for cls, iou in enumerate(ious) if (truth == cls).any()]
    return sum(present) / max(len(present), 1), ious


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

    @torch.no_grad()
    def extra_metrics(
        self, datamodule: Any, n_samples: int, seed: int
    ) -> dict[str, dict[str, Any]]:
        """Pixel accuracy and IoU per class on up to 512 validation images."""
        datamodule.setup()
        dataset = datamodule.split_dataset("val")
        n = min(n_samples, len(dataset), 512)
        items = [dataset[i] for i in range(n)]
        images = torch.stack([item["image"] for item in items]).to(self.device)
        truth = torch.stack([torch.as_tensor(item["mask"]) for item in items]).to(self.device)
        self.segmenter.eval()
        predicted = torch.cat([self.segmenter.segment(chunk) for chunk in images.split(64)])
        self.segmenter.train()
        n_classes = self.segmenter.config["n_classes"]
        miou, ious = mean_iou(predicted, truth, n_classes)
        names = self.class_names or [str(c) for c in range(n_classes)]
        metrics = {"val_pixel_accuracy": (predicted == truth).float().mean().item()}
        metrics["val_mean_iou"] = miou
        metrics |= {f"val_iou_{name}": iou for name, iou in zip(names, ious, strict=True)}
        return {"metrics": metrics, "protocol": {"split": "val", "n_images": n}}

    def export(self, run_dir: Path, record: dict[str, Any]) -> None:
        """``segmenter_<data>.pt`` and its manifest entry (``python -m
        ganlab.assets publish <run dir>`` ships it in ganlab/assets)."""
        filename = f"segmenter_{self.dataset}.pt"
        entry = manifest_entry(record, self.dataset)
        details = {**entry, "class_names": self.class_names}
        save_segmenter(self.segmenter, run_dir / filename, details)
        write_manifest(run_dir, {filename: {**entry, "sha256": file_sha256(run_dir / filename)}})
