"""What a method declares it needs evaluated -> metrics.json (imports no method)."""

from ganlab.evaluation.declarations import (
    AttributeTranslation,
    Evaluation,
    Generation,
    Reconstruction,
    Reconstructs,
    SamplesNoise,
    Translates,
    TranslatesAttributes,
    Translation,
)
from ganlab.evaluation.report import evaluate, needed_tools, write_metrics
from ganlab.evaluation.tools import Budget, Tools, build_tools

__all__ = [
    "AttributeTranslation",
    "Budget",
    "Evaluation",
    "Generation",
    "Reconstruction",
    "Reconstructs",
    "SamplesNoise",
    "Tools",
    "Translates",
    "TranslatesAttributes",
    "Translation",
    "build_tools",
    "evaluate",
    "needed_tools",
    "write_metrics",
]
