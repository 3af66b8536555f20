"""Declared evaluations that read images with a judge the data offers: the class reader
(``datamodule.judges``, e.g. the digits classifier) or the attribute classifier (the data's
domain net, ``Tools.classifier``). Each gives no figures on data whose judge is absent, and
says so in the protocol.

- :class:`ClassAccuracy` (``GeneratesForCodes``): samples asked for each value of a
  categorical input (a cGAN's class, an InfoGAN's or IB-GAN's code), read by the class
  reader; scored as asked (code k is class k) or under the best one-to-one matching.
- :class:`LabelAgreement` (``ReconstructsAgainstChance``): how often G(E(x)) reads as the
  same class as x, beside the same with an untrained encoder (BiGAN).
- :class:`AttributeSwap` (``SwapsAttributes``): each attribute of a real image swapped in
  the inferred code, read by the attribute classifier (IcGAN).
- :class:`DomainClassification` (``ClassifiesDomains``): a domain-adaptation classifier's
  accuracy on each domain's labelled evaluation images (UNIT).
"""

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from torch import Tensor

from ganlab.evaluation.declarations import FinalFigures, Scores, first_items
from ganlab.evaluation.judges import class_reader
from ganlab.evaluation.tools import Budget, Tools
from ganlab.metrics.class_reading import (
    asked_class_accuracy,
    best_matching_accuracy,
    code_confusion,
    label_agreement,
)


def no_judge(name: str, judge: str) -> Scores:
    return {}, {name: f"not measured: the data offers no {judge}"}


# ---- class readings ----------------------------------------------------------------------
@runtime_checkable
class GeneratesForCodes(Protocol):
    n_codes: int  # values of the categorical input

    def generate_for_codes(self, codes: Tensor, generator: torch.Generator) -> Tensor:
        """Samples for (B,) categorical values, the rest of the latent drawn from ``generator``."""
        ...


