"""Preview grids: what the method's first previewing evaluation shows, every N run steps.

Noise samples for generators (a grid of samples from a fixed latent batch); input |
reconstruction | target rows for inversion methods; source | translation rows for
translators (``ganlab.evaluation``). The inputs are drawn once at the start of fit from
their own seed, so the grids of one run (and of a resumed run) are comparable. Each grid is
saved as ``<run>/samples/step_<run step>.png`` and sent to every active logger that shows
images (W&B, TensorBoard).
"""

from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from PIL import Image
from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger
from torch import Tensor
from torchvision.utils import make_grid

from ganlab.evaluation import EvaluationPlan
from ganlab.methods.base import AdversarialModule


def preview_grid(rows: dict[str, Tensor], nrow: int) -> Tensor:
    """One image row per entry of ``rows`` (or, for a single entry, ``nrow`` images a row),
    grey rows shown in RGB beside colour ones, rows of other sizes brought to the smallest
    row's (``cover_and_crop``: e.g. 256 px inputs beside a 1024 px generator's outputs);
    (3 or 1, H, W) in [0, 1]."""
    images = at_one_size([row.float().cpu() for row in rows.values()])
    channels = max(row.shape[1] for row in images)
    images = [row.expand(-1, channels, -1, -1) for row in images]
    per_row = nrow if len(images) == 1 else max(len(row) for row in images)
    padded = [row if len(images) == 1 else pad_row(row, per_row) for row in images]
    return make_grid(torch.cat(padded), nrow=per_row, normalize=True, value_range=(-1, 1))


def at_one_size(batches: list[Tensor]) -> list[Tensor]:
    """(N, C, h, w) batches of images all brought to the smallest one's (H, W) by
    ``cover_and_crop`` (previews only: outputs are saved at their own size)."""
    size = min((tuple(b.shape[-2:]) for b in batches), key=lambda hw: hw[0] * hw[1])
    return [cover_and_crop(b, size) for b in batches]


def cover_and_crop(images: Tensor, size: tuple[int, int]) -> Tensor:
    """(N, C, h, w) images scaled to cover ``size`` (H, W) keeping their aspect (averaged
    over areas when shrinking, bilinear when growing), then centre-cropped to it."""
    height, width = images.shape[-2:]
    if (height, width) == tuple(size):
        return images
    scale = max(size[0] / height, size[1] / width)
    covering = (max(size[0], round(height * scale)), max(size[1], round(width * scale)))
    mode = "area" if scale < 1 else "bilinear"
    images = F.interpolate(images, size=covering, mode=mode)
    top, left = (covering[0] - size[0]) // 2, (covering[1] - size[1]) // 2
    return images[..., top : top + size[0], left : left + size[1]]


def grid_pixels(grid: Tensor) -> np.ndarray:
    """A grid (C, H, W) in [0, 1] as 8-bit (H, W, C) pixels, rounded as torchvision's
    ``save_image`` rounds. The PNG and every logger get these same pixels: wandb.Image casts
    float arrays to uint8 without scaling, which turned [0, 1] grids all black."""
    scaled = grid.detach().float().cpu().mul(255).add(0.5).clamp(0, 255)
    return scaled.to(torch.uint8).permute(1, 2, 0).numpy()


def pad_row(row: Tensor, length: int) -> Tensor:
    """``row`` (N, C, H, W) filled up to ``length`` images with black ones."""
    missing = length - len(row)
    return row if missing <= 0 else torch.cat([row, row.new_full((missing, *row.shape[1:]), -1)])


class SampleGrid(pl.Callback):
    """``n_samples`` noise samples in rows of ``nrow``; or, for row previews (inputs and
    their reconstructions or translations), ``nrow`` inputs."""

    def __init__(
        self,
        dirpath: str,
        every_n_steps: int = 500,
        n_samples: int = 64,
        nrow: int = 8,
        seed: int = 0,
    ) -> None:
        self.dirpath = Path(dirpath)
        self.every_n_steps, self.n_samples, self.nrow, self.seed = (
            every_n_steps,
            n_samples,
            nrow,
            seed,
        )
        self.evaluation: EvaluationPlan | None = None  # attached by the run
        self._inputs: Any = None
        self._last_step = -1

    def on_fit_start(self, trainer: pl.Trainer, module: AdversarialModule) -> None:
        if self.evaluation is None:
            raise RuntimeError("SampleGrid needs its EvaluationPlan attached before fit")
        self._preview = self.evaluation.preview
        if self._preview is not None:
            count = self.nrow if self._preview.rows else self.n_samples
            self._inputs = self._preview.preview_inputs(
                module, trainer.datamodule, count, self.seed
            )

    def on_train_batch_end(
        self, trainer: pl.Trainer, module: AdversarialModule, *args: Any
    ) -> None:
        step = module.run_step
        if step != self._last_step and step % self.every_n_steps == 0:
            self.save_grid(trainer, module)

    def on_train_end(self, trainer: pl.Trainer, module: AdversarialModule) -> None:
        if module.run_step != self._last_step:
            self.save_grid(trainer, module)

    def save_grid(self, trainer: pl.Trainer, module: AdversarialModule) -> None:
        self._last_step = step = module.run_step
        if not trainer.is_global_zero or self._preview is None:
            return
        was_training = module.training
        try:
            rows = self._preview.preview(module, self._inputs)
        finally:
            module.train(was_training)
        pixels = grid_pixels(preview_grid(rows, self.nrow))
        self.dirpath.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(self.dirpath / f"step_{step:07d}.png")
        caption = f"run step {step}: " + " | ".join(rows)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image(
                    "samples", images=[pixels], step=trainer.global_step, caption=[caption]
                )
            elif isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image(
                    "samples", pixels, global_step=trainer.global_step, dataformats="HWC"
                )
