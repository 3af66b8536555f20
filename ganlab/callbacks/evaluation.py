"""Periodic evaluation: FID/KID of the EMA generator every N generator steps.

Each evaluation is logged to the run's loggers as ``eval/<metric>`` and appended to
``<run>/evaluations.jsonl`` (so curves exist without any logger; ``ganlab.compare`` plots
them). The run attaches its :class:`~ganlab.metrics.evaluation.Evaluator` (built before
training, so missing weights stop the run at once); real-image features come from the
stats cache.
"""

import json
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from ganlab.methods.base import AdversarialModule
from ganlab.metrics.evaluation import Evaluator


class PeriodicEvaluation(pl.Callback):
    """Score every ``every_n_steps`` generator steps; with ``at_start`` also before the first
    step of a fresh run (the untrained generator: the baseline a curve is read against)."""

    def __init__(
        self,
        path: str,
        every_n_steps: int = 500,
        n_samples: int = 500,
        seed: int = 0,
        at_start: bool = False,
    ):
        if every_n_steps < 1 or n_samples < 2:
            raise ValueError("PeriodicEvaluation needs every_n_steps >= 1 and n_samples >= 2")
        self.path = Path(path)
        self.every_n_steps, self.n_samples, self.seed = every_n_steps, n_samples, seed
        self.at_start = at_start
        self.evaluator: Evaluator | None = None
        self._last_step = 0

    def on_fit_start(self, trainer: pl.Trainer, module: AdversarialModule) -> None:
        if self.evaluator is None and module.generates_images:
            raise RuntimeError("PeriodicEvaluation needs an Evaluator attached before fit")
        self._last_step = module.generator_step

    def on_train_start(self, trainer: pl.Trainer, module: AdversarialModule) -> None:
        if self.at_start and self.evaluator is not None and module.generator_step == 0:
            self._evaluate(trainer, module, 0)

    def on_train_batch_end(
        self, trainer: pl.Trainer, module: AdversarialModule, *args: Any
    ) -> None:
        step = module.generator_step
        if self.evaluator is None or step == self._last_step or step % self.every_n_steps:
            return
        self._last_step = step
        self._evaluate(trainer, module, step)

    def _evaluate(self, trainer: pl.Trainer, module: AdversarialModule, step: int) -> None:
        if not trainer.is_global_zero:
            return
        was_training = module.training
        metrics, _ = self.evaluator.score_generator(module, self.n_samples, self.seed)
        module.train(was_training)
        for logger in trainer.loggers:
            logger.log_metrics(
                {f"eval/{k}": v for k, v in metrics.items()} | {"generator_step": step},
                step=trainer.global_step,
            )
        record = {"generator_step": step, "global_step": trainer.global_step, "metrics": metrics}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as handle:
            handle.write(json.dumps(record) + "\n")