@dataclass(frozen=True)
class ClassAccuracy(FinalFigures):
    """``name``: the share of ``budget.n / n_codes`` samples per code the class reader reads
    as code k's class: ``matching="asked"`` (code k asks for class k; also per code) or
    ``"best"`` (codes matched one-to-one to classes, Hungarian: unsupervised codes)."""

    name: str
    matching: str = "asked"
    note: str = ""  # how the method draws the rest of the latent, for the protocol
    protocol: ClassVar[type] = GeneratesForCodes

    def __post_init__(self) -> None:
        if self.matching not in ("asked", "best"):
            raise ValueError(f"matching is asked or best, got {self.matching!r}")

    @torch.no_grad()
    def score(
        self, module: GeneratesForCodes, datamodule: Any, tools: Tools, budget: Budget
    ) -> Scores:
        judge = class_reader(datamodule)
        if judge is None:
            return no_judge(self.name, "class reader")
        per_code = max(1, budget.n // module.n_codes)
        rng = torch.Generator().manual_seed(budget.seed)

        def images_of(code: int) -> Tensor:
            return module.generate_for_codes(torch.full((per_code,), code), rng)

        confusion = code_confusion(images_of, module.n_codes, judge.read_classes, judge.n_classes)
        described = (
            f"{per_code} samples per value of the categorical input"
            f"{f' ({self.note})' if self.note else ''}, read by {judge.description}"
        )
        if self.matching == "best":
            metrics = {self.name: best_matching_accuracy(confusion.numpy())}
            return metrics, {
                self.name: f"{described}; codes matched one-to-one to classes (Hungarian)"
            }
        overall, per_code_accuracy = asked_class_accuracy(confusion)
        metrics = {self.name: overall}
        metrics |= {f"{self.name}_{code}": value for code, value in enumerate(per_code_accuracy)}
        return metrics, {self.name: f"{described}; the share read as the class asked for"}


@runtime_checkable
class ReconstructsAgainstChance(Protocol):
    def reconstruct(self, images: Tensor) -> Tensor: ...

    def reconstruct_untrained(self, images: Tensor, seed: int) -> Tensor:
        """The same through a freshly initialised encoder: the chance level."""
        ...


@dataclass(frozen=True)
class LabelAgreement(FinalFigures):
    """``<prefix>_reconstruction_agreement``: the share of evaluation-split images x whose
    class reading equals that of their reconstruction; ``<prefix>_random_encoder_agreement``:
    the same through an untrained encoder of the same architecture."""

    prefix: str
    split: str | None = None  # None: the budget's split
    protocol: ClassVar[type] = ReconstructsAgainstChance

    @torch.no_grad()
    def score(
        self, module: ReconstructsAgainstChance, datamodule: Any, tools: Tools, budget: Budget
    ) -> Scores:
        name = f"{self.prefix}_reconstruction_agreement"
        judge = class_reader(datamodule)
        if judge is None:
            return no_judge(name, "class reader")
        split = self.split or budget.split
        dataset = datamodule.split_dataset(split)
        items = first_items(dataset, min(budget.n, len(dataset)))
        images = torch.cat([batch["image"] for batch in items])
        read = judge.read_classes
        metrics = {
            name: label_agreement(images, module.reconstruct(images), read),
            f"{self.prefix}_random_encoder_agreement": label_agreement(
                images, module.reconstruct_untrained(images, budget.seed), read
            ),
        }
        described = (
            f"{len(images)} {split} images x: the share whose class reading "
            f"({judge.description}) equals that of G(E(x)); random: the same with an untrained "
            "encoder of the same architecture"
        )
        return metrics, {name: described}


# ---- attribute readings ------------------------------------------------------------------
@runtime_checkable
class SwapsAttributes(Protocol):
    attribute_names: tuple[str, ...]

    def attributes_of(self, images: Tensor) -> Tensor:
        """(B, K) 0/1 attributes the model infers for real images."""
        ...

    def reconstruct(self, images: Tensor) -> Tensor: ...

    def swap_attributes(self, images: Tensor, names: list[str]) -> tuple[Tensor, Tensor]:
        """(len(names), B, C, H, W) images with each named attribute flipped in the inferred
        code, and the flipped attribute vectors (len(names), B, K)."""
        ...


@dataclass(frozen=True)
class AttributeSwap(FinalFigures):
    """On data with attributes whose attribute classifier ganlab ships (``Tools.classifier``,
    ``eval.attribute_classifier``; off: no figures), for up to ``max_images`` images of the
    evaluation split (``<prefix>_...``):

    - ``swap_accuracy`` (mean, and per attribute): attribute k flipped in the inferred code;
      the share of outputs the classifier reads with the flipped value of k;
    - ``unedited_flip_rate``: the classifier's reading of the reconstruction (nothing
      flipped) against the inferred attributes: the level without an edit;
    - ``attribute_encoder_accuracy``: the inferred attributes against the labels.
    """

    prefix: str
    split: str | None = None  # None: the budget's split
    max_images: int = 500
    note: str = ""  # how the method re-generates an edited image, for the protocol
    needs: ClassVar[tuple[str, ...]] = ("sample_attributes",)  # the classifier, if offered
    protocol: ClassVar[type] = SwapsAttributes

    @torch.no_grad()
    def score(
        self, module: SwapsAttributes, datamodule: Any, tools: Tools, budget: Budget
    ) -> Scores:
        name = f"{self.prefix}_swap_accuracy"
        if tools.classifier is None:
            return no_judge(name, "attribute classifier")
        split = self.split or budget.split
        dataset = datamodule.split_dataset(split)
        count = min(budget.n, len(dataset), self.max_images)
        names = list(module.attribute_names)
        flipped, unedited = torch.zeros(len(names)), torch.zeros(len(names))
        inferred_right = 0.0
        for batch in first_items(dataset, count, batch_size=100):
            images, truth = batch["image"], batch["attributes"].float()
            inferred = module.attributes_of(images).cpu()
            inferred_right += float((inferred == truth).float().sum())
            unedited += (
                (tools.classifier(module.reconstruct(images)) > 0).ne(inferred.bool()).sum(0)
            )
            edited, targets = module.swap_attributes(images, names)
            for k in range(len(names)):
                read = tools.classifier(edited[k])[:, k] > 0
                flipped[k] += (read == targets[k, :, k].cpu().bool()).sum()
        swap_rates = (flipped / count).tolist()
        metrics = {name: sum(swap_rates) / len(swap_rates)}
        metrics |= {
            f"{name}_{attribute}": r for attribute, r in zip(names, swap_rates, strict=True)
        }
        metrics[f"{self.prefix}_unedited_flip_rate"] = float(unedited.mean() / count)
        metrics[f"{self.prefix}_attribute_encoder_accuracy"] = inferred_right / (count * len(names))
        described = (
            f"{count} {split} images; each attribute k flipped in turn in the inferred "
            "code; the share of outputs the attribute classifier "
            f"({tools.classifier.source}) reads with the flipped value of k. unedited_flip_rate: "
            "the same reading of the reconstruction, nothing flipped (the level without an edit)"
            + (f". {self.note}" if self.note else "")
        )
        return metrics, {name: described}


# ---- domain adaptation -------------------------------------------------------------------
@runtime_checkable
class ClassifiesDomains(Protocol):
    domains: tuple[str, str]
    labelled_domain: str  # "a" or "b": the side whose labels training used

    def classify(self, images: Tensor, side: str) -> Tensor:
        """(B,) class predictions for domain ``side``'s ("a" or "b") images."""
        ...

    def classifier_path(self, side: str) -> str:
        """The nets domain ``side``'s images pass through to be classified."""
        ...


@dataclass(frozen=True)
class DomainClassification(FinalFigures):
    """``da_accuracy_<domain>``: each domain's accuracy on all of its labelled images of
    the data's validation split."""

    protocol: ClassVar[type] = ClassifiesDomains

    def score(
        self, module: ClassifiesDomains, datamodule: Any, tools: Tools, budget: Budget
    ) -> Scores:
        metrics, protocol = {}, {}
        split = datamodule.val_split
        for side, domain in zip(("a", "b"), module.domains, strict=True):
            dataset = datamodule.domain_dataset(split, domain)
            correct = 0
            for batch in first_items(dataset, len(dataset)):
                predicted = module.classify(batch["image"], side).cpu()
                correct += int((predicted == torch.as_tensor(batch["label"])).sum())
            metrics[f"da_accuracy_{domain}"] = correct / len(dataset)
            protocol[f"da_accuracy_{domain}"] = {
                "split": split,
                "n_images": len(dataset),
                "labelled_in_training": side == module.labelled_domain,
                "path": module.classifier_path(side),
            }
        return metrics, protocol
