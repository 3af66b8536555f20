"""Salimans et al. 2016's training techniques and instance noise (ganlab.objectives.tricks,
ganlab.nets.tricks, ``Tricks`` in ganlab.methods.noise.two_player): hand-computed values, the
invariants that define them, and the config switch that puts them into any GAN-family run."""

import json
import math

import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from ganlab.errors import ConfigError
from ganlab.methods.base import StepContext
from ganlab.methods.noise.two_player import Tricks
from ganlab.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from ganlab.nets.tricks import (
    HistoricalAverage,
    InstanceNoise,
    MinibatchDiscrimination,
    VirtualBatchGenerator,
)
from ganlab.objectives.adversarial import GAMES, gan_critic_loss, get_game
from ganlab.objectives.tricks import (
    feature_matching_loss,
    historical_average_penalty,
    instance_noise_std,
    minibatch_closeness,
    smoothed_gan_critic_loss,
    smoothed_lsgan_critic_loss,
    virtual_batch_normalize,
)
from ganlab.run import check_config, run_task
from tests.conftest import compose_run


def test_feature_matching_compares_the_batch_means_of_the_features():
    real = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # mean (2, 3)
    fake = torch.tensor([[0.0, 0.0], [2.0, 2.0]])  # mean (1, 1)
    assert feature_matching_loss(real, fake).item() == pytest.approx(1.0 + 4.0)
    maps = torch.randn(4, 3, 2, 2)
    assert feature_matching_loss(maps, maps[torch.randperm(4)]).item() == pytest.approx(0, abs=1e-6)


def test_minibatch_closeness_sums_exp_minus_l1_over_the_batch():
    rows = torch.tensor([[[0.0, 0.0], [1.0, 1.0]], [[1.0, 2.0], [1.0, 1.0]]])  # (N=2, B=2, C=2)
    # kernel 0: rows 0 and 1 are 3 apart in L1; kernel 1: identical rows
    expected = torch.tensor([[1 + math.exp(-3), 2.0], [1 + math.exp(-3), 2.0]])
    torch.testing.assert_close(minibatch_closeness(rows), expected)


def test_minibatch_layer_projects_features_with_its_tensor():
    layer = MinibatchDiscrimination(in_features=3, kernels=2, kernel_dim=2)
    features = torch.randn(5, 3)
    rows = (features @ layer.tensor).view(5, 2, 2)
    torch.testing.assert_close(layer(features), minibatch_closeness(rows))
    critic = DCGANDiscriminator(size=16, channels=1, width=4, norm="none")
    critic.add_minibatch_discrimination(kernels=3, kernel_dim=2)
    images = torch.randn(4, 1, 16, 16)
    assert critic(images).shape == (4,)
    # the score of one image now depends on the others in its batch
    assert not torch.allclose(critic(images)[:2], critic(images[:2]))


def test_a_dcgan_critic_can_be_built_with_its_minibatch_layer():
    torch.manual_seed(0)
    built = DCGANDiscriminator(16, 1, 4, "none", minibatch_kernels=3, minibatch_kernel_dim=2)
    torch.manual_seed(0)
    added = DCGANDiscriminator(16, 1, 4, "none")
    added.add_minibatch_discrimination(kernels=3, kernel_dim=2)
    assert built.head.in_channels == built.feature_channels + 3
    images = torch.randn(4, 1, 16, 16)
    torch.testing.assert_close(built(images), added(images))  # the same layer, the same draws
    with pytest.raises(ValueError, match="has a minibatch layer already"):
        built.add_minibatch_discrimination(kernels=3, kernel_dim=2)


def test_historical_average_is_the_mean_of_past_parameters():
    parameter = torch.nn.Parameter(torch.tensor([0.0, 0.0]))
    average = HistoricalAverage([parameter])
    for value in ([2.0, 4.0], [4.0, 8.0]):
        parameter.data = torch.tensor(value)
        average.update([parameter])
    torch.testing.assert_close(average.averages[0], torch.tensor([2.0, 4.0]))
    assert int(average.count) == 3
    penalty = historical_average_penalty([parameter], average.averages)
    assert penalty.item() == pytest.approx(2.0**2 + 4.0**2)


def softplus(x):
    return math.log1p(math.exp(x))


REAL, FAKE = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])


def test_one_sided_label_smoothing_moves_only_the_real_target():
    torch.testing.assert_close(
        smoothed_gan_critic_loss(REAL, FAKE, 1.0), gan_critic_loss(REAL, FAKE)
    )
    # -log D = softplus(-logit), -log(1 - D) = softplus(logit); real target 0.9, fake 0
    by_hand = (0.9 * softplus(-2.0) + 0.1 * softplus(2.0)) / 2
    by_hand += (0.9 * softplus(1.0) + 0.1 * softplus(-1.0)) / 2
    by_hand += (softplus(0.5) + softplus(-3.0)) / 2
    assert smoothed_gan_critic_loss(REAL, FAKE, 0.9).item() == pytest.approx(by_hand)
    assert get_game("nsgan", 0.9).critic_loss(REAL, FAKE).item() == pytest.approx(by_hand)
    # LSGAN: 1/2 mean (D(x) - 0.9)^2 + 1/2 mean D(G(z))^2
    lsgan = 0.5 * (1.1**2 + 1.9**2) / 2 + 0.5 * (0.5**2 + 3.0**2) / 2
    assert get_game("lsgan", 0.9).critic_loss(REAL, FAKE).item() == pytest.approx(lsgan)
    assert get_game("nsgan", 0.9).generator_loss is GAMES["nsgan"].generator_loss
    assert get_game("nsgan") is GAMES["nsgan"]
    with pytest.raises(ValueError, match="label smoothing needs a game with labels"):
        get_game("hinge", 0.9)


