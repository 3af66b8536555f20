"""CycleGAN on the two-domain frame (ganlab.methods.translation.cyclegan and .two_domain): the
loss terms by hand, the reference's GAN scaling, the nets' shapes, the linear decay, a tiny
run with its translation evaluation and translate task, and refusals."""

import json

import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from ganlab.errors import ConfigError
from ganlab.methods.base import StepContext
from ganlab.nets.cyclegan import PatchDiscriminator, ResnetTranslator
from ganlab.objectives.adversarial import get_game
from ganlab.objectives.translation import (
    cycle_consistency_loss,
    identity_mapping_loss,
    reference_critic_loss,
    reference_generator_loss,
)
from ganlab.schedules import linear_decay
from tests.conftest import compose_run


def tiny(*extra):
    overrides = ["experiment=cyclegan_toyfaces", "data.base.n_train=64", "data.base.n_val=16"]
    overrides += ["data.base.n_test=16", "data.batch_size=2", "eval.n_samples=4", "steps=4"]
    overrides += ["model.generator_ab.width=4", "model.generator_ab.n_blocks=1"]
    overrides += ["model.discriminator_a.width=4"]
    return [*overrides, *extra]


def test_reference_gan_scaling_and_l1_terms_by_hand():
    real, fake = torch.tensor([0.5, 1.0]), torch.tensor([0.0, 2.0])
    # CycleGAN's LSGAN: D = 1/2 (MSE(D(x), 1) + MSE(D(G), 0)), G = MSE(D(G), 1)
    lsgan = get_game("lsgan")
    d_expected = 0.5 * ((0.25 + 0.0) / 2 + (0.0 + 4.0) / 2)
    assert reference_critic_loss(lsgan, "lsgan", real, fake).item() == pytest.approx(d_expected)
    assert reference_generator_loss(lsgan, "lsgan", fake).item() == pytest.approx((1 + 1) / 2)
    # vanilla: D = 1/2 (BCE(D(x), 1) + BCE(D(G), 0)), G = BCE(D(G), 1)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    nsgan = get_game("nsgan")
    d_vanilla = 0.5 * (bce(real, torch.ones(2)) + bce(fake, torch.zeros(2)))
    assert reference_critic_loss(nsgan, "nsgan", real, fake).item() == pytest.approx(
        d_vanilla.item()
    )
    assert reference_generator_loss(nsgan, "nsgan", fake).item() == pytest.approx(
        bce(fake, torch.ones(2)).item()
    )
    x, y = torch.zeros(1, 1, 2, 2), torch.tensor([1.0, -1.0, 3.0, 0.0]).view(1, 1, 2, 2)
    assert cycle_consistency_loss(y, x).item() == pytest.approx(5 / 4)
    assert identity_mapping_loss(x, y).item() == pytest.approx(5 / 4)


def test_the_generator_loss_by_hand(tmp_path):
    torch.manual_seed(0)
    module = instantiate(compose_run(tmp_path, tiny()).model)
    module.phase_name = "generators"
    a, b = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    ctx = StepContext(module)
    loss = module.generator_loss({"image_a": a, "image_b": b}, ctx).item()
    g, f = module.generator_ab, module.generator_ba
    mse = torch.nn.functional.mse_loss
    adversarial = mse(module.discriminator_b(g(a)), torch.ones(1, 1, 1, 1).expand(2, 1, 2, 2))
    adversarial = adversarial + mse(
        module.discriminator_a(f(b)), torch.ones(1, 1, 1, 1).expand(2, 1, 2, 2)
    )
    cycle = (f(g(a)) - a).abs().mean() + (g(f(b)) - b).abs().mean()
    identity = (g(b) - b).abs().mean() + (f(a) - a).abs().mean()
    assert loss == pytest.approx((adversarial + 10 * cycle + 5 * identity).item(), rel=1e-5)
    assert torch.equal(ctx["fake_b"], g(a).detach()) and not ctx["fake_a"].requires_grad


