"""The evaluation of a run: the method's declared evaluations (``module.evaluations()``)
with the tools they need, built once (:class:`EvaluationPlan`) and handed to the final
report (metrics.json, assembled here), the periodic evaluation and the sample grid. Nothing
here knows a method or a data set by name.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from ganlab.evaluation.declarations import Evaluation
from ganlab.evaluation.tools import Budget, Tools


@dataclass(frozen=True)
class EvaluationPlan:
    """What a run scores (``declared``, in the method's order) and the instruments it
    scores with (``tools``, built before training so that missing weights stop it at once)."""

    declared: tuple[Evaluation, ...]
    tools: Tools

    @property
    def periodic(self) -> tuple[Evaluation, ...]:
        """The evaluations the training curve also scores."""
        return tuple(declared for declared in self.declared if declared.periodic)

    @property
    def preview(self) -> Evaluation | None:
        """The first evaluation that draws a preview: what the sample grid shows."""
        return next((declared for declared in self.declared if declared.previews), None)

    def evaluate(
        self, module: nn.Module, datamodule: Any, budget: Budget, final: bool = True
    ) -> dict[str, Any]:
        """``{"metrics": {...}, "protocol": {...}}`` of every declared evaluation (``final``)
        or of the periodic ones; the module's train/eval mode is restored after."""
        was_training = module.training
        self.tools.to(module.device)
        metrics: dict[str, Any] = {}
        protocol: dict[str, Any] = {}
        try:
            for declared in self.declared if final else self.periodic:
                scores, described = declared.score(module, datamodule, self.tools, budget)
                metrics.update(scores)
                protocol.update(described)
        finally:
            module.train(was_training)
        return {"metrics": metrics, "protocol": protocol}


def needed_tools(declared: tuple[Evaluation, ...]) -> set[str]:
    return {need for evaluation in declared for need in evaluation.needs}


def metrics_report(header: dict[str, Any], evaluated: dict[str, Any]) -> dict[str, Any]:
    """metrics.json's content: what the task says of the run (``header``: task, steps,
    timings) followed by the evaluation's metrics and protocol."""
    overlap = set(header) & set(evaluated)
    if overlap:
        raise ValueError(f"the run's header repeats the evaluation's keys {sorted(overlap)}")
    return {**header, **evaluated}


def write_metrics(path: Path, report: dict[str, Any]) -> None:
    path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
