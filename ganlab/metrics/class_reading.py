"""Scores of images read by a class reader (images -> (B, K) class probabilities, e.g. the
digits classifier): how a generator's categorical input (a cGAN's class, an InfoGAN's code)
maps onto the classes the reader sees, and whether two sets of images read alike."""

from collections.abc import Callable

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

ReadClasses = Callable[[Tensor], Tensor]


def code_confusion(
    images_of: Callable[[int], Tensor], n_codes: int, read_classes: ReadClasses, n_classes: int
) -> Tensor:
    """(n_codes, n_classes) counts: the reader's top class of ``images_of(code)`` for each
    code, codes in order."""
    rows = [read_classes(images_of(code)).argmax(1) for code in range(n_codes)]
    return torch.stack([torch.bincount(row, minlength=n_classes) for row in rows]).double()


def best_matching_accuracy(confusion: np.ndarray) -> float:
    """Accuracy under the one-to-one code->class assignment that maximises it (Hungarian)."""
    rows, cols = linear_sum_assignment(confusion, maximize=True)
    return float(confusion[rows, cols].sum() / confusion.sum())


def asked_class_accuracy(confusion: Tensor) -> tuple[float, list[float]]:
    """Overall and per-code share read as the class asked for (code k asks for class k)."""
    per_code = (confusion.diag() / confusion.sum(1)).tolist()
    return float(confusion.diag().sum() / confusion.sum()), per_code


def label_agreement(first: Tensor, second: Tensor, read_classes: ReadClasses) -> float:
    """Share of image pairs whose top classes agree between ``first`` and ``second``."""
    same = read_classes(first).argmax(1) == read_classes(second).argmax(1)
    return float(same.double().mean())
