"""Declared evaluations that read images with the judges a data module offers, and the
evaluation plan that runs them (ganlab.evaluation.readings / report)."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from ganlab.evaluation import (
    Budget,
    ClassAccuracy,
    EvaluationPlan,
    LabelAgreement,
    Notes,
    Tools,
    metrics_report,
)
from ganlab.evaluation.declarations import FinalFigures
from ganlab.metrics.digits import digits_classifier

SCANS = load_digits()
IMAGES = torch.as_tensor(SCANS.images / 8.0 - 1.0, dtype=torch.float32)[:, None]  # [-1, 1]
LABELS = torch.as_tensor(SCANS.target)
DIGITS = SimpleNamespace(name="scans", judges=("digits_classifier",))


class ScanGenerator(torch.nn.Module):
    """Code k -> real scans of digit (k + shift) mod 10, drawn with the given generator."""

    n_codes = 10

    def __init__(self, shift: int = 0) -> None:
        super().__init__()
        self.shift = shift

    def generate_for_codes(self, codes: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        images = []
        for code in codes.tolist():
            pool = torch.nonzero((code + self.shift) % 10 == LABELS)[:, 0]
            images.append(IMAGES[pool[torch.randint(len(pool), (1,), generator=generator)]])
        return torch.cat(images)


def classifier_accuracy_on_all_scans() -> float:
    flat = SCANS.images.reshape(len(SCANS.images), -1) / 16.0
    return float(digits_classifier().score(flat, SCANS.target))


def test_class_accuracy_reads_each_code_with_the_offered_judge():
    budget = Budget(n=300, seed=0)
    asked, protocol = ClassAccuracy("acc").score(ScanGenerator(), DIGITS, Tools(), budget)
    assert asked["acc"] >= classifier_accuracy_on_all_scans() - 0.02  # ~1: real scans
    assert len([k for k in asked if k.startswith("acc_")]) == 10
    assert "the class asked for" in protocol["acc"] and "digits classifier" in protocol["acc"]
    shifted, _ = ClassAccuracy("acc").score(ScanGenerator(shift=1), DIGITS, Tools(), budget)
    assert shifted["acc"] <= 0.05  # code k shows digit k + 1: never the class asked for
    best, protocol = ClassAccuracy("acc", matching="best").score(
        ScanGenerator(shift=1), DIGITS, Tools(), budget
    )
    assert best["acc"] == pytest.approx(asked["acc"], abs=0.02)  # matching undoes the shift
    assert "Hungarian" in protocol["acc"]


def test_class_accuracy_is_reproducible_and_absent_without_a_class_reader():
    budget = Budget(n=50, seed=3)
    first, _ = ClassAccuracy("acc").score(ScanGenerator(), DIGITS, Tools(), budget)
    again, _ = ClassAccuracy("acc").score(ScanGenerator(), DIGITS, Tools(), budget)
    assert first == again
    no_judges = SimpleNamespace(name="faces", judges=())
    metrics, protocol = ClassAccuracy("acc").score(ScanGenerator(), no_judges, Tools(), budget)
    assert metrics == {} and "no class reader" in protocol["acc"]
    with pytest.raises(ValueError, match="asked or best"):
        ClassAccuracy("acc", matching="nearest")


class Echo(torch.nn.Module):
    """Reconstructs each image as itself; its 'untrained' encoder returns another digit."""

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        return images

    def reconstruct_untrained(self, images: torch.Tensor, seed: int) -> torch.Tensor:
        return images.roll(1, dims=0)


def test_label_agreement_against_the_chance_level():
    items = [{"image": image} for image in IMAGES[:80]]
    data = SimpleNamespace(name="scans", judges=("digits_classifier",))
    data.split_dataset = lambda split: items
    metrics, protocol = LabelAgreement("echo", split="val").score(
        Echo(), data, Tools(), Budget(n=80)
    )
    assert metrics["echo_reconstruction_agreement"] == 1.0
    scans01 = (IMAGES[:80].flatten(1) + 1) / 2
    read = digits_classifier().predict(scans01.numpy())
    assert metrics["echo_random_encoder_agreement"] == pytest.approx(
        float(np.mean(read == np.roll(read, 1)))
    )
    assert metrics["echo_random_encoder_agreement"] < 0.3
    assert "80 val images" in protocol["echo_reconstruction_agreement"]


class Constant(FinalFigures):
    protocol = torch.nn.Module

    def score(self, module, datamodule, tools, budget):
        return {"constant": 1.0}, {}


def test_the_plan_scores_final_figures_only_at_the_end():
    notes = Notes({"embedding": "phi"})
    plan = EvaluationPlan((Constant(), notes), Tools())
    assert plan.periodic == () and plan.preview is None
    module = torch.nn.Linear(1, 1)
    module.device = torch.device("cpu")
    module.train()
    assert plan.evaluate(module, None, Budget(n=1), final=False) == {"metrics": {}, "protocol": {}}
    report = plan.evaluate(module, None, Budget(n=1))
    assert report == {"metrics": {"constant": 1.0}, "protocol": {"embedding": "phi"}}
    assert module.training  # restored
    with pytest.raises(TypeError, match="no preview"):
        notes.preview(module, None)
    assert metrics_report({"task": "eval"}, report)["task"] == "eval"
    with pytest.raises(ValueError, match="repeats"):
        metrics_report({"metrics": {}}, report)
