"""BiGAN (ganlab.methods.noise.bigan): the joint discriminator judges (x, E(x)) against (G(z), z);
the encoder trains with the generator; G(E(x)) keeps the digit better than chance."""

import json
import math

import pytest
import torch
from hydra.utils import instantiate

from ganlab.methods.noise.bigan import bigan_generator_loss
from ganlab.nets.dcgan import DCGANEncoder, JointCritic
from ganlab.objectives.adversarial import gan_critic_loss
from ganlab.run import run_task
from tests.conftest import compose_run


def test_the_losses_of_an_undecided_discriminator_are_two_log_two():
    zeros = torch.zeros(4)
    assert gan_critic_loss(zeros, zeros).item() == pytest.approx(2 * math.log(2))
    assert bigan_generator_loss(zeros, zeros).item() == pytest.approx(2 * math.log(2))
    # G and E win when D calls the real pairs fake and the fake pairs real
    assert bigan_generator_loss(torch.full((4,), -9.0), torch.full((4,), 9.0)) < 1e-3


def test_the_joint_critic_reads_the_image_and_the_code():
    torch.manual_seed(0)
    critic = JointCritic(latent_dim=8, size=16, channels=1, width=4, norm="none", hidden=16)
    image, z = torch.randn(3, 1, 16, 16), torch.randn(3, 8)
    score = critic(image, z)
    assert score.shape == (3,)
    assert not torch.allclose(score, critic(image, z + 1))
    assert not torch.allclose(score, critic(image + 1, z))
    encoder = DCGANEncoder(latent_dim=8, size=16, channels=1, width=4)
    assert encoder(image).shape == (3, 8)
    assert DCGANEncoder(**encoder.config).config == encoder.config


def test_the_encoder_trains_with_the_generator_against_the_discriminator(tmp_path):
    module = instantiate(compose_run(tmp_path, ["experiment=bigan_digits"]).model)
    players = {player.name: player.nets for player in module.players()}
    assert players == {"discriminator": ("discriminator",), "generator": ("generator", "encoder")}
    cfg = compose_run(tmp_path, ["experiment=bigan_digits", "model.encoder.latent_dim=16"])
    with pytest.raises(Exception, match="the encoder gives 16 latent dims"):
        instantiate(cfg.model)


@pytest.mark.slow  # the default budget, ~10 min: the acceptance figure
def test_bigan_reconstructions_keep_the_digit_far_above_a_random_encoder(tmp_path):
    out = tmp_path / "bigan"
    run_task(compose_run(out, ["experiment=bigan_digits", "eval.n_samples=180"]))
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    trained = metrics["bigan_reconstruction_agreement"]
    assert trained > metrics["bigan_random_encoder_agreement"] + 0.4 and trained > 0.5
