"""IB-GAN (ganlab.methods.noise.ibgan): the KL upper bound and the MI lower bound by hand, the
generator net z -> r -> x, beta weighing exactly the KL, lambda >= beta, and a short run
that reports the code-class accuracy."""

import json
import math
from functools import partial

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from torch import Tensor, nn

from ganlab.methods.base import StepContext
from ganlab.methods.noise.ibgan import IBGAN, ib_lagrangian
from ganlab.metrics.class_reading import best_matching_accuracy
from ganlab.nets.dcgan import DCGANDiscriminator
from ganlab.nets.heads import InfoGANQHead
from ganlab.nets.ibgan import IBGANGenerator
from ganlab.objectives.adversarial import gan_critic_loss
from ganlab.objectives.mutual_information import (
    categorical_mi_lower_bound,
    gaussian_kl_to_standard_normal,
    gaussian_mi_lower_bound,
)
from tests.conftest import compose_run

ADAM = partial(torch.optim.Adam, lr=1e-3)


def tiny_ibgan(beta: float = 0.2, lambda_mi: float = 1.0, noise_dim: int = 3) -> IBGAN:
    torch.manual_seed(0)  # the same weights for every beta
    return IBGAN(
        IBGANGenerator(10 + noise_dim, 4, size=16, channels=1, width=4, hidden=16),
        DCGANDiscriminator(16, 1, 4),
        InfoGANQHead,
        ADAM,
        ADAM,
        n_categories=10,
        noise_dim=noise_dim,
        lambda_mi=lambda_mi,
        beta=beta,
    )


# ---- the upper bound MI^U ----------------------------------------------------------------
def test_kl_to_the_standard_normal_by_hand():
    zeros = torch.zeros(3, 5)
    assert gaussian_kl_to_standard_normal(zeros, zeros).item() == 0.0  # e(r|z) = m(r)
    one = torch.ones(1, 1)  # mu = 1, sigma = 1: 0.5 * mu^2
    assert gaussian_kl_to_standard_normal(one, torch.zeros(1, 1)).item() == pytest.approx(0.5)
    # mu = 0, sigma^2 = e (log_var = 1): 0.5 * (e - 1 - 1)
    assert gaussian_kl_to_standard_normal(torch.zeros(1, 1), one).item() == pytest.approx(
        0.5 * (math.e - 2)
    )
    # summed over dims: (mu, sigma^2) = (1, 1) and (2, 4) give 0.5 * (1 + (4 + 4 - ln 4 - 1));
    # averaged over the batch: a second, zero row halves it
    mean = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    log_var = torch.tensor([[0.0, math.log(4.0)], [0.0, 0.0]])
    expected = 0.5 * (1.0 + 7.0 - math.log(4.0)) / 2
    assert gaussian_kl_to_standard_normal(mean, log_var).item() == pytest.approx(expected)


# ---- the lower bound MI^L ----------------------------------------------------------------
def test_the_lower_bound_terms_on_fixed_logits():
    # K = 2, code 1, softmax(0, ln 3) = (1/4, 3/4): log 2 + log(3/4) = log 1.5
    logits = torch.tensor([[0.0, math.log(3.0)]])
    assert categorical_mi_lower_bound(logits, torch.tensor([1])).item() == pytest.approx(
        math.log(1.5)
    )
    # ... and a wrong guess with the same logits: log 2 + log(1/4) = log 0.5 < 0
    assert categorical_mi_lower_bound(logits, torch.tensor([0])).item() == pytest.approx(
        math.log(0.5)
    )
    codes = torch.tensor([[0.5, -0.5]])  # q's means one off in each of 2 dims
    expected = 2 * (math.log(2.0) - 0.5 * math.log(2 * math.pi) - 0.5)
    assert gaussian_mi_lower_bound(codes + 1, codes).item() == pytest.approx(expected)


class FixedQ(nn.Module):
    """A Q head that answers the same logits and means whatever it is shown."""

    def __init__(self, logits: Tensor, means: Tensor) -> None:
        super().__init__()
        self.logits, self.means = logits, means

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        return self.logits, self.means