def test_nets_have_the_reference_shapes():
    translator = ResnetTranslator(channels=3, width=4, n_blocks=2, n_down=2)
    assert translator(torch.zeros(2, 3, 32, 32)).shape == (2, 3, 32, 32)
    # the 70x70 PatchGAN: 256 px -> 30x30 scores, each seeing a 70x70 patch
    critic = PatchDiscriminator(channels=3, width=2, n_layers=3)
    assert critic(torch.zeros(1, 3, 256, 256)).shape == (1, 1, 30, 30)
    for index, layer in enumerate(critic.body):  # instance norm couples all positions
        if isinstance(layer, torch.nn.InstanceNorm2d):
            critic.body[index] = torch.nn.Identity()
    image = torch.zeros(1, 3, 256, 256, requires_grad=True)
    critic(image)[0, 0, 15, 15].backward()
    rows = image.grad.abs().sum((0, 1, 3)).nonzero()
    assert rows.max() - rows.min() + 1 == 70


def test_linear_decay_is_constant_then_falls_to_nearly_zero():
    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=1.0)
    schedule = linear_decay(optimizer, total_steps=10, decay_fraction=0.5)
    rates = []
    for _ in range(10):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert rates[:6] == [1.0] * 6
    assert rates[6:] == pytest.approx([1 - k / 6 for k in range(1, 5)])
    with pytest.raises(ValueError, match="decay_fraction"):
        linear_decay(optimizer, 10, 1.5)


def test_cyclegan_trains_scores_both_directions_and_translates(tmp_path):
    from PIL import Image

    from ganlab.run import run_task

    run_dir = tmp_path / "run"
    run_task(compose_run(run_dir, tiny()))
    metrics = json.loads((run_dir / "metrics.json").read_text())["metrics"]
    for direction in ("a_to_b", "b_to_a"):  # FID of the test images each domain has
        assert any(k.startswith("fid_domain_") and k.endswith(direction) for k in metrics)
    assert 0 <= metrics["attribute_accuracy_a_to_b"] <= 1
    # ToyFaces: the translation and the untranslated input against the same face rendered
    # in the target domain; the input differs from it only in the skin colour
    assert metrics["psnr_ground_truth_a_to_b"] < metrics["psnr_input_a_to_b"] < 60
    assert -1 <= metrics["identity_similarity_input_b_to_a"] <= 1
    faces = tmp_path / "faces"
    faces.mkdir()
    Image.new("RGB", (40, 40), (200, 120, 90)).save(faces / "one.png")
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    out = tmp_path / "translated"
    task = ["task=translate", f"ckpt_path={checkpoint}", f"input={faces}"]
    run_task(compose_run(out, [*task, "target=b"], main_defaults=True))
    assert (out / "translations" / "one_0.png").is_file()
    with pytest.raises(ConfigError, match="translates to a, b"):
        run_task(compose_run(tmp_path / "bad", [*task, "target=c"], main_defaults=True))


def test_cyclegan_refuses_other_domains_and_games(tmp_path):
    from ganlab.run import run_task

    with pytest.raises(ConfigError, match="set model.domains=\\['a', 'b'\\]"):
        run_task(compose_run(tmp_path / "r", tiny("model.domains=[summer,winter]")))
    with pytest.raises(InstantiationException, match="plays one of lsgan"):
        instantiate(compose_run(tmp_path, tiny("loss=wgan_gp")).model)


def test_geometric_transforms_and_their_inverses():
    from ganlab.objectives.translation import geometric_transform, inverse_geometric_transform

    x = torch.arange(6.0).view(1, 1, 2, 3)
    rotated = geometric_transform(x, "rot")
    assert torch.equal(rotated, torch.rot90(x, k=-1, dims=(2, 3)))  # clockwise
    assert rotated[0, 0].tolist() == [[3.0, 0.0], [4.0, 1.0], [5.0, 2.0]]
    for name in ("rot", "vflip"):
        assert torch.equal(inverse_geometric_transform(geometric_transform(x, name), name), x)
    assert geometric_transform(x, "vflip")[0, 0].tolist() == [[3.0, 4.0, 5.0], [0.0, 1.0, 2.0]]
    with pytest.raises(ValueError, match="unknown geometric transform"):
        geometric_transform(x, "shear")


