"""What the benchmarks share: a bare Trainer (no progress bar, checkpoints, loggers or
validation) whose training loop is timed from its first batch to its last, and the peak
memory of a command run in a fresh process."""

import sys
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


# run one command and print the largest peak resident set among the processes it waited on
_PEAK_OF_CHILD = (
    "import resource, subprocess, sys; "
    "done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
    "sys.stderr.write(done.stdout[-2000:] + done.stderr[-3000:] if done.returncode else ''); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024); "
    "sys.exit(done.returncode)"
)


def with_peak_memory(command: list[str]) -> list[str]:
    """``command`` wrapped so that the last line it prints is the peak RSS in bytes of its
    largest process (a fresh wrapper process: nothing else is counted); a failing command's
    output tail goes to stderr."""
    return [sys.executable, "-c", _PEAK_OF_CHILD, *command]
