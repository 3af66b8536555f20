"""What a method declares it needs evaluated -> metrics.json (imports no method)."""

from ganlab.evaluation.declarations import (
    Evaluation,
    Generation,
    Reconstruction,
    Reconstructs,
    SamplesNoise,
    Translates,
    Translation,
)
from ganlab.evaluation.report import evaluate, needed_tools, write_metrics
from ganlab.evaluation.tools import Budget, Tools, build_tools

__all__ = [
    "Budget",
    "Evaluation",
    "Generation",
    "Reconstruction",
    "Reconstructs",
    "SamplesNoise",
    "Tools",
    "Translates",
    "Translation",
    "build_tools",
    "evaluate",
    "needed_tools",
    "write_metrics",
]