def test_the_methods_lower_bound_sums_the_categorical_and_the_continuous_terms():
    module = tiny_ibgan(noise_dim=2)
    categories = torch.tensor([3, 7])
    noise = torch.tensor([[0.5, -0.5], [0.0, 1.0]])
    logits = torch.zeros(2, 10)
    logits[0, 3] = 50.0  # sure and right on the first sample, uniform on the second
    module.q_head = FixedQ(logits, noise.clone())
    expected = (math.log(10) + 0.0) / 2 + 2 * (math.log(2.0) - 0.5 * math.log(2 * math.pi))
    mi_lower = module.mi_lower(torch.zeros(2, 1), categories, noise)
    assert mi_lower.item() == pytest.approx(expected, rel=1e-5)
    assert module._step_logs["info/mi_lower"].item() == pytest.approx(expected, rel=1e-5)


# ---- the objective -------------------------------------------------------------------------
def test_ib_lagrangian_weighs_each_bound():
    value = ib_lagrangian(torch.tensor(1.0), torch.tensor(2.0), torch.tensor(3.0), 0.5, 0.25)
    assert value.item() == pytest.approx(1.0 - 0.5 * 2.0 + 0.25 * 3.0)


def test_beta_adds_exactly_beta_times_the_kl_to_the_generator_loss():
    batch = {"image": torch.zeros(4, 1, 16, 16)}
    losses = {}
    for beta in (0.0, 0.5):
        module = tiny_ibgan(beta=beta)
        torch.manual_seed(1)
        losses[beta] = module.generator_loss(batch, StepContext()).item()
        kl = module._step_logs["info/mi_upper"].item()
    torch.manual_seed(1)  # the KL of the same latents, by hand
    _, mean, log_var = module.generator.represent(module.sample_latent(4))
    assert kl == pytest.approx(gaussian_kl_to_standard_normal(mean, log_var).item())
    assert kl > 0.01  # a KL term that is there to be weighed
    assert losses[0.5] - losses[0.0] == pytest.approx(0.5 * kl, rel=1e-4)


def test_beta_zero_leaves_the_generator_loss_adversarial_minus_lambda_mi():
    module = tiny_ibgan(beta=0.0, lambda_mi=0.7)
    batch = {"image": torch.zeros(4, 1, 16, 16)}
    torch.manual_seed(2)
    loss = module.generator_loss(batch, StepContext())
    mi_lower = module._step_logs["info/mi_lower"]
    torch.manual_seed(2)
    fake = module.generator(module.sample_latent(4))
    adversarial = torch.nn.functional.softplus(-module.discriminator(fake)).mean()
    assert loss.item() == pytest.approx((adversarial - 0.7 * mi_lower).item(), rel=1e-5)


def test_the_discriminator_loss_holds_no_kl_and_subtracts_lambda_mi():
    batch = {"image": torch.rand(4, 1, 16, 16) * 2 - 1}
    losses = {}
    for beta in (0.0, 0.9):
        module = tiny_ibgan(beta=beta, lambda_mi=0.9)
        torch.manual_seed(3)
        losses[beta] = module.critic_loss(batch, StepContext()).item()
    assert losses[0.0] == pytest.approx(losses[0.9], rel=1e-6)
    mi_lower = module._step_logs["info/mi_lower"]
    torch.manual_seed(3)
    fake = module.generator(module.sample_latent(4))
    adversarial = gan_critic_loss(module.discriminator(batch["image"]), module.discriminator(fake))
    assert losses[0.9] == pytest.approx((adversarial - 0.9 * mi_lower).item(), rel=1e-5)


def test_lambda_below_beta_is_refused():
    with pytest.raises(ValueError, match="lambda_mi >= beta.*lambda_mi=0.1 < beta=0.5"):
        tiny_ibgan(beta=0.5, lambda_mi=0.1)
    with pytest.raises(ValueError, match="must be >= 0"):
        tiny_ibgan(beta=-0.1)
    tiny_ibgan(beta=1.0, lambda_mi=1.0)  # the boundary is allowed
    with pytest.raises(ValueError, match="n_categories \\+ noise_dim = 13 dims.*input_dim is 20"):
        generator = IBGANGenerator(20, 4, size=16, channels=1, width=4)
        IBGAN(generator, DCGANDiscriminator(16, 1, 4), InfoGANQHead, ADAM, ADAM, noise_dim=3)


