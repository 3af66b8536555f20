"""A digits classifier as a measuring instrument for generated digits.

A logistic regression fitted on all 1,797 real 8x8 scans (scikit-learn, ~97% accurate)
classifies images average-pooled back to 8x8. Reported:

- ``digits_confidence``: mean top-class probability (recognisable digits score high);
- ``digits_score``: exp(E_x KL(p(y|x) || p(y))), the Inception Score with this classifier
  in place of Inception (Salimans et al. 2016, Sec. 4); at most 10;
- ``digits_classes_covered``: classes that receive at least 5% of the predictions (mode drop).

A generator with a categorical code (a cGAN's class, an InfoGAN's or IB-GAN's code) is read
by ``code_confusion`` and scored by ``best_matching_accuracy``.
"""

from collections.abc import Callable
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
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


def code_confusion(images_of: Callable[[int], Tensor], n_codes: int) -> Tensor:
    """(n_codes, 10) counts: the digits classifier's reading of ``images_of(code)`` for each
    code (a cGAN's class, an InfoGAN's categorical code)."""
    rows = [class_probabilities(images_of(code)).argmax(1) for code in range(n_codes)]
    return torch.stack([torch.bincount(row, minlength=10) for row in rows]).double()


def best_matching_accuracy(confusion: np.ndarray) -> float:
    """Accuracy under the one-to-one code->class assignment that maximises it (Hungarian)."""
    rows, cols = linear_sum_assignment(confusion, maximize=True)
    return float(confusion[rows, cols].sum() / confusion.sum())


def code_class_accuracy(
    images_for: Callable[[Tensor, torch.Generator], Tensor], n_codes: int, per_code: int, seed: int
) -> float:
    """The disentanglement proxy of InfoGAN-style codes: ``per_code`` images for each value of
    a categorical code (``images_for(codes, rng)``, seeded), read by the digits classifier,
    codes matched one-to-one to classes (``best_matching_accuracy``)."""
    rng = torch.Generator().manual_seed(seed)

    def images_of(code: int) -> Tensor:
        return images_for(torch.full((per_code,), code, dtype=torch.long), rng)

    return best_matching_accuracy(code_confusion(images_of, n_codes).numpy())
