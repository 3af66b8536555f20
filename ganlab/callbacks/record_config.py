"""Stores the run's resolved config in every checkpoint it writes."""

from typing import Any

import pytorch_lightning as pl


class RecordConfig(pl.Callback):
    """Stores the resolved config in each checkpoint, so task=eval needs only ckpt_path."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    def on_save_checkpoint(
        self, trainer: pl.Trainer, module: pl.LightningModule, checkpoint: dict
    ) -> None:
        checkpoint.setdefault("ganlab", {})["config"] = self.config