@pytest.mark.parametrize("transform", ["rot", "vflip"])
def test_geometry_consistency_by_hand(transform):
    from ganlab.objectives.translation import (
        geometric_transform,
        geometry_consistency_loss,
        inverse_geometric_transform,
    )

    torch.manual_seed(0)
    g_x = torch.randn(2, 1, 3, 3, requires_grad=True)
    g_fx = torch.randn(2, 1, 3, 3, requires_grad=True)
    loss = geometry_consistency_loss(g_x, g_fx, transform)
    expected = (g_x - inverse_geometric_transform(g_fx, transform)).abs().mean()
    expected = expected + (g_fx - geometric_transform(g_x, transform)).abs().mean()
    assert loss.item() == pytest.approx(expected.item())
    detached = geometry_consistency_loss(g_x, g_fx, transform, detach_targets=True)
    assert detached.item() == pytest.approx(expected.item())  # the same value
    # an equivariant pair (G(f(x)) = f(G(x))) costs nothing
    assert geometry_consistency_loss(g_x, geometric_transform(g_x, transform), transform) == 0
    (paper_grad,) = torch.autograd.grad(loss, g_x)  # both terms: 2 x sign / 18 per entry
    assert paper_grad.abs().sum().item() == pytest.approx(2.0)
    (detached_grad,) = torch.autograd.grad(detached, g_x)  # its own term only: sign / 18
    assert detached_grad.abs().sum().item() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("transform", "detached_gradient"),
    [("vflip", [[-0.5, -0.5], [0.5, 0.5]]), ("rot", [[-0.5, 0.0], [0.0, 0.5]])],
)
def test_the_paper_geometry_loss_gives_a_linear_generator_twice_the_detached_gradient(
    transform, detached_gradient
):
    from ganlab.objectives.translation import geometric_transform, geometry_consistency_loss

    # G(x) = W * x, a gain per pixel: linear, equivariant only where W = f(W)
    gain = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2).requires_grad_()
    x = torch.ones(1, 1, 2, 2)  # f(x) = x, so G(x) = G(f(x)) = W

    def gradient(detach_targets):
        loss = geometry_consistency_loss(
            gain * x, gain * geometric_transform(x, transform), transform, detach_targets
        )
        return torch.autograd.grad(loss, gain)[0].view(2, 2)

    # L_geo = mean |W - f^-1(W)| + mean |W - f(W)|. Detached, W gets only the non-target
    # sides: (sign(W - f^-1(W)) + sign(W - f(W))) / 4. vflip: f^-1(W) = f(W) = [[3, 4], [1, 2]];
    # rot: f^-1(W) = [[2, 4], [1, 3]], f(W) = [[3, 1], [4, 2]]
    torch.testing.assert_close(gradient(True), torch.tensor(detached_gradient))
    # the paper's L_geo: each target's gradient adds as much again, so lambda_geo acts twice
    torch.testing.assert_close(gradient(False), 2 * torch.tensor(detached_gradient))


def test_gcgan_is_one_sided_and_trains(tmp_path):
    from ganlab.run import run_task

    overrides = [
        arg.replace("cyclegan_toyfaces", "gcgan_toyfaces").replace(
            "discriminator_a", "discriminator_b"
        )
        for arg in tiny()
    ]
    module = instantiate(compose_run(tmp_path, overrides).model)
    names = dict(module.named_children())
    assert "generator_ba" not in names and "discriminator_a" not in names
    assert {"generator_ab", "discriminator_b", "discriminator_gc_b"} <= set(names)
    assert module.translation_targets == ("b",)
    assert module.geometry_target == "paper"  # the reference's detached targets: an option
    bad = [*overrides, "model.geometry_target=stopped"]
    with pytest.raises(InstantiationException, match="one of paper, detached, got 'stopped'"):
        instantiate(compose_run(tmp_path, bad).model)
    run_task(compose_run(tmp_path / "run", overrides))
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())["metrics"]
    assert any(k.endswith("a_to_b") for k in metrics)
    assert not any(k.endswith("b_to_a") for k in metrics)


