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

An interruption (Ctrl-C's SIGINT; SIGTERM, which a shutdown or a scheduler without a warning
signal sends) is noted the same way, but the run saves ``interrupted.ckpt``, requeues
nothing and exits with 128 + the signal's number (130, 143), as a shell reports a process
ended by that signal. A second interruption ends the process at once. Rerunning the same
command with ``hydra.run.dir=<run dir>`` resumes an interrupted run, and a run killed
without a warning (``kill -9``, a power cut) from its ``last.ckpt``.
"""

import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytorch_lightning as pl

from ganlab.checkpoints import save_atomically

PREEMPTED_CHECKPOINT = "preempted.ckpt"
INTERRUPTED_CHECKPOINT = "interrupted.ckpt"
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


INTERRUPT_NOTICE = (
    "\nganlab: {name} received; saving after the batch in flight (again to stop at once)\n"
)


def exit_code_for(number: signal.Signals) -> int:
    """The exit code a shell shows for a process ended by signal ``number``."""
    return 128 + int(number)


class PreemptionSignals:
    """While active (``with``), the given signals set :attr:`received` (the first one that
    came) instead of their usual action; the handlers installed before (submitit's) are kept
    for :meth:`requeue`. An interruption signal arriving after any noted signal takes its
    default action at once: a second Ctrl-C stops a run that is saving or evaluating."""

    def __init__(self, names: list[str], interruptions: list[str] | tuple[str, ...] = ()):
        self.interruptions = [signal_number(name) for name in interruptions]
        self.signals = [signal_number(name) for name in names]
        self.received: signal.Signals | None = None
        self._previous: dict[signal.Signals, Any] = {}

    @property
    def interrupted(self) -> bool:
        """True when the noted signal asks to stop (interrupt), not to requeue (preempt)."""
        return self.received is not None and self.received in self.interruptions

    def __enter__(self) -> "PreemptionSignals":
        for number in [*self.signals, *self.interruptions]:
            self._previous[number] = signal.signal(number, self._note)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def take_back(self) -> None:
        """Handle the signals again after another handler replaced ours: Lightning's SIGTERM
        handler, installed when training starts, would end the run without a checkpoint."""
        for number in self._previous:
            signal.signal(number, self._note)

    def release_interruptions(self) -> None:
        """Training is over: from here on an interruption takes its usual action at once
        (Ctrl-C raises KeyboardInterrupt), as there is nothing left to save."""
        for number in self.interruptions:
            signal.signal(number, self._previous[number])

    def _note(self, signum: int, frame: FrameType | None) -> None:
        number = signal.Signals(signum)
        if self.received is None:
            self.received = number
            if number in self.interruptions:  # os.write: print is not safe in a handler
                os.write(2, INTERRUPT_NOTICE.format(name=number.name).encode())
        elif number in self.interruptions:
            signal.signal(number, signal.SIG_DFL)
            os.kill(os.getpid(), number)

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
    them compare flags), if a signal arrived, save ``preempted.ckpt`` (or, for an
    interruption, ``interrupted.ckpt``) in ``dirpath`` and stop."""

    def __init__(self, signals: PreemptionSignals, dirpath: Path, every_n_batches: int = 10):
        self.signals, self.dirpath, self.every_n_batches = signals, Path(dirpath), every_n_batches
        self.saved_at_step: int | None = None
        self.path: Path | None = None
        self._batches = 0

    def on_train_start(self, trainer: pl.Trainer, *args: Any) -> None:
        self.signals.take_back()  # Lightning set its own SIGTERM handler just before

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        self._batches += 1
        if self.saved_at_step is not None or not self._any_process_signalled(trainer):
            return
        name = INTERRUPTED_CHECKPOINT if self.signals.interrupted else PREEMPTED_CHECKPOINT
        self.path = self.dirpath / name
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


def resumable_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint a rerun in ``run_dir`` resumes from: the newest of ``preempted.ckpt``,
    ``interrupted.ckpt`` and ``last.ckpt`` (a resumed run may have been stopped again, or
    killed without warning after its last periodic save). None for a finished run (it has
    ``metrics.json``) and for a run dir without any of them."""
    if (run_dir / "metrics.json").exists():
        return None
    names = (PREEMPTED_CHECKPOINT, INTERRUPTED_CHECKPOINT, "last.ckpt")
    existing = [run_dir / "checkpoints" / name for name in names]
    existing = [path for path in existing if path.exists()]
    return max(existing, key=lambda path: path.stat().st_mtime_ns, default=None)


def mark_wandb_preempting(loggers: list[Any]) -> None:
    """Tell W&B the run stops to be resumed (shown as "preempted", not "crashed")."""
    for logger in loggers:
        if isinstance(logger, pl.loggers.WandbLogger) and logger._experiment is not None:
            mark: Callable[[], None] | None = getattr(logger.experiment, "mark_preempting", None)
            if mark is not None:
                mark()
