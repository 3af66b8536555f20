"""Sample grids: the EMA generator on a fixed latent batch, every N generator steps.

Each grid is saved as ``<run>/samples/step_<generator step>.png`` and sent to every active
logger that shows images (W&B, TensorBoard). The latent batch is drawn once from its own
seeded generator, so grids of one run (and of a resumed run) are comparable.
"""

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger
from torch import Tensor
from torchvision.utils import make_grid, save_image

from ganlab.methods.base import AdversarialModule


class SampleGrid(pl.Callback):
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
        self._latent: Tensor | None = None
        self._last_step = -1

    def on_fit_start(self, trainer: pl.Trainer, module: AdversarialModule) -> None:
        self._latent = module.sample_latent(
            self.n_samples, torch.Generator().manual_seed(self.seed)
        )

    def on_train_batch_end(
        self, trainer: pl.Trainer, module: AdversarialModule, *args: Any
    ) -> None:
        step = module.generator_step
        if step != self._last_step and step % self.every_n_steps == 0:
            self.save_grid(trainer, module)

    def on_train_end(self, trainer: pl.Trainer, module: AdversarialModule) -> None:
        if module.generator_step != self._last_step:
            self.save_grid(trainer, module)

    def save_grid(self, trainer: pl.Trainer, module: AdversarialModule) -> None:
        self._last_step = step = module.generator_step
        if not trainer.is_global_zero:
            return
        images = module.sample(latent=self._latent).float().cpu()
        grid = make_grid(images, nrow=self.nrow, normalize=True, value_range=(-1, 1))
        self.dirpath.mkdir(parents=True, exist_ok=True)
        save_image(grid, self.dirpath / f"step_{step:07d}.png")
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image(
                    "samples",
                    images=[grid],
                    step=trainer.global_step,
                    caption=[f"generator step {step}"],
                )
            elif isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image("samples", grid, global_step=trainer.global_step)