def test_distances_and_their_standardised_loss_by_hand():
    from ganlab.objectives.translation import (
        distance_preservation_loss,
        half_distances,
        pairwise_distances,
    )

    x = torch.tensor([0.0, 1.0, 3.0]).view(3, 1, 1, 1)
    assert pairwise_distances(x).tolist() == [1.0, 3.0, 2.0]  # (0,1), (0,2), (1,2)
    y = torch.tensor([0.0, 2.0, 2.0]).view(3, 1, 1, 1)
    stats_x, stats_y = torch.tensor([2.0, 1.0]), torch.tensor([1.0, 2.0])
    # x: (d - 2) / 1 = -1, 1, 0; y: d = 2, 2, 0 -> (d - 1) / 2 = 0.5, 0.5, -0.5
    loss = distance_preservation_loss(
        pairwise_distances(x), pairwise_distances(y), stats_x, stats_y
    )
    assert loss.item() == pytest.approx((1.5 + 0.5 + 0.5) / 3)
    image = torch.tensor([[1.0, 2.0], [4.0, 0.0]]).view(1, 1, 2, 2)
    assert half_distances(image).tolist() == [pytest.approx((3 + 2) / 2)]


def distancegan_overrides(*extra):
    overrides = [
        arg.replace("cyclegan_toyfaces", "distancegan_toyfaces").replace(
            "discriminator_a", "discriminator_b"
        )
        for arg in tiny()
    ]
    return [*overrides, "model.stats_batches=5", *extra]


def test_distancegan_measures_the_domains_distances_and_trains(tmp_path):
    from ganlab.run import run_task

    module = instantiate(compose_run(tmp_path, distancegan_overrides()).model)
    assert not hasattr(module, "generator_ba") and not bool(module.stats_ready)
    torch.manual_seed(0)
    a = [torch.rand(2, 3, 4, 4) for _ in range(3)]
    b = [torch.rand(2, 3, 4, 4) * 3 for _ in range(3)]
    module.measure_distance_stats([{"image_a": x, "image_b": y} for x, y in zip(a, b, strict=True)])
    distances_b = torch.stack([(y[0] - y[1]).abs().mean() for y in b])
    torch.testing.assert_close(
        module.distance_stats[1], torch.stack([distances_b.mean(), distances_b.std()])
    )
    run_dir = tmp_path / "run"
    run_task(
        compose_run(run_dir, distancegan_overrides("model.cycle=true", "model.self_distance=true"))
    )
    from ganlab.checkpoints import read_checkpoint

    state = read_checkpoint(run_dir / "checkpoints" / "last.ckpt")["state_dict"]
    assert bool(state["stats_ready"]) and state["distance_stats"][:, 1].gt(0).all()
    assert "generator_ba.body.1.weight" in state  # cycle=true builds the reverse generator


def test_cyclegan_on_two_processes_equals_one_process_with_twice_the_batch(tmp_path):
    """float64: 2 gloo processes with batch 2 end where 1 process with batch 4 does (both
    generators, both discriminators, the pools on the global batch, EMA, the LR decay)."""
    from tests.conftest import final_state, train_on_one_and_two_processes

    common = [
        "experiment=cyclegan_toyfaces",
        "data.base.n_train=96",
        "data.base.n_val=24",
        "data.base.n_test=24",
        "steps=6",
        "trainer.precision=64-true",
        "logger=csv",
        "callbacks=default",
        "callbacks.progress=null",
        "callbacks.samples=null",
        "callbacks.evaluation=null",
        "callbacks.lr_monitor=null",
        "model.generator_ab.width=4",
        "model.generator_ab.n_blocks=1",
        "model.discriminator_a.width=4",
        "model.pool_size=6",
        "eval.n_samples=8",
    ]
    run_dirs = train_on_one_and_two_processes(tmp_path, common, batch=2)
    states = {name: final_state(run_dir) for name, run_dir in run_dirs.items()}
    assert states["two"].keys() == states["one"].keys()
    torch.testing.assert_close(states["two"], states["one"], rtol=0, atol=1e-9)
    assert len(states["one"]["pools.b._extra_state"]["images"]) == 6


