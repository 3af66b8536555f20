"""Conditional GAN (ganlab.methods.noise.cgan): the generator reads [z, one_hot(y)]; the critic
reads y as image channels (concat) or by projection; samples follow the asked class."""

import json

import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from ganlab.nets.conditional import ConditionalCritic, label_maps
from ganlab.nets.dcgan import DCGANDiscriminator
from ganlab.run import run_task
from tests.conftest import compose_run


def test_label_maps_are_one_constant_channel_per_class():
    maps = label_maps(torch.tensor([2, 0]), 3, (4, 5))
    assert maps.shape == (2, 3, 4, 5)
    assert maps[0, 2].eq(1).all() and maps[0, :2].eq(0).all() and maps[1, 0].eq(1).all()


def body(channels):
    return DCGANDiscriminator(size=16, channels=channels, width=4, norm="none")


def test_concat_conditioning_reads_the_class_as_extra_channels():
    critic = ConditionalCritic(body, channels=1, n_classes=3, conditioning="concat")
    assert critic.net.body[0].in_channels == 4  # the image and 3 label channels
    image = torch.randn(2, 1, 16, 16)
    labels = torch.tensor([0, 2])
    expected = critic.net(torch.cat([image, label_maps(labels, 3, (16, 16))], 1))
    torch.testing.assert_close(critic(image, labels), expected)


def test_projection_adds_the_class_embedding_dot_the_pooled_features():
    critic = ConditionalCritic(body, channels=1, n_classes=3, conditioning="projection")
    image = torch.randn(2, 1, 16, 16)
    labels = torch.tensor([1, 1])
    features = critic.net.features(image)
    pooled = features.sum((2, 3))
    expected = critic.net.score(features) + pooled @ critic.embed.weight[1]
    torch.testing.assert_close(critic(image, labels), expected)
    other = critic(image, torch.tensor([2, 2]))  # the class changes the score by the embedding
    torch.testing.assert_close(
        other - critic(image, labels), pooled @ (critic.embed.weight[2] - critic.embed.weight[1])
    )
    with pytest.raises(ValueError, match="conditioning must be one of"):
        ConditionalCritic(body, 1, 3, conditioning="film")


def test_generator_inputs_carry_the_asked_class(tmp_path):
    module = instantiate(compose_run(tmp_path, ["experiment=cgan_digits"]).model)
    labels = torch.tensor([3, 7, 0])
    latent, back = module.sample_codes(3, torch.Generator().manual_seed(0), labels)
    assert latent.shape == (3, 74) and torch.equal(back, labels)
    assert torch.equal(latent[:, 64:].argmax(1), labels) and latent[:, 64:].sum() == 3
    cfg = compose_run(tmp_path, ["experiment=cgan_digits", "model.generator.latent_dim=64"])
    with pytest.raises(InstantiationException, match="noise_dim \\+ n_classes = 74"):
        instantiate(cfg.model)


@pytest.mark.slow  # the default budget, ~2 min: the acceptance figure
def test_cgan_samples_are_read_as_the_class_asked_for(tmp_path):
    out = tmp_path / "cgan"
    run_task(compose_run(out, ["experiment=cgan_digits", "eval.n_samples=500"]))
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert metrics["cgan_class_accuracy"] >= 0.8
