"""Preemption and time limits: checkpoint in the run's own dir, requeue, resume.

A scheduler warns a job before it stops it: submitit's launcher asks SLURM for SIGUSR2
``signal_delay_s`` before the time limit, Lightning's convention (and ``slurm/*.sbatch``)
is SIGUSR1. ganlab handles both the same way:

1. the signal only sets a flag (:class:`PreemptionSignals`; the handler runs between two
   Python bytecodes, possibly inside an optimizer step, so it saves nothing itself);
2. after the batch in flight (with several processes, after the next multiple of
   ``preemption.every_n_batches``, where they compare flags), the trainer writes
   ``<run dir>/checkpoints/preempted.ckpt`` and stops (:class:`PreemptionCheckpoint`);
3. ``ganlab.run`` then marks the W&B run as preempted, requeues the SLURM job (through
   submitit's own handler for a submitit job, so its timeout count stays right; with
   ``scontrol requeue`` otherwise) and exits with :data:`EXIT_PREEMPTED`;
4. the restarted job finds the checkpoint in its own run dir (the same dir: a submitit
   job re-runs with its resolved sweep dir, an sbatch job keys its dir on the job id) and
   resumes from it, logging to the same W&B run id.
"""

import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytorch_lightning as pl

PREEMPTED_CHECKPOINT = "preempted.ckpt"
EXIT_PREEMPTED = 3  # the job stopped early on purpose; its run dir resumes


def signal_number(name: str) -> signal.Signals:
    """``"SIGUSR1"``, ``"USR1"`` or ``"10"`` -> ``signal.SIGUSR1``."""
    text = str(name).upper()
    if text.isdigit():
        return signal.Signals(int(text))
    try:
        return signal.Signals[text if text.startswith("SIG") else f"SIG{text}"]
    except KeyError:
        raise ValueError(f"preemption.signals: {name!r} is not a signal name") from None


class PreemptionSignals:
    """While active (``with``), the given signals set :attr:`received` instead of their
    usual action; the handlers installed before (submitit's) are kept for :meth:`requeue`."""

    def __init__(self, names: list[str]):
        self.signals = [signal_number(name) for name in names]
        self.received: signal.Signals | None = None
        self._previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> "PreemptionSignals":
        for number in self.signals:
            self._previous[number] = signal.signal(number, self._note)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def _note(self, signum: int, frame: FrameType | None) -> None:
        self.received = signal.Signals(signum)

    def requeue(self, is_rank_zero: bool) -> str:
        """Put this SLURM job back in the queue; returns what was done, for the log.

        A submitit job is requeued by submitit's handler for the received signal (it
        re-pickles the job and counts timeouts; it exits the process on rank 0)."""
        assert self.received is not None, "requeue() without a preemption signal"
        previous = self._previous.get(self.received)
        if callable(previous):
            previous(self.received, None)  # submitit: requeues, then sys.exit on rank 0
            return f"handed {self.received.name} to the previous handler"
        job_id = slurm_job_id()
        if job_id is None:
            return "not a SLURM job: rerun the same command with the same run dir to resume"
        if not is_rank_zero:
            return f"rank 0 requeues SLURM job {job_id}"
        subprocess.run(["scontrol", "requeue", job_id], check=True, timeout=60)
        return f"requeued SLURM job {job_id}"


def slurm_job_id() -> str | None:
    """This job's id as ``scontrol`` names it (``<array job>_<task>`` for array tasks)."""
    array_job, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array_job and task:
        return f"{array_job}_{task}"
    return os.environ.get("SLURM_JOB_ID")


class PreemptionCheckpoint(pl.Callback):
    """After each batch (with several processes: every ``every_n_batches``-th, where all of
    them compare flags), if a preemption signal arrived, save ``path`` and stop."""

    def __init__(self, signals: PreemptionSignals, path: Path, every_n_batches: int = 10):
        self.signals, self.path, self.every_n_batches = signals, Path(path), every_n_batches
        self.saved_at_step: int | None = None
        self._batches = 0

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        self._batches += 1
        if self.saved_at_step is not None or not self._any_process_signalled(trainer):
            return
        save_atomically(trainer, self.path)
        self.saved_at_step = trainer.global_step
        trainer.should_stop = True

    def _any_process_signalled(self, trainer: pl.Trainer) -> bool:
        signalled = self.signals.received is not None
        if trainer.world_size == 1:
            return signalled
        # the comparison is a collective (~30% of a DCGAN step on 2 CPU processes), so the
        # processes make it together after every n-th batch, which each of them counts
        if self._batches % self.every_n_batches:
            return False
        return trainer.strategy.reduce_boolean_decision(signalled, all=False)


def save_atomically(trainer: pl.Trainer, path: Path) -> None:
    """``trainer.save_checkpoint`` to a temporary name, renamed once complete (a kill during
    the write leaves the previous checkpoint intact)."""
    partial = path.with_name(path.name + ".partial")
    trainer.save_checkpoint(partial)
    if trainer.is_global_zero:
        os.replace(partial, path)
    trainer.strategy.barrier("ganlab.preemption.save")


def resumable_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint a restarted job resumes from, None when the run dir holds no
    interrupted run: a run with ``metrics.json`` finished, and a run dir without
    ``preempted.ckpt`` resumes only in a requeued SLURM job (``SLURM_RESTART_COUNT`` > 0,
    e.g. after a node failure). Of ``preempted.ckpt`` and ``last.ckpt`` the newer is taken
    (a resumed run may have been killed later without warning)."""
    if (run_dir / "metrics.json").exists():
        return None
    preempted = run_dir / "checkpoints" / PREEMPTED_CHECKPOINT
    requeued = int(os.environ.get("SLURM_RESTART_COUNT") or 0) > 0
    if not (preempted.exists() or requeued):
        return None
    candidates = [preempted, run_dir / "checkpoints" / "last.ckpt"]
    existing = [path for path in candidates if path.exists()]
    return max(existing, key=lambda path: path.stat().st_mtime_ns, default=None)


def mark_wandb_preempting(loggers: list[Any]) -> None:
    """Tell W&B the run stops to be resumed (shown as "preempted", not "crashed")."""
    for logger in loggers:
        if isinstance(logger, pl.loggers.WandbLogger) and logger._experiment is not None:
            mark: Callable[[], None] | None = getattr(logger.experiment, "mark_preempting", None)
            if mark is not None:
                mark()