def unit_overrides(*extra):
    overrides = [arg.replace("cyclegan_toyfaces", "unit_toyfaces") for arg in tiny()]
    overrides = [arg for arg in overrides if not arg.startswith("model.generator_ab")]
    return [*overrides, "model.encoder_a.width=4", "model.encoder_a.n_residual=1", *extra]


def test_unit_shares_its_latent_layers_and_translates_without_noise(tmp_path):
    from ganlab.objectives.translation import latent_kl

    assert latent_kl(torch.tensor([[1.0, -2.0], [0.0, 3.0]])).item() == pytest.approx(14 / 4)
    torch.manual_seed(0)
    module = instantiate(compose_run(tmp_path, unit_overrides()).model)
    # one shared encoder layer and one shared decoder layer serve both domains
    trained = dict(module.named_children())
    assert {"shared_encoder", "shared_decoder", "encoder_a", "decoder_b"} <= set(trained)
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    private = module.encoder_a(images)
    torch.testing.assert_close(module.encode(images, "a"), module.shared_encoder(private))
    # the generators' player trains every encoder and decoder, the shared ones once
    generators = module.player_table["generators"].nets
    assert generators.count("shared_encoder") == 1 and "decoder_a" in generators
    # unimodal: translating twice gives the same images (diversity 0)
    assert torch.equal(module.translate(images, "b"), module.translate(images, "b"))
    module.phase_name = "generators"
    ctx = StepContext(module)
    loss = module.generator_loss({"image_a": images, "image_b": images.flip(3)}, ctx)
    assert loss.requires_grad and ctx["fake_b"].shape == images.shape


def test_unit_trains(tmp_path):
    from ganlab.run import run_task

    run_task(compose_run(tmp_path / "run", unit_overrides()))
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())["metrics"]
    assert any(k.endswith("b_to_a") for k in metrics) and any(k.endswith("a_to_b") for k in metrics)


def test_adaptive_instance_norm_by_hand():
    from ganlab.nets.munit import adaptive_instance_norm

    x = torch.tensor([1.0, 3.0, 5.0, 7.0]).view(1, 1, 2, 2)  # mean 4, std sqrt(5)
    out = adaptive_instance_norm(x, torch.tensor([[2.0]]), torch.tensor([[1.0]]), eps=0.0)
    expected = 2 * (torch.tensor([1.0, 3.0, 5.0, 7.0]) - 4) / 5**0.5 + 1
    torch.testing.assert_close(out.flatten(), expected)


def test_domain_invariant_perceptual_loss_by_hand():
    from ganlab.objectives.translation import domain_invariant_perceptual_loss

    # per channel: (x - mean) / std over the map (biased variance, eps 1e-5)
    translated = torch.tensor([1.0, 3.0, 5.0, 7.0]).view(1, 1, 2, 2)  # mean 4, var 5
    source = torch.tensor([2.0, 2.0, 0.0, 4.0]).view(1, 1, 2, 2)  # mean 2, var 2
    normalised_t = (translated.flatten() - 4) / (5 + 1e-5) ** 0.5
    normalised_s = (source.flatten() - 2) / (2 + 1e-5) ** 0.5
    expected = ((normalised_t - normalised_s) ** 2).mean()
    torch.testing.assert_close(domain_invariant_perceptual_loss(translated, source), expected)
    # a per-channel affine change of the features (a domain's statistics) costs nothing
    zero = domain_invariant_perceptual_loss(3 * translated + 2, translated)
    torch.testing.assert_close(zero, torch.tensor(0.0), atol=1e-5, rtol=0)