def test_two_sided_label_smoothing_moves_the_fake_target_too():
    # the lecture's real 0.9 and fake 0.1
    by_hand = (0.9 * softplus(-2.0) + 0.1 * softplus(2.0)) / 2
    by_hand += (0.9 * softplus(1.0) + 0.1 * softplus(-1.0)) / 2
    by_hand += (0.1 * softplus(-0.5) + 0.9 * softplus(0.5)) / 2
    by_hand += (0.1 * softplus(3.0) + 0.9 * softplus(-3.0)) / 2
    assert smoothed_gan_critic_loss(REAL, FAKE, 0.9, 0.1).item() == pytest.approx(by_hand)
    assert get_game("gan", 0.9, 0.1).critic_loss(REAL, FAKE).item() == pytest.approx(by_hand)
    # LSGAN: 1/2 mean (D(x) - 0.9)^2 + 1/2 mean (D(G(z)) - 0.1)^2
    lsgan = 0.5 * (1.1**2 + 1.9**2) / 2 + 0.5 * (0.4**2 + 3.1**2) / 2
    assert smoothed_lsgan_critic_loss(REAL, FAKE, 0.9, 0.1).item() == pytest.approx(lsgan)
    assert get_game("lsgan", 0.9, 0.1).critic_loss(REAL, FAKE).item() == pytest.approx(lsgan)
    # a fake target alone smooths too; the generator's loss never changes
    fake_only = (softplus(-2.0) + softplus(1.0)) / 2 + (
        0.1 * softplus(-0.5) + 0.9 * softplus(0.5) + 0.1 * softplus(3.0) + 0.9 * softplus(-3.0)
    ) / 2
    assert get_game("nsgan", 1.0, 0.1).critic_loss(REAL, FAKE).item() == pytest.approx(fake_only)
    assert get_game("nsgan", 0.9, 0.1).generator_loss is GAMES["nsgan"].generator_loss
    with pytest.raises(ValueError, match="label smoothing needs a game with labels"):
        get_game("hinge", 1.0, 0.1)


def test_the_tricks_config_gives_the_discriminator_both_targets(tmp_path):
    cfg = compose_run(tmp_path, ["experiment=gan_digits"])
    assert cfg.tricks.label_smoothing is None and cfg.tricks.label_smoothing_fake is None
    one_sided = module_with(tmp_path, ["tricks.label_smoothing=0.9"])
    assert (one_sided.real_label, one_sided.fake_label) == (0.9, 0.0)
    two_sided = ["tricks.label_smoothing=0.9", "tricks.label_smoothing_fake=0.1"]
    module = module_with(tmp_path, two_sided)
    assert (module.real_label, module.fake_label) == (0.9, 0.1)
    expected = smoothed_gan_critic_loss(REAL, FAKE, 0.9, 0.1)
    torch.testing.assert_close(module.game.critic_loss(REAL, FAKE), expected)
    assert module.tricks.switched_on() == ["label_smoothing", "label_smoothing_fake"]
    with pytest.raises(InstantiationException, match=r"in \[0, 0.9\) \(below the real label\)"):
        module_with(tmp_path, ["tricks.label_smoothing=0.9", "tricks.label_smoothing_fake=0.9"])
    wgan = ["experiment=wgan_digits", "tricks.label_smoothing_fake=0.1"]
    with pytest.raises(InstantiationException, match="label_smoothing_fake smooths"):
        instantiate(compose_run(tmp_path, wgan).model)


def test_virtual_batch_normalisation_by_hand():
    reference = torch.tensor([1.0, 3.0]).view(2, 1, 1, 1)  # mean 2, mean of squares 5
    sample = torch.tensor([5.0]).view(1, 1, 1, 1)
    normalised_reference, normalised_sample = virtual_batch_normalize(reference, sample, eps=0.0)
    torch.testing.assert_close(normalised_reference.flatten(), torch.tensor([-1.0, 1.0]))
    mean, square = (2 * 2 + 5) / 3, (2 * 5 + 25) / 3  # the reference plus the sample itself
    expected = (5 - mean) / math.sqrt(square - mean**2)
    assert normalised_sample.item() == pytest.approx(expected)


