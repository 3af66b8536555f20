"""Scores of a predicted label map against the true one."""

from torch import Tensor


def mean_iou(predicted: Tensor, truth: Tensor, n_classes: int) -> tuple[float, list[float]]:
    """Mean over the classes present in ``truth`` of |P & T| / |P | T|, and each class's IoU
    (nan for a class absent from both)."""
    ious = []
    for cls in range(n_classes):
        p, t = predicted == cls, truth == cls
        union = (p | t).sum().item()
        ious.append((p & t).sum().item() / union if union else float("nan"))
    present = [iou for cls, iou in enumerate(ious) if (truth == cls).any()]
    return sum(present) / max(len(present), 1), ious
