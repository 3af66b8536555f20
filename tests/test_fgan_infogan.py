"""f-GAN and InfoGAN: objectives, phase structure, and short runs with every divergence."""

import json
import math
from functools import partial

import numpy as np
import pytest
import torch

from ganlab.methods.base import StepContext
from ganlab.methods.noise.fgan import FGAN
from ganlab.methods.noise.infogan import InfoGAN
from ganlab.metrics.class_reading import best_matching_accuracy
from ganlab.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from ganlab.nets.heads import InfoGANQHead
from ganlab.objectives.divergences import NAMES, get_divergence
from ganlab.objectives.mutual_information import categorical_mi_lower_bound, gaussian_mi_lower_bound

ADAM = partial(torch.optim.Adam, lr=1e-3)


def test_categorical_bound_is_log_k_for_a_perfect_q_and_zero_for_a_uniform_q():
    codes = torch.arange(10)
    perfect = torch.full((10, 10), -1e4).fill_diagonal_(1e4)
    assert categorical_mi_lower_bound(perfect, codes).item() == pytest.approx(math.log(10))
    assert categorical_mi_lower_bound(torch.zeros(10, 10), codes).item() == pytest.approx(
        0.0, abs=1e-6
    )


def test_gaussian_bound_at_the_true_codes():
    codes = torch.rand(16, 2) * 2 - 1
    expected = 2 * (math.log(2.0) - 0.5 * math.log(2 * math.pi))
    assert gaussian_mi_lower_bound(codes, codes).item() == pytest.approx(expected, rel=1e-6)
    assert gaussian_mi_lower_bound(codes + 1.0, codes).item() == pytest.approx(
        expected - 1.0, rel=1e-6
    )


def test_best_matching_accuracy_undoes_a_permutation():
    confusion = np.eye(10)[np.random.default_rng(0).permutation(10)] * 30
    assert best_matching_accuracy(confusion) == 1.0
    assert best_matching_accuracy(np.ones((10, 10))) == pytest.approx(0.1)


def tiny_fgan(divergence: str, objective: str = "saddle") -> FGAN:
    return FGAN(
        DCGANGenerator(8, 16, 1, 4),
        DCGANDiscriminator(16, 1, 4),
        ADAM,
        ADAM,
        divergence=divergence,
        generator_objective=objective,
    )


def test_fgan_losses_follow_equation_6_and_the_alternative():
    module = tiny_fgan("kl")
    torch.manual_seed(0)
    batch = {"image": torch.rand(4, 1, 16, 16) * 2 - 1}
    torch.manual_seed(1)
    critic_loss = module.critic_loss(batch, StepContext())
    torch.manual_seed(1)
    fake = module.generator(module.sample_latent(4)).detach()
    kl = get_divergence("kl")
    expected = (
        kl.conjugate_of_activation(module.critic(fake)).mean()
        - module.critic(batch["image"]).mean()
    )
    assert critic_loss.item() == pytest.approx(expected.item(), rel=1e-5)
    torch.manual_seed(3)
    saddle_loss = module.generator_loss(batch, StepContext())  # -E_Q[f*(g_f(V))] = -E[exp(v - 1)]
    torch.manual_seed(3)
    scores = module.critic(module.generator(module.sample_latent(4)))
    assert saddle_loss.item() == pytest.approx(-torch.exp(scores - 1).mean().item(), rel=1e-5)
    alternative = tiny_fgan("reverse_kl", "alternative")
    torch.manual_seed(2)
    loss = alternative.generator_loss(batch, StepContext())
    torch.manual_seed(2)
    scores = alternative.critic(alternative.generator(alternative.sample_latent(4)))
    assert loss.item() == pytest.approx(torch.exp(scores).mean().item(), rel=1e-5)  # -g_f = e^v
    with pytest.raises(ValueError, match="generator_objective must be one of saddle, alternative"):
        tiny_fgan("kl", "other")


# the quick suite trains three divergences (the default and two other output activations);
# the rest run with -m slow
QUICK_DIVERGENCES = ("pearson", "kl", "gan")


@pytest.mark.parametrize(
    "divergence",
    [n if n in QUICK_DIVERGENCES else pytest.param(n, marks=pytest.mark.slow) for n in NAMES],
)
def test_fgan_digits_trains_with_every_divergence_without_nan(tiny_run, divergence):
    overrides = ["experiment=fgan_digits", f"divergence={divergence}", "steps=150"]
    _, run_dir = tiny_run(overrides, critic="critic")
    report = json.loads((run_dir / "metrics.json").read_text())
    assert report["run_step"] == 150
    assert all(math.isfinite(v) for v in report["final_losses"].values())
    rows = (run_dir / "logs" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    objective = [float(r.split(",")[header.index("critic/objective")]) for r in rows[1:]]
    assert len(objective) == 150 and all(math.isfinite(v) for v in objective)  # one row per batch


def tiny_infogan() -> InfoGAN:
    return InfoGAN(
        DCGANGenerator(14, 16, 1, 4),
        DCGANDiscriminator(16, 1, 4),
        InfoGANQHead,
        ADAM,
        ADAM,
        noise_dim=2,
        n_categories=10,
        n_continuous=2,
    )


def test_infogan_latent_layout_and_q_head_shape():
    module = tiny_infogan()
    latent, categories, continuous = module.sample_codes(6, categories=torch.arange(6))
    assert latent.shape == (6, 14)
    assert torch.equal(latent[:, 2:12].argmax(1), categories)
    assert torch.equal(latent[:, 12:], continuous) and continuous.abs().max() <= 1
    logits, means = module.q_head(module.discriminator.features(module.generator(latent)))
    assert logits.shape == (6, 10) and means.shape == (6, 2)
    with pytest.raises(ValueError, match="takes noise_dim \\+ n_categories \\+ n_continuous = 74"):
        InfoGAN(
            DCGANGenerator(64, 16, 1, 4), DCGANDiscriminator(16, 1, 4), InfoGANQHead, ADAM, ADAM
        )


def test_infogan_discriminator_player_owns_the_q_head():
    players = {p.name: p.nets for p in tiny_infogan().players()}
    assert players == {"discriminator": ("discriminator", "q_head"), "generator": ("generator",)}


def test_infogan_run_reports_code_class_accuracy(tiny_run):
    _, run_dir = tiny_run(["experiment=infogan_digits", "steps=20"])
    report = json.loads((run_dir / "metrics.json").read_text())
    assert 0.1 <= report["metrics"]["infogan_code_class_accuracy"] <= 1.0
    assert "Hungarian" in report["protocol"]["infogan_code_class_accuracy"]
