"""ModelCheckpoint whose ``last.ckpt`` always holds the final state of a run.

Lightning 2.6 writes ``last.ckpt`` at the end of training only if no ``last.ckpt`` was
written earlier in the run, so after a periodic save at step N the file stays at step N
and a resume would silently repeat the steps after it.
"""

from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint


class RunCheckpoint(ModelCheckpoint):
    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.save_last and self.dirpath is not None:
            last = Path(self.dirpath) / f"{self.CHECKPOINT_NAME_LAST}{self.FILE_EXTENSION}"
            trainer.save_checkpoint(last)
