"""Declared evaluations of what ganlab trains as instruments, which have labels to be
scored against rather than a judge: the segmenter, the correspondence net, the domain net
and the f-divergence estimator. Final figures only (metrics.json), no previews.

- :class:`Segmentation` (``Segments``): pixel accuracy and IoU per class on the validation
  split's masks.
- :class:`ValidationLosses` (``HasLosses``): the method's unweighted losses on validation
  batches.
- :class:`HeadAccuracy` (``PredictsHeads``): each head of a supervised net against the
  labels it was trained on (class, attributes, identity parameters).
- :class:`DivergenceBound` (``BoundsDivergence``): the variational lower bound on held-out
  samples of the data's two distributions, beside the divergence in closed form.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor

from ganlab.data.gaussians import true_divergence
from ganlab.evaluation.declarations import FinalFigures, Scores, first_items
from ganlab.evaluation.tools import Budget, Tools
from ganlab.metrics.attributes import attribute_accuracy
from ganlab.metrics.segmentation import mean_iou


@runtime_checkable
class Segments(Protocol):
    n_classes: int
    class_names: list[str]

    def segment(self, images: Tensor) -> Tensor:
        """(B, C, H, W) images -> (B, H, W) class labels, in eval mode."""
        ...


@dataclass(frozen=True)
class Segmentation(FinalFigures):
    """``val_pixel_accuracy``, ``val_mean_iou`` (over the classes present) and
    ``val_iou_<class>`` on up to ``max_images`` validation images."""

    max_images: int = 512
    protocol: ClassVar[type] = Segments

    @torch.no_grad()
    def score(self, module: Segments, datamodule: Any, tools: Tools, budget: Budget) -> Scores:
        dataset = datamodule.split_dataset("val")
        n = min(budget.n, len(dataset), self.max_images)
        predicted, truth = [], []
        for batch in first_items(dataset, n, batch_size=64):
            predicted.append(module.segment(batch["image"]).cpu())
            truth.append(torch.as_tensor(batch["mask"]))
        predicted_map, true_map = torch.cat(predicted), torch.cat(truth)
        miou, ious = mean_iou(predicted_map, true_map, module.n_classes)
        names = module.class_names or [str(c) for c in range(module.n_classes)]
        metrics = {"val_pixel_accuracy": (predicted_map == true_map).float().mean().item()}
        metrics["val_mean_iou"] = miou
        metrics |= {f"val_iou_{name}": iou for name, iou in zip(names, ious, strict=True)}
        return metrics, {"split": "val", "n_images": n}


@runtime_checkable
class HasLosses(Protocol):
    device: torch.device

    def validation_losses(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """The method's unweighted losses on a batch, its nets in eval mode."""
        ...


@dataclass(frozen=True)
class ValidationLosses(FinalFigures):
    """``val_<name>_loss``: each loss averaged over up to ``max_images`` validation images
    (batches of 64; the global RNG seeded by the budget first, for losses that draw);
    ``notes`` join the protocol."""

    max_images: int = 512
    notes: Mapping[str, Any] = field(default_factory=dict)
    protocol: ClassVar[type] = HasLosses

    @torch.no_grad()
    def score(self, module: HasLosses, datamodule: Any, tools: Tools, budget: Budget) -> Scores:
        dataset = datamodule.split_dataset("val")
        torch.manual_seed(budget.seed)
        n = min(budget.n, len(dataset), self.max_images)
        totals: dict[str, float] = {}
        for start in range(0, n, 64):
            items = [dataset[i] for i in range(start, min(n, start + 64))]
            batch = {k: torch.stack([torch.as_tensor(it[k]) for it in items]) for k in items[0]}
            batch = {k: v.to(module.device) for k, v in batch.items()}
            for name, value in module.validation_losses(batch).items():
                totals[name] = totals.get(name, 0.0) + value.item() * len(items)
        metrics = {f"val_{name}_loss": value / n for name, value in totals.items()}
        return metrics, {"split": "val", "n_images": n, **self.notes}


@runtime_checkable
class PredictsHeads(Protocol):
    def predict(self, dataset: Any) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """(head outputs, the dataset's items), each concatenated over the whole dataset."""
        ...


@dataclass(frozen=True)
class HeadAccuracy(FinalFigures):
    """On the whole validation split, for each head the net has: ``val_class_accuracy``
    (class logits), ``val_<attribute>_accuracy`` and ``val_mean_attribute_accuracy``
    (attribute logits > 0), ``val_identity_mse`` (identity parameters); ``notes`` join the
    protocol."""

    notes: Mapping[str, Any] = field(default_factory=dict)
    protocol: ClassVar[type] = PredictsHeads

    def score(self, module: PredictsHeads, datamodule: Any, tools: Tools, budget: Budget) -> Scores:
        predicted, targets = module.predict(datamodule.split_dataset("val"))
        metrics: dict[str, float] = {}
        if "class_logits" in predicted:
            correct = predicted["class_logits"].argmax(1) == targets["label"]
            metrics["val_class_accuracy"] = correct.double().mean().item()
        if "attribute_logits" in predicted:
            names = datamodule.attribute_names
            scores = attribute_accuracy(predicted["attribute_logits"], targets["attributes"], names)
            metrics.update({f"val_{name}": value for name, value in scores.items()})
        if "identity" in predicted:
            error = F.mse_loss(predicted["identity"], targets["identity"])
            metrics["val_identity_mse"] = error.item()
        return metrics, {"split": "val", "n_images": len(targets["image"]), **self.notes}


@runtime_checkable
class BoundsDivergence(Protocol):
    divergence_name: str

    def lower_bound(self, p_samples: Tensor, q_samples: Tensor) -> tuple[float, float]:
        """The variational lower bound on samples of P and Q, and its standard error."""
        ...


@dataclass(frozen=True)
class DivergenceBound(FinalFigures):
    """``divergence_lower_bound`` (and its standard error) on ``budget.n`` fresh samples of
    each of the data's distributions P and Q (``datamodule.p``, ``.q``), beside
    ``divergence_true`` (closed form) and their relative gap."""

    protocol: ClassVar[type] = BoundsDivergence

    def score(
        self, module: BoundsDivergence, datamodule: Any, tools: Tools, budget: Budget
    ) -> Scores:
        generator = torch.Generator().manual_seed(budget.seed)
        p, q = datamodule.p, datamodule.q
        bound, error = module.lower_bound(
            p.sample(budget.n, generator), q.sample(budget.n, generator)
        )
        truth = true_divergence(module.divergence_name, p, q)
        metrics = {
            "divergence_lower_bound": bound,
            "divergence_lower_bound_se": error,
            "divergence_true": truth,
            "divergence_relative_gap": (truth - bound) / abs(truth) if truth else math.nan,
        }
        protocol = {
            "divergence": module.divergence_name,
            "held_out_samples_per_distribution": budget.n,
            "sample_seed": budget.seed,
            "p": {"mean": list(p.mean), "std": list(p.std)},
            "q": {"mean": list(q.mean), "std": list(q.std)},
        }
        return metrics, protocol
