"""Analytic f-divergences between Gaussians, and the critic-only estimator that checks them."""

import math

import pytest
import pytorch_lightning as pl
import torch

from ganlab.data.gaussians import (
    CLOSED_FORMS,
    DiagonalGaussian,
    GaussiansDataModule,
    divergence_by_quadrature,
    true_divergence,
)
from ganlab.evaluation import Budget, EvaluationPlan, Tools
from ganlab.methods.instruments.divergence_estimation import DivergenceEstimator
from ganlab.nets.mlp import MLP
from ganlab.objectives.divergences import NAMES, get_divergence

P1, Q1 = DiagonalGaussian((0.0,), (1.0,)), DiagonalGaussian((1.0,), (1.5,))
P2, Q2 = DiagonalGaussian((0.0, 0.5), (1.0, 0.8)), DiagonalGaussian((1.0, 0.0), (1.5, 1.0))


def test_kl_closed_form_known_value():
    # KL(N(0,1) || N(1,1.5^2)) = log 1.5 + (1 + 1) / (2 * 2.25) - 1/2
    assert true_divergence("kl", P1, Q1) == pytest.approx(math.log(1.5) + 2 / 4.5 - 0.5, rel=1e-12)


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
@pytest.mark.parametrize("p, q", [(P1, Q1), (P2, Q2)], ids=["1d", "2d"])
def test_closed_forms_agree_with_quadrature(name, p, q):
    closed = CLOSED_FORMS[name](p, q)
    if math.isinf(closed):
        pytest.skip("infinite divergence")
    assert divergence_by_quadrature(get_divergence(name), p, q) == pytest.approx(closed, rel=2e-4)


def test_neyman_is_infinite_when_q_has_heavier_tails():
    assert math.isinf(true_divergence("neyman", P1, Q1))  # int q^2/p diverges for s_q > sqrt(2) s_p


@pytest.mark.parametrize("name", NAMES)
def test_divergences_of_identical_gaussians_vanish(name):
    expected = -math.log(4) if name == "gan" else 0.0
    assert true_divergence(name, P1, P1) == pytest.approx(expected, abs=1e-6)


def test_js_and_tv_are_bounded():
    far = DiagonalGaussian((10.0,), (1.0,))  # overlap ~1e-6
    # Table 1's f for js gives D_f = KL(P||M) + KL(Q||M) = 2 JSD, at most log 4
    assert true_divergence("js", P1, far) == pytest.approx(math.log(4), rel=1e-4)
    assert true_divergence("tv", P1, far) == pytest.approx(1.0, rel=1e-4)


def test_bad_gaussians_are_rejected():
    with pytest.raises(ValueError, match="positive"):
        DiagonalGaussian((0.0,), (0.0,))
    with pytest.raises(ValueError, match="P is 1-D but Q is 2-D"):
        GaussiansDataModule(q_mean=(0.0, 0.0), q_std=(1.0, 1.0))


def test_batches_hold_independent_samples_of_p_and_q():
    dm = GaussiansDataModule(train_size=4096, batch_size=1024)
    batches = list(dm.train_dataloader())
    assert len(batches) == 4 and batches[0]["p"].shape == (1024, 1)
    p, q = torch.cat([b["p"] for b in batches]), torch.cat([b["q"] for b in batches])
    assert p.mean().item() == pytest.approx(0.0, abs=0.1) and q.std().item() == pytest.approx(
        1.5, abs=0.1
    )


CRITIC_SLOW = ["reverse_kl", "pearson", "hellinger", "tv"]


@pytest.mark.parametrize(
    "name",
    # two divergences with different activations and conjugates in the quick suite
    ["kl", "js", *(pytest.param(n, marks=pytest.mark.slow) for n in CRITIC_SLOW)],
)
def test_critic_lower_bound_reaches_the_true_divergence(name):
    pl.seed_everything(0, verbose=False)
    dm = GaussiansDataModule(train_size=200_000, batch_size=512)
    adam = lambda params: torch.optim.Adam(params, lr=1e-3, betas=(0.5, 0.999))  # noqa: E731
    module = DivergenceEstimator(MLP(1, 64, 2), adam, divergence=name)
    trainer = pl.Trainer(
        max_steps=2000,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(module, dm)
    plan = EvaluationPlan(tuple(module.evaluations()), Tools())
    report = plan.evaluate(module, dm, Budget(n=200_000, seed=1))["metrics"]
    bound, error, truth = (
        report[k]
        for k in ("divergence_lower_bound", "divergence_lower_bound_se", "divergence_true")
    )
    assert abs(truth - bound) <= max(0.10 * truth, 0.05), (bound, truth)
    assert bound <= truth + 3 * error, (bound, error, truth)