def munit_overrides(*extra):
    overrides = [arg.replace("cyclegan_toyfaces", "munit_toyfaces") for arg in tiny()]
    overrides = [
        arg for arg in overrides if not arg.startswith(("model.generator_ab", "model.disc"))
    ]
    overrides += ["model.content_encoder_a.width=4", "model.content_encoder_a.n_residual=1"]
    return [*overrides, "model.decoder_a.mlp_dim=8", "model.discriminator_a.width=4", *extra]


def test_munit_draws_a_style_per_seed_where_unit_has_one_output(tmp_path):
    torch.manual_seed(0)
    munit = instantiate(compose_run(tmp_path, munit_overrides()).model)
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    first, again = munit.translate(images, "b", seed=0), munit.translate(images, "b", seed=0)
    assert torch.equal(first, again)  # a seed fixes the style
    assert not torch.allclose(first, munit.translate(images, "b", seed=1), atol=1e-4)
    scores = munit.discriminator_a(images)
    assert [s.shape[-1] for s in scores] == [4, 2]  # two scales of a 3-layer patch critic
    munit.phase_name = "generators"
    ctx = StepContext(munit)
    loss = munit.generator_loss({"image_a": images, "image_b": images.flip(3)}, ctx)
    assert loss.requires_grad and "loss/generators/style" in munit._step_logs
    assert "loss/generators/cycle" not in munit._step_logs  # weight 0 in the default config
    unit = instantiate(compose_run(tmp_path, unit_overrides()).model)
    assert torch.equal(unit.translate(images, "b", seed=0), unit.translate(images, "b", seed=1))


def test_munit_perceptual_loss_reads_the_frozen_nets_deepest_maps(tmp_path):
    from ganlab.objectives.translation import domain_invariant_perceptual_loss

    torch.manual_seed(0)
    overrides = munit_overrides("model.lambda_perceptual=1", "model.perceptual=domain_toyfaces")
    munit = instantiate(compose_run(tmp_path, overrides).model)
    assert "perceptual_net" in munit.frozen_sources  # stored by name and fingerprint
    a, b = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    deepest = munit.perceptual_net.maps(a)[-1]
    assert deepest.shape[1] == munit.perceptual_net.net.body[-1][0].out_channels
    expected = domain_invariant_perceptual_loss(deepest, munit.perceptual_net.maps(b)[-1])
    torch.testing.assert_close(munit.perceptual_loss(a, b), expected)
    munit.phase_name = "generators"
    munit.generator_loss({"image_a": a, "image_b": b}, StepContext(munit))
    assert "loss/generators/perceptual" in munit._step_logs
    with pytest.raises(InstantiationException, match="needs model.perceptual"):
        instantiate(compose_run(tmp_path, munit_overrides("model.lambda_perceptual=1")).model)
    with pytest.raises(InstantiationException, match="pooled features only"):
        bad = munit_overrides("model.lambda_perceptual=1", "model.perceptual=identity_toyfaces")
        instantiate(compose_run(tmp_path, bad).model)


def test_munit_trains_and_reports_diversity(tmp_path):
    from ganlab.run import run_task

    run_task(compose_run(tmp_path / "run", munit_overrides()))
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())["metrics"]
    assert metrics["lpips_diversity_a_to_b"] > 0 and metrics["lpips_diversity_b_to_a"] > 0


