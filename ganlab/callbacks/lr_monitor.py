"""Learning rates logged at the optimizer step every other value of the run is logged at.

Lightning's LearningRateMonitor logs at its count of batches, while the losses, the
evaluations and the final metrics are logged at ``trainer.global_step`` (optimizer steps:
two per batch for a GAN that steps D and G). In W&B the two counts shared one
``trainer/global_step`` axis and the learning rates ran at half the speed of the losses.
"""

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import LearningRateMonitor


class RunLRMonitor(LearningRateMonitor):
    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        if trainer._logger_connector.should_update_logs and self.logging_interval != "epoch":
            self._log_stats(trainer, "step" if self.logging_interval is None else "any")

    def on_train_epoch_start(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        if self.logging_interval != "step":
            self._log_stats(trainer, "epoch" if self.logging_interval is None else "any")

    def _log_stats(self, trainer: pl.Trainer, interval: str) -> None:
        stats = self._extract_stats(trainer, interval)
        for logger in trainer.loggers if stats else []:
            logger.log_metrics(stats, step=trainer.global_step)