def test_virtual_batchnorm_gives_a_sample_the_same_image_in_any_batch():
    torch.manual_seed(0)
    generator = VirtualBatchGenerator(DCGANGenerator(8, size=16, channels=1, width=4), 6)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in generator.modules())
    with pytest.raises(RuntimeError, match="no reference batch"):
        generator(torch.randn(2, 8))
    generator.set_reference(torch.randn(6, 8))
    z = torch.randn(5, 8)
    alone, in_batch = generator(z[:1]), generator(z)
    torch.testing.assert_close(alone[0], in_batch[0])
    torch.testing.assert_close(generator(torch.cat([z[3:], z[:1]]))[-1], in_batch[0])
    with pytest.raises(ValueError, match="has none"):
        VirtualBatchGenerator(DCGANGenerator(8, size=16, channels=1, width=4, norm="none"))


def test_instance_noise_decays_linearly_and_spares_the_condition_channels():
    assert instance_noise_std(0, 0.2, 100) == pytest.approx(0.2)
    assert instance_noise_std(50, 0.2, 100) == pytest.approx(0.1)
    assert instance_noise_std(150, 0.2, 100) == 0.0
    assert instance_noise_std(150, 0.2, None) == pytest.approx(0.2)
    layer = InstanceNoise(channels=1)
    layer.std = 0.5
    image = torch.zeros(3, 2, 4, 4)
    noisy = layer(image)
    assert noisy[:, 0].abs().sum() > 0 and noisy[:, 1].eq(0).all()
    assert layer.eval()(image).eq(0).all()


def module_with(tmp_path, overrides):
    return instantiate(compose_run(tmp_path, ["experiment=gan_digits", *overrides]).model)


def test_methods_refuse_tricks_they_cannot_take(tmp_path):
    wgan = ["experiment=wgan_digits", "tricks.label_smoothing=0.9"]
    with pytest.raises(InstantiationException, match="plays no discriminator game"):
        instantiate(compose_run(tmp_path, wgan).model)
    with pytest.raises(InstantiationException, match="holds more than the adversarial"):
        instantiate(
            compose_run(
                tmp_path, ["experiment=infogan_digits", "tricks.feature_matching=true"]
            ).model
        )
    with pytest.raises(InstantiationException, match="real label in"):
        module_with(tmp_path, ["tricks.label_smoothing=1.5"])
    with pytest.raises(ValueError, match="unknown tricks"):
        Tricks.of({"minibatch": 10})
    with pytest.raises(InstantiationException, match="no tricks.virtual_batchnorm"):
        ibgan = ["experiment=ibgan_digits", "tricks.virtual_batchnorm=true"]
        instantiate(compose_run(tmp_path, ibgan).model)
    cfg = compose_run(tmp_path, ["experiment=uda_toyfaces", "tricks.feature_matching=true"])
    with pytest.raises(ConfigError, match="tricks.feature_matching apply to the GAN-family"):
        check_config(cfg)


def test_feature_matching_and_historical_averaging_shape_the_players_losses(tmp_path):
    torch.manual_seed(0)
    tricks = ["tricks.feature_matching=true", "tricks.historical_averaging=0.5"]
    module = module_with(tmp_path, tricks)
    assert module.tricks.switched_on() == ["feature_matching", "historical_averaging"]
    batch = {"image": torch.rand(8, 1, 32, 32) * 2 - 1}
    critic_phase, generator_phase = module.phase_list
    torch.manual_seed(2)
    loss = generator_phase.loss(batch, StepContext())
    torch.manual_seed(2)
    real = module.discriminator.features(batch["image"])
    fake = module.discriminator.features(module.fake_batch(batch))
    expected = feature_matching_loss(real, fake)  # + 0.5 * 0: the parameters have not moved
    torch.testing.assert_close(loss, expected)
    with torch.no_grad():
        next(module.generator.parameters()).add_(1.0)
    first = next(module.generator.parameters())
    torch.manual_seed(2)
    moved = generator_phase.loss(batch, StepContext())
    torch.manual_seed(2)
    matched = feature_matching_loss(real, module.discriminator.features(module.fake_batch(batch)))
    torch.testing.assert_close(moved - matched, torch.tensor(0.5 * first.numel()))
    module.discriminator.eval()  # critic phase: the GAN loss, no moved parameters
    torch.manual_seed(1)
    critic_loss = critic_phase.loss(batch, StepContext())
    torch.manual_seed(1)
    torch.testing.assert_close(critic_loss, module.critic_loss(batch, StepContext()))


def test_every_trick_at_once_trains_the_digits_gan(tmp_path):
    overrides = [
        "experiment=gan_digits",
        "steps=6",
        "data.batch_size=16",
        "model.discriminator.width=8",
        "model.generator.width=8",
        "eval.n_samples=20",
        "tricks.feature_matching=true",
        "tricks.minibatch_discrimination=4",
        "tricks.historical_averaging=0.01",
        "tricks.label_smoothing=0.9",
        "tricks.virtual_batchnorm=true",
        "tricks.reference_batch_size=8",
        "tricks.instance_noise=0.1",
    ]
    run_task(compose_run(tmp_path, overrides))
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert all(math.isfinite(v) for v in report["final_losses"].values())
    assert "loss/generator_historical_average" in report["final_losses"]
    state = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    assert state["generator.has_reference"] and state["generator_ema.has_reference"]
    torch.testing.assert_close(
        state["generator.reference_latent"], state["generator_ema.reference_latent"]
    )