# ---- nets and sampling -------------------------------------------------------------------
def test_the_generator_net_goes_z_to_r_to_image():
    torch.manual_seed(0)
    net = IBGANGenerator(input_dim=13, representation_dim=4, size=16, channels=3, width=4)
    assert net.latent_dim == 17
    latent = torch.randn(5, 17)
    mean, log_var = net.encode(latent[:, :13])
    assert mean.shape == log_var.shape == (5, 4)
    r, mean_again, _ = net.represent(latent)
    assert torch.equal(mean, mean_again)
    assert torch.allclose(r, mean + (0.5 * log_var).exp() * latent[:, 13:])
    net.eval()
    images = net(latent)
    assert images.shape == (5, 3, 16, 16) and images.abs().max() <= 1
    assert torch.equal(images, net.image(r))
    other_eps = latent.clone()
    other_eps[:, 13:] += 1.0  # same z, another draw of r ~ e(r|z): another image
    assert not torch.allclose(images, net(other_eps))


def test_the_latent_layout_and_players():
    module = tiny_ibgan(noise_dim=3)
    latent, categories, noise = module.sample_codes(6, categories=torch.arange(6))
    assert latent.shape == (6, 10 + 3 + 4)
    assert torch.equal(latent[:, :10].argmax(1), categories)
    assert torch.equal(latent[:, 10:13], noise) and noise.abs().max() <= 1
    seeded = [module.sample_latent(3, torch.Generator().manual_seed(7)) for _ in range(2)]
    assert torch.equal(*seeded)  # eps is drawn with z: seeded samples repeat
    players = {p.name: p.nets for p in module.players()}
    assert players == {"discriminator": ("discriminator", "q_head"), "generator": ("generator",)}
    assert "representation" in dict(module.generator.named_children())  # e trains with G
    assert hasattr(module, "generator_ema") and hasattr(module.generator_ema, "representation")
    logits, means = module.q_head(module.discriminator.features(module.generator(latent)))
    assert logits.shape == (6, 10) and means.shape == (6, 3)


def test_best_matching_accuracy_from_the_metrics():
    confusion = np.array([[3.0, 1.0], [2.0, 4.0]])  # diagonal 7 of 10 beats 3 of 10
    assert best_matching_accuracy(confusion) == pytest.approx(0.7)
    assert best_matching_accuracy(confusion[::-1]) == pytest.approx(0.7)


# ---- configs and a short run ---------------------------------------------------------------
def test_the_experiment_composes_and_samples_digit_sized_images(tmp_path):
    cfg = compose_run(tmp_path, ["experiment=ibgan_digits"])
    assert cfg.name == "ibgan_digits" and cfg.steps == 3000
    module = instantiate(cfg.model)
    assert isinstance(module, IBGAN) and module.beta == 0.2 and module.lambda_mi == 1.0
    assert module.sample(2).shape == (2, cfg.data.channels, cfg.data.size, cfg.data.size)
    no_bottleneck = compose_run(tmp_path, ["experiment=ibgan_digits", "model.beta=0"])
    assert instantiate(no_bottleneck.model).beta == 0.0


def test_a_short_run_is_finite_and_reports_code_class_accuracy(tiny_run):
    _, run_dir = tiny_run(["experiment=ibgan_digits", "steps=20"])
    report = json.loads((run_dir / "metrics.json").read_text())
    assert report["run_step"] == 20
    losses = report["final_losses"]
    assert losses and all(math.isfinite(v) for v in losses.values())
    assert 0.0 <= report["metrics"]["ibgan_code_class_accuracy"] <= 1.0
    assert "Hungarian" in report["protocol"]["ibgan_code_class_accuracy"]
    rows = (run_dir / "logs" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")

    def column(name: str) -> list[float]:
        cells = [row.split(",")[header.index(name)] for row in rows[1:]]
        return [float(cell) for cell in cells if cell]

    mi_lower, mi_upper = column("info/mi_lower"), column("info/mi_upper")
    assert len(mi_upper) == 20 and all(math.isfinite(v) for v in mi_lower + mi_upper)
    assert min(mi_upper) >= 0.0  # a KL
