"""What a method declares it needs evaluated -> metrics.json (imports no method)."""

from ganlab.evaluation.declarations import (
    AttributeTranslation,
    Evaluation,
    FinalFigures,
    Generation,
    Notes,
    Reconstruction,
    Reconstructs,
    SamplesNoise,
    Translates,
    TranslatesAttributes,
    Translation,
)
from ganlab.evaluation.instruments import (
    DivergenceBound,
    HeadAccuracy,
    Segmentation,
    ValidationLosses,
)
from ganlab.evaluation.readings import (
    AttributeSwap,
    ClassAccuracy,
    DomainClassification,
    LabelAgreement,
)
from ganlab.evaluation.report import EvaluationPlan, metrics_report, needed_tools, write_metrics
from ganlab.evaluation.tools import Budget, Tools, build_tools

__all__ = [
    "AttributeSwap",
    "ClassAccuracy",
    "DivergenceBound",
    "DomainClassification",
    "HeadAccuracy",
    "LabelAgreement",
    "Segmentation",
    "ValidationLosses",
    "AttributeTranslation",
    "Budget",
    "Evaluation",
    "EvaluationPlan",
    "FinalFigures",
    "Generation",
    "Notes",
    "Reconstruction",
    "Reconstructs",
    "SamplesNoise",
    "Tools",
    "Translates",
    "TranslatesAttributes",
    "Translation",
    "build_tools",
    "metrics_report",
    "needed_tools",
    "write_metrics",
]
