"""Callbacks that stop a training process on cue, for the interruption tests (they are named
by ``_target_`` on the command line of a ``python -m ganlab.run`` subprocess)."""

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from ganlab.callbacks.checkpoint import RunCheckpoint
from ganlab.checkpoints import PARTIAL_SUFFIX


class SignalAtStep(pl.Callback):
    """The process sends itself ``signal_name`` while the batch that completes run step
    ``step`` is in flight (as a user's Ctrl-C would arrive)."""

    def __init__(self, signal_name: str, step: int):
        self.number, self.step = signal.Signals[signal_name], step

    def on_train_batch_start(self, trainer: pl.Trainer, module: Any, *args: Any) -> None:
        if module.run_step == self.step - 1:
            os.kill(os.getpid(), self.number)


class CutShortCheckpoint(RunCheckpoint):
    """Writes its ``cut_at``-th ``last.ckpt`` only half, says so in ``marker`` and waits to be
    killed there: a process killed while saving."""

    def __init__(self, *args: Any, marker: str, cut_at: int = 2, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.marker, self.cut_at, self.lasts = Path(marker), cut_at, 0

    def write(self, trainer: pl.Trainer, path: Path) -> None:
        if path.name == "last.ckpt":
            self.lasts += 1
            if self.lasts == self.cut_at and not self.marker.exists():
                partial = path.with_name(path.name + PARTIAL_SUFFIX)
                trainer.save_checkpoint(partial)
                partial.write_bytes(partial.read_bytes()[: partial.stat().st_size // 2])
                self.marker.write_text(str(trainer.global_step))
                time.sleep(600)
        super().write(trainer, path)