def test_printed_digits_are_seeded_labelled_and_white_on_black():
    from ganlab.data.digit_domains import DigitDomainsDataModule, render_printed_digits

    images, labels = render_printed_digits(20, 32, seed=0, split="train")
    again, _ = render_printed_digits(20, 32, seed=0, split="train")
    other, _ = render_printed_digits(20, 32, seed=0, split="test")
    assert torch.equal(images, again) and not torch.equal(images, other)
    assert labels.tolist() == [i % 10 for i in range(20)]
    assert images.shape == (20, 1, 32, 32) and images.min() == -1 and images.max() > 0.9
    assert images[:, :, 0, :].max() < 0  # the top row is paper (ink stays inside the frame)
    data = DigitDomainsDataModule(n_printed_train=30, n_printed_test=10, batch_size=4)
    batch = next(iter(data.train_dataloader()))
    assert set(batch) == {"image_a", "label_a", "image_b", "label_b", "image"}
    assert len(data.domain_dataset("test", "handwritten")) == 359  # 20 % of 1,797 scans


def da_overrides(*extra):
    overrides = ["experiment=unit_digits_da", "data.n_printed_train=64", "data.n_printed_test=20"]
    overrides += ["data.batch_size=4", "steps=3", "eval.n_samples=8", "model.encoder_a.width=4"]
    return [*overrides, "model.discriminator_a.width=4", *extra]


LATENT_CLASSIFIER = ["model.classifier=latent"]


@pytest.mark.parametrize("place", ["latent", "discriminator"])
@pytest.mark.parametrize("adaptation", [True, False])
def test_unit_adapts_a_classifier_on_the_latent_or_the_discriminators(tmp_path, adaptation, place):
    from ganlab.run import run_task

    layout = LATENT_CLASSIFIER if place == "latent" else []  # the experiment's: discriminator
    overrides = da_overrides(f"model.adaptation={adaptation}", *layout)
    run_dir = tmp_path / "run"
    run_task(compose_run(run_dir, overrides))
    report = json.loads((run_dir / "metrics.json").read_text())
    for domain, side in (("printed", "a"), ("handwritten", "b")):
        assert 0 <= report["metrics"][f"da_accuracy_{domain}"] <= 1
        protocol = report["protocol"][f"da_accuracy_{domain}"]
        assert protocol["labelled_in_training"] is (side == "a")
        # without adaptation the target goes through the labelled domain's path
        path = side if adaptation else "a"
        net = "discriminator" if place == "discriminator" else "encoder"
        assert protocol["path"] == f"{net}_{path}"
    module = instantiate(compose_run(tmp_path, overrides).model)
    if adaptation:
        assert [phase.name for phase in module.phase_list] == ["generators", "discriminators"]
    else:
        trainer = "discriminators" if place == "discriminator" else "generators"
        assert [(phase.name, phase.player) for phase in module.phase_list] == [
            ("source_only", trainer)
        ]
    module.phase_name = "generators"
    batch = {"image_a": torch.zeros(2, 1, 32, 32), "image_b": torch.zeros(2, 1, 32, 32)}
    with pytest.raises(ValueError, match="trains on the labels of domain a"):
        module.classification_loss(batch)


def test_the_unit_da_experiments_train_on_units_own_losses_alone(tmp_path):
    for experiment in ("unit_digits_da", "unit_svhn_mnist"):
        cfg = compose_run(tmp_path, [f"experiment={experiment}"])
        assert cfg.model.lambda_translated_class == 0, experiment  # ours is an extension row
    torch.manual_seed(0)
    module = instantiate(compose_run(tmp_path, da_overrides()).model)
    images = torch.linspace(-1, 1, 4 * 32 * 32).view(4, 1, 32, 32)
    batch = {"image_a": images, "image_b": images.flip(3), "label_a": torch.tensor([0, 1, 2, 3])}
    weights = {
        "generators": {
            "adversarial": 10.0,  # UNIT's NIPS'17 weights
            "reconstruction": 100.0,
            "kl": 0.1,
            "cycle": 100.0,
            "cycle_kl": 0.1,
        },
        "discriminators": {"adversarial": 1.0, "classification": 10.0, "feature_consistency": 1.0},
    }
    ctx = StepContext(module)
    for phase, loss in (
        ("generators", module.generator_loss),
        ("discriminators", module.discriminator_loss),
    ):
        module.phase_name, module._step_logs = phase, {}
        total = loss(batch, ctx)
        logged = {k.split("/")[-1]: v for k, v in module._step_logs.items()}
        # the discriminators' adversarial term also logs its two domains' parts, a and b
        terms = {k: v for k, v in logged.items() if k not in ("a", "b")}
        assert set(terms) == set(weights[phase]), phase  # no translated_classification
        by_name = sum(weights[phase][name] * value for name, value in terms.items())
        torch.testing.assert_close(total.detach(), by_name)


