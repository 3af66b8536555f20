"""InterfaceGAN (Shen et al. 2020, "Interpreting the Latent Space of GANs for Semantic Face
Editing"): a binary attribute is a hyperplane in the latent space; its unit normal n is the
editing direction (eq. 4), found by a linear SVM on codes of generated samples labelled by
an attribute classifier (or by the user). Conditional manipulation (eq. 5) edits one
attribute and keeps others by projecting their normals out of n.

As in the reference ``train_boundary``: samples are ranked by score, the top and bottom
``chosen_ratio`` become positives and negatives (the ambiguous middle is left out), split
``split_ratio`` into train / validation, and a linear SVC (scikit-learn) is fitted; the
boundary is its weight vector, unit-normalised, the intercept dropped.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.svm import SVC
from torch import Tensor


@dataclass
class Boundary:
    """Unit normal (D,) pointing towards the attribute, with the SVM's accuracies."""

    normal: Tensor
    train_accuracy: float
    validation_accuracy: float
    n_positive: int
    n_negative: int


def train_boundary(
    codes: Tensor,
    scores: Tensor,
    chosen_ratio: float = 0.02,
    split_ratio: float = 0.7,
    seed: int = 0,
) -> Boundary:
    """Linear SVM boundary of (N, D) codes with (N,) attribute scores (higher: more of it).

    ``chosen_ratio`` in (0, 1] is a fraction of N, above 1 a count; at most N // 2 each side.
    Scores with two values are labels: then every sample is used (the SVM's classes are
    weighted by their frequency).
    """
    if codes.ndim != 2 or scores.shape != (codes.shape[0],):
        raise ValueError(
            f"need (N, D) codes and (N,) scores, got {tuple(codes.shape)}, {tuple(scores.shape)}"
        )
    n = codes.shape[0]
    rng = np.random.default_rng(seed)
    order = torch.argsort(scores, descending=True)
    values = scores.unique()
    if len(values) == 2:  # labels, not scores: every sample with its label
        positives = rng.permutation(order[scores[order] == values[1]].numpy())
        negatives = rng.permutation(order[scores[order] == values[0]].numpy())
    else:
        chosen = int(n * chosen_ratio) if chosen_ratio <= 1 else int(chosen_ratio)
        chosen = min(chosen, n // 2)
        if chosen < 2:
            raise ValueError(f"{n} samples with chosen_ratio={chosen_ratio} leave < 2 per side")
        positives = rng.permutation(order[:chosen].numpy())
        negatives = rng.permutation(order[-chosen:].numpy())
    data = codes.double().numpy()

    def split(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cut = max(1, int(len(rows) * split_ratio))
        return rows[:cut], rows[cut:]

    (train_pos, val_pos), (train_neg, val_neg) = split(positives), split(negatives)

    def labelled(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return data[np.concatenate([pos, neg])], np.r_[np.ones(len(pos)), np.zeros(len(neg))]

    train_x, train_y = labelled(train_pos, train_neg)
    classifier = SVC(kernel="linear", class_weight="balanced").fit(train_x, train_y)
    val_x, val_y = labelled(val_pos, val_neg)
    validation = float(classifier.score(val_x, val_y)) if len(val_y) else float("nan")
    normal = torch.tensor(classifier.coef_.reshape(-1), dtype=torch.float32)
    return Boundary(
        normal / normal.norm(),
        float(classifier.score(train_x, train_y)),
        validation,
        len(positives),
        len(negatives),
    )


def conditional_direction(primary: Tensor, conditions: list[Tensor]) -> Tensor:
    """eq. 5 generalised: the component of unit ``primary`` (D,) orthogonal to every condition
    normal (least squares on their span; for one condition n - (n.c) c), unit-normalised."""
    if not conditions:
        return primary
    basis = torch.stack([c.double() for c in conditions], dim=1)  # (D, K)
    coefficients = torch.linalg.lstsq(basis, primary.double()[:, None]).solution
    residual = primary.double() - (basis @ coefficients)[:, 0]
    norm = residual.norm()
    if norm < 1e-6:
        raise ValueError("the primary direction lies in the span of the conditions")
    return (residual / norm).to(primary.dtype)


@torch.no_grad()
def labelled_samples(
    sample_codes: Callable[[int, torch.Generator], Tensor],
    render: Callable[[Tensor], Tensor],
    score: Callable[[Tensor], Tensor],
    n: int,
    batch_size: int = 256,
    seed: int = 0,
) -> tuple[Tensor, Tensor]:
    """``n`` codes from ``sample_codes`` and the classifier scores (n, A) of their images."""
    rng = torch.Generator().manual_seed(seed)
    codes, scores = [], []
    for start in range(0, n, batch_size):
        batch = sample_codes(min(batch_size, n - start), rng)
        codes.append(batch.cpu())
        scores.append(score(render(batch)).cpu())
    return torch.cat(codes), torch.cat(scores)
