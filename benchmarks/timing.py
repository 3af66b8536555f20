"""What the training-step benchmarks share: a bare Trainer (no progress bar, checkpoints,
loggers or validation) whose training loop is timed from its first batch to its last."""

import time
from typing import Any

import pytorch_lightning as pl


class LoopTimer(pl.Callback):
    """Times the training loop itself (first batch to last), not Trainer set-up."""

    def on_train_start(self, trainer, module) -> None:
        self.start = time.perf_counter()

    def on_train_end(self, trainer, module) -> None:
        self.seconds = time.perf_counter() - self.start


def timed_fit(
    module: pl.LightningModule, train_loader, max_steps: int, **trainer_options: Any
) -> float:
    """Seconds the training loop of ``module`` takes for ``max_steps`` optimizer steps;
    ``trainer_options`` go to the Trainer (e.g. ``precision="bf16-mixed"``)."""
    timer = LoopTimer()
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=max_steps,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        callbacks=[timer],
        **trainer_options,
    )
    trainer.fit(module, train_dataloaders=train_loader)
    return timer.seconds
