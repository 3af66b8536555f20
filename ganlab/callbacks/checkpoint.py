"""ModelCheckpoint whose files are written atomically and whose ``last.ckpt`` always holds
the final state of a run.

Every checkpoint is written to ``<name>.partial`` and renamed once complete, so a process
killed while saving (``kill -9``, a power cut) leaves the previous ``last.ckpt`` intact; a
rerun in the same run dir resumes from it and loses at most ``every_n_train_steps`` steps.
Lightning 2.6 writes ``last.ckpt`` at the end of training only if no ``last.ckpt`` was
written earlier in the run, so after a periodic save at step N the file would stay at step
N and a resume would silently repeat the steps after it.
"""

from pathlib import Path
from weakref import proxy

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint

from ganlab.checkpoints import save_atomically


class RunCheckpoint(ModelCheckpoint):
    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.save_last and self.dirpath is not None:
            last = Path(self.dirpath) / f"{self.CHECKPOINT_NAME_LAST}{self.FILE_EXTENSION}"
            self.write(trainer, last)

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        """Lightning's, with the write made atomic."""
        self.write(trainer, Path(filepath))
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.after_save_checkpoint(proxy(self))

    def write(self, trainer: pl.Trainer, path: Path) -> None:
        save_atomically(trainer, path, self.save_weights_only)
