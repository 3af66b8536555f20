"""Judges a data module offers for generated images, beyond FID: ``ImageDataModule.judges``
names them, and the generation evaluation runs each on the samples (``Generation``).

A judge maps (samples, data module) to (metrics, protocol). The registry keys are judge
names, not data sets: any data whose images a judge can read may offer it.
"""

from collections.abc import Callable
from typing import Any

from torch import Tensor

from ganlab.errors import ConfigError
from ganlab.metrics.digits import digits_scores

Scores = tuple[dict[str, float], dict[str, Any]]


def digits_classifier_judge(images: Tensor, datamodule: Any) -> Scores:
    """The digits classifier's scores of the samples, next to those of the real val split."""
    metrics = digits_scores(images)
    real_val = datamodule.split_dataset("val").images
    metrics.update({f"{name}_real_val": value for name, value in digits_scores(real_val).items()})
    protocol = {
        "digits_score": {
            "classifier": "logistic regression on the 1,797 sklearn digit scans, 8x8 avg-pool",
            "reference": f"digits val split ({len(real_val)} images)",
        }
    }
    return metrics, protocol


JUDGES: dict[str, Callable[[Tensor, Any], Scores]] = {"digits_classifier": digits_classifier_judge}


def judge_samples(images: Tensor, datamodule: Any) -> Scores:
    """Every judge the data module offers, run on the samples."""
    metrics: dict[str, float] = {}
    protocol: dict[str, Any] = {}
    for name in getattr(datamodule, "judges", ()):
        if name not in JUDGES:
            raise ConfigError(
                f"{type(datamodule).__name__} offers judge {name!r}, which ganlab does not "
                f"have; judges: {', '.join(JUDGES)}"
            )
        scores, details = JUDGES[name](images, datamodule)
        metrics.update(scores)
        protocol.update(details)
    return metrics, protocol
