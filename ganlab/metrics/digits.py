"""A digits classifier as a measuring instrument for generated digits.

A logistic regression fitted on all 1,797 real 8x8 scans (scikit-learn, ~97% accurate)
classifies images average-pooled back to 8x8. Reported:

- ``digits_confidence``: mean top-class probability (recognisable digits score high);
- ``digits_score``: exp(E_x KL(p(y|x) || p(y))), the Inception Score with this classifier
  in place of Inception (Salimans et al. 2016, Sec. 4); at most 10;
- ``digits_classes_covered``: classes that receive at least 5% of the predictions (mode drop).

``class_probabilities`` is also the judge's class reader (``ganlab.evaluation.judges``), which
scores class-conditional generators (``ganlab.metrics.class_reading``).
"""

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from torch import Tensor


@lru_cache(maxsize=1)
def digits_classifier() -> LogisticRegression:
    """Fitted on scikit-learn's 1,797 8x8 scans (values 0-16), as they come."""
    scans = load_digits()
    features = scans.images.astype(np.float32).reshape(len(scans.images), -1) / 16.0
    return LogisticRegression(max_iter=2000).fit(features, scans.target)


def class_probabilities(images: Tensor) -> Tensor:
    """(B, 1 or 3, H, W) images in [-1, 1] -> (B, 10) class probabilities."""
    grey = images.float().cpu().mean(1, keepdim=True)
    scans01 = (F.adaptive_avg_pool2d(grey, 8).clamp(-1, 1) + 1.0) / 2.0
    probs = digits_classifier().predict_proba(scans01.flatten(1).numpy())
    return torch.as_tensor(probs, dtype=torch.float64)


def digits_scores(images: Tensor) -> dict[str, float]:
    probs = class_probabilities(images)
    marginal = probs.mean(0, keepdim=True)
    kl = (probs * (probs.clamp_min(1e-12).log() - marginal.clamp_min(1e-12).log())).sum(1)
    share = torch.bincount(probs.argmax(1), minlength=10).double() / len(probs)
    return {
        "digits_confidence": probs.max(1).values.mean().item(),
        "digits_score": kl.mean().exp().item(),
        "digits_classes_covered": int((share >= 0.05).sum()),
    }
