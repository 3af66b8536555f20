"""The evaluation report a run writes to ``metrics.json``: each figure with its protocol.

``evaluate`` runs the method's declared evaluations (``module.evaluations()``) and its own
``extra_metrics``; nothing here knows a method or a data set by name.
"""

import json
from pathlib import Path
from typing import Any

from torch import nn

from ganlab.evaluation.tools import Budget, Tools


def evaluate(
    module: nn.Module, datamodule: Any, budget: Budget, tools: Tools, extra: bool = True
) -> dict[str, Any]:
    """``{"metrics": {...}, "protocol": {...}}`` of the module's declared evaluations (and,
    with ``extra``, of its ``extra_metrics``)."""
    was_training = module.training
    tools.to(module.device)
    try:
        own = module.extra_metrics(datamodule, budget.n, budget.seed) if extra else {}
        metrics: dict[str, Any] = dict(own.get("metrics", {}))
        protocol: dict[str, Any] = dict(own.get("protocol", {}))
        for declared in module.evaluations():
            scores, described = declared.score(module, datamodule, tools, budget)
            metrics.update(scores)
            protocol.update(described)
    finally:
        module.train(was_training)
    return {"metrics": metrics, "protocol": protocol}


def needed_tools(module: nn.Module) -> set[str]:
    return {need for declared in module.evaluations() for need in declared.needs}


def write_metrics(path: Path, report: dict[str, Any]) -> None:
    path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
