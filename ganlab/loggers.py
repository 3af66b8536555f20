"""Experiment loggers built from the ``logger/`` config group.

W&B runs online only when an API key is configured (``WANDB_API_KEY`` or a ``api.wandb.ai``
entry in ~/.netrc) and ``mode: auto``; otherwise they are written offline under the run dir
and can be uploaded later with ``wandb sync <run>/wandb/offline-run-*``.
"""

import csv
import netrc
import os
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import CSVLogger, WandbLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.loggers.logger import rank_zero_experiment

WANDB_MODES = ("auto", "online", "offline")


def wandb_api_key_configured() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def wandb_logger(
    save_dir: str,
    project: str = "ganlab",
    mode: str = "auto",
    name: str | None = None,
    group: str | None = None,
    job_type: str | None = None,
    tags: list[str] | None = None,
    entity: str | None = None,
    run_id: str | None = None,
    run_config: dict[str, Any] | None = None,
) -> WandbLogger:
    """A WandbLogger; ``run_id`` continues an earlier run (resume) under the same id."""
    if mode not in WANDB_MODES:
        raise ValueError(f"logger.mode must be one of {', '.join(WANDB_MODES)}, got {mode!r}")
    offline = mode == "offline" or (mode == "auto" and not wandb_api_key_configured())
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    return WandbLogger(
        save_dir=save_dir,
        project=project,
        name=name,
        offline=offline,
        id=run_id,
        resume="allow" if run_id else None,
        group=group,
        job_type=job_type,
        tags=list(tags or []),
        entity=entity,
        config=run_config,
    )


class ContinuingExperimentWriter(ExperimentWriter):
    """Lightning's CSV writer, except that an existing ``metrics.csv`` (the same run started
    again after a preemption) is continued instead of deleted."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                self.metrics_keys = list(csv.DictReader(file).fieldnames or [])


class RunCSVLogger(CSVLogger):
    """``<run dir>/logs/metrics.csv``; a run resumed in its own dir appends to it."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ContinuingExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = ContinuingExperimentWriter(log_dir=self.log_dir)
        return self._experiment
