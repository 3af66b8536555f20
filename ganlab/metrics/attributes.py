"""Attribute accuracy through a classifier: per attribute and their mean (torchmetrics)."""

from collections.abc import Sequence

from torch import Tensor
from torchmetrics.functional.classification import multilabel_accuracy


def attribute_accuracy(logits: Tensor, targets: Tensor, names: Sequence[str]) -> dict[str, float]:
    """(B, A) logits and (B, A) 0/1 targets -> ``{<name>_accuracy: ..., mean_attribute_accuracy}``.

    An attribute is predicted present where its logit is positive.
    """
    if logits.shape != targets.shape or logits.shape[1] != len(names):
        raise ValueError(
            f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} must both be "
            f"(B, {len(names)}) for attributes {list(names)}"
        )
    per_attribute = multilabel_accuracy(
        logits.float().sigmoid(), targets.long(), num_labels=len(names), average="none"
    )
    pairs = zip(names, per_attribute.tolist(), strict=True)
    scores = {f"{name}_accuracy": value for name, value in pairs}
    scores["mean_attribute_accuracy"] = per_attribute.mean().item()
    return scores