def test_unit_discriminators_share_their_high_level_layers_and_match_translation_features(
    tmp_path,
):
    from ganlab.methods.base import StepContext
    from ganlab.nets.unit import DomainDiscriminator

    torch.manual_seed(0)
    module = instantiate(compose_run(tmp_path, da_overrides()).model)  # the paper's losses
    d_a, d_b = module.discriminator_a, module.discriminator_b
    assert d_a.high is d_b.high and d_a.classes is d_b.classes and d_a.low is not d_b.low
    # one copy of the shared layers in the discriminators' optimizer
    module.configure_optimizers()
    params = module._player_params["discriminators"]
    assert len(params) == len({id(p) for p in params})
    assert len(params) == len(list(module.get_submodule("discriminator_a").parameters())) + len(
        list(d_b.low.parameters())
    )
    # the feature-consistency term by hand: mean |f_b(x_ab) - f_a(x_aa)| + the other direction
    x = {k: torch.randn(2, 1, 32, 32) for k in ("fake_a", "fake_b", "recon_a", "recon_b")}
    labels = torch.tensor([3, 7])
    batch = {"image_a": torch.randn(2, 1, 32, 32), "label_a": labels}
    batch["image_b"] = torch.randn(2, 1, 32, 32)
    ctx = StepContext(module)
    for key, value in x.items():
        ctx[key] = value
    module.phase_name = "discriminators"
    total = module.discriminator_loss(batch, ctx)
    logs = module._step_logs
    by_hand = (d_b.features(x["fake_b"]) - d_a.features(x["recon_a"])).abs().mean() + (
        d_a.features(x["fake_a"]) - d_b.features(x["recon_b"])
    ).abs().mean()
    cross_entropy = torch.nn.functional.cross_entropy(d_a.classify(batch["image_a"]), labels)
    assert torch.allclose(logs["loss/discriminators/feature_consistency"], by_hand)
    assert torch.allclose(logs["loss/discriminators/classification"], cross_entropy)
    adversarial = logs["loss/discriminators/adversarial"]
    weights = module.lambda_class, module.lambda_feature
    assert torch.allclose(total, adversarial + weights[0] * cross_entropy + weights[1] * by_hand)
    assert "loss/discriminators/translated_classification" not in logs
    # ours: the class head also learns the translations x_ab with the labels of a, through D_b
    module.lambda_translated_class = 2.0
    again = module.discriminator_loss(batch, ctx)
    translated = torch.nn.functional.cross_entropy(d_b.classify(x["fake_b"]), labels)
    logged = module._step_logs["loss/discriminators/translated_classification"]
    assert torch.allclose(logged, translated)
    assert torch.allclose(again, total + 2.0 * translated)
    with pytest.raises(ConfigError, match="n_shared is between 1 and n_layers=3"):
        DomainDiscriminator(1, 4, n_layers=3, n_shared=4)
    plain = [
        "model.discriminator_a._target_=ganlab.nets.cyclegan.PatchDiscriminator",
        "~model.discriminator_a.n_shared",
        "~model.discriminator_a.n_classes",
    ]
    with pytest.raises(InstantiationException, match="DomainDiscriminator with n_classes=10"):
        instantiate(compose_run(tmp_path, da_overrides(*plain)).model)
    latent = ["model.classifier=latent", "model.lambda_translated_class=1"]
    with pytest.raises(InstantiationException, match="needs model.classifier=discriminator"):
        instantiate(compose_run(tmp_path, da_overrides(*latent)).model)
