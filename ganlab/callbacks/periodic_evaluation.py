"""Periodic evaluation: the method's declared evaluations every N run steps.

Generation: FID/KID of the EMA generator's samples; reconstruction: PSNR/SSIM/LPIPS/... of
the evaluation split's images; translation: FID per direction. Each evaluation is logged to
the run's loggers as ``eval/<metric>`` and appended to ``<run>/evaluations.jsonl`` (so curves
exist without any logger; ``ganlab.compare`` plots them). The run attaches its
:class:`~ganlab.evaluation.EvaluationPlan` (built before training, so missing weights stop
the run at once), whose periodic evaluations are scored; real-image features come from the
stats cache.
"""

import json
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from ganlab.evaluation import Budget, EvaluationPlan
from ganlab.methods.base import AdversarialModule


class PeriodicEvaluation(pl.Callback):
    """Score every ``every_n_steps`` run steps; with ``at_start`` also before the first step of
    a fresh run (the untrained nets: the baseline a curve is read against). ``n_samples``
    images are scored (samples, or inputs of ``split``; null: the data's held-out split).
    ``last_step``: the run's last step, which the run's final evaluation scores; a periodic
    evaluation less than half a period before it is left to that one (the main job's 600
    steps: none at 500; 1,000 steps: at 500 and 1,000)."""

    def __init__(
        self,
        path: str,
        every_n_steps: int = 500,
        n_samples: int = 500,
        seed: int = 0,
        at_start: bool = False,
        split: str | None = None,
        last_step: int | None = None,
    ):
        if every_n_steps < 1 or n_samples < 2:
            raise ValueError("PeriodicEvaluation needs every_n_steps >= 1 and n_samples >= 2")
        self.path = Path(path)
        self.every_n_steps, self.at_start, self.last_step = every_n_steps, at_start, last_step
        self.n_samples, self.seed, self.split = n_samples, seed, split
        self.evaluation: EvaluationPlan | None = None  # attached by the run
        self._last_step = 0

    def on_fit_start(self, trainer: pl.Trainer, module: AdversarialModule) -> None:
        if self.evaluation is None:
            raise RuntimeError("PeriodicEvaluation needs its EvaluationPlan attached before fit")
        self._last_step = module.run_step

    def on_train_start(self, trainer: pl.Trainer, module: AdversarialModule) -> None:
        if self.at_start and module.run_step == 0:
            self._evaluate(trainer, module, 0)

    def on_train_batch_end(
        self, trainer: pl.Trainer, module: AdversarialModule, *args: Any
    ) -> None:
        step = module.run_step
        if step == self._last_step or step % self.every_n_steps or self.left_to_the_end(step):
            return
        self._last_step = step
        self._evaluate(trainer, module, step)

    def left_to_the_end(self, step: int) -> bool:
        """Whether the final evaluation comes after ``step`` but less than half a period
        after it (the last step itself is scored: the curve's end)."""
        if self.last_step is None:
            return False
        return 0 < 2 * (self.last_step - step) < self.every_n_steps

    def _evaluate(self, trainer: pl.Trainer, module: AdversarialModule, step: int) -> None:
        if not trainer.is_global_zero or not self.evaluation.periodic:
            return
        data = trainer.datamodule
        budget = Budget(self.n_samples, self.seed, self.split or data.val_split)
        report = self.evaluation.evaluate(module, data, budget, final=False)
        metrics = report["metrics"]
        for logger in trainer.loggers:
            logger.log_metrics(
                {f"eval/{k}": v for k, v in metrics.items()} | {"run_step": step},
                step=trainer.global_step,
            )
        record = {"run_step": step, "global_step": trainer.global_step, "metrics": metrics}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as handle:
            handle.write(json.dumps(record) + "\n")
