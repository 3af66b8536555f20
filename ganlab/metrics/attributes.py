"""Attribute accuracy through a classifier: per attribute and their mean (torchmetrics)."""

from collections.abc import Sequence

import torch
from torch import Tensor
from torchmetrics.functional.classification import multilabel_accuracy

from ganlab.features.domain import load_domain_net


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


@torch.no_grad()
def classifier_attribute_accuracy(
    images: Tensor,
    targets: Tensor,
    names: Sequence[str],
    dataset: str,
    weights_path: str | None = None,
    batch_size: int = 250,
) -> dict[str, float]:
    """Attribute accuracy of (B, C, H, W) images (e.g. translations to target attributes) as
    judged by ganlab's domain net for ``dataset``, whose attribute head is the classifier."""
    net, _ = load_domain_net(dataset, weights_path)
    if net.attribute_head is None:
        raise ValueError(f"the domain net of {dataset} has no attribute head")
    logits = torch.cat([net(chunk)["attribute_logits"] for chunk in images.split(batch_size)])
    return attribute_accuracy(logits, targets, names)


def decisive_share(probabilities: Tensor, margin: float = 0.1) -> float:
    """Share of samples whose every attribute probability lies below ``margin`` or above
    ``1 - margin``: (B, A) probabilities -> a fraction (how legible generated faces are to
    the attribute classifier)."""
    if not 0.0 < margin < 0.5:
        raise ValueError(f"margin must lie in (0, 0.5), got {margin}")
    decisive = (probabilities < margin) | (probabilities > 1.0 - margin)
    return decisive.all(dim=1).float().mean().item()


def frequency_gaps(probabilities: Tensor, reference: Tensor) -> Tensor:
    """|share of samples read as having each attribute (p > 0.5) - its share in the
    reference|: (B, A) probabilities and (N, A) 0/1 reference labels -> (A,)."""
    if probabilities.shape[1] != reference.shape[1]:
        raise ValueError(
            f"probabilities {tuple(probabilities.shape)} and reference labels "
            f"{tuple(reference.shape)} must have the same attributes"
        )
    return ((probabilities > 0.5).float().mean(0) - reference.float().mean(0)).abs()
