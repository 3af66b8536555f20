"""Judges a data module offers for generated images, beyond FID: ``ImageDataModule.judges``
names them. The generation evaluation runs each judge's ``score_samples`` on the samples
(``Generation``); a judge that reads classes (``read_classes``) also scores class-conditional
generators and reconstructions (``ganlab.evaluation.readings``).

The registry keys are judge names, not data sets: any data whose images a judge can read
may offer it.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from ganlab.errors import ConfigError
from ganlab.metrics.digits import class_probabilities, digits_scores

Scores = tuple[dict[str, float], dict[str, Any]]


@dataclass(frozen=True)
class Judge:
    """``score_samples(images, datamodule)`` -> (metrics, protocol); ``read_classes(images)``
    -> (B, n_classes) class probabilities, for a judge that reads classes."""

    description: str
    score_samples: Callable[[Tensor, Any], Scores]
    read_classes: Callable[[Tensor], Tensor] | None = None
    n_classes: int = 0


def digits_classifier_scores(images: Tensor, datamodule: Any) -> Scores:
    """The digits classifier's scores of the samples, next to those of the real val split."""
    metrics = digits_scores(images)
    real_val = datamodule.split_dataset("val").images
    metrics.update({f"{name}_real_val": value for name, value in digits_scores(real_val).items()})
    protocol = {
        "digits_score": {
            "classifier": DIGITS_CLASSIFIER.description,
            "reference": f"{datamodule.name} val split ({len(real_val)} images)",
        }
    }
    return metrics, protocol


DIGITS_CLASSIFIER = Judge(
    "the digits classifier (logistic regression on the 1,797 sklearn digit scans, 8x8 avg-pool)",
    digits_classifier_scores,
    read_classes=class_probabilities,
    n_classes=10,
)
JUDGES: dict[str, Judge] = {"digits_classifier": DIGITS_CLASSIFIER}


def offered_judges(datamodule: Any) -> list[Judge]:
    """The judges the data module names, in its order."""
    judges = []
    for name in getattr(datamodule, "judges", ()):
        if name not in JUDGES:
            raise ConfigError(
                f"{type(datamodule).__name__} offers judge {name!r}, which ganlab does not "
                f"have; judges: {', '.join(JUDGES)}"
            )
        judges.append(JUDGES[name])
    return judges


def class_reader(datamodule: Any) -> Judge | None:
    """The first judge the data offers that reads classes; None when it offers none."""
    return next((j for j in offered_judges(datamodule) if j.read_classes is not None), None)


def judge_samples(images: Tensor, datamodule: Any) -> Scores:
    """Every judge the data module offers, run on the samples."""
    metrics: dict[str, float] = {}
    protocol: dict[str, Any] = {}
    for judge in offered_judges(datamodule):
        scores, details = judge.score_samples(images, datamodule)
        metrics.update(scores)
        protocol.update(details)
    return metrics, protocol
