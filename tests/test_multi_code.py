"""Multi-code inversion (ganlab.inversion.multi_code): the generator cut at any block draws
what the whole one draws; fusion is mGANprior's (1/N) sum F_n alpha_n; one code with
alpha = 1 is single-code inversion; hypotheses batched per block solve the same problems as
alone; the paper's grid maps onto StyleGAN2 blocks; the optimizer is Adam or mGANprior's
SGD; the self-decision picks the hypothesis of lowest FID, per image or per batch."""

import pytest
import torch

from ganlab.inversion.multi_code import (
    Hypothesis,
    MultiCodeSettings,
    build_optimizer,
    choose_per_batch,
    choose_per_image,
    down,
    fuse_features,
    hypothesis_grid,
    multi_code_invert,
    paper_blocks,
    per_image_fid,
    pggan_layer_size,
)
from ganlab.inversion.optimisation import OptimisationSettings, learning_rate, optimise_codes
from ganlab.metrics.distribution import frechet_distance
from ganlab.nets.stylegan2 import load_stylegan2, sample_w
from tests.conftest import TINY_G


@pytest.fixture(scope="module")
def tiny():
    generator, latent_avg = load_stylegan2(TINY_G)
    generator.use_grouped_conv(False).eval().requires_grad_(False)
    return generator, latent_avg


def stored_noise(generator):
    return [getattr(generator.noises, f"noise_{j}") for j in range(generator.num_layers)]


def test_head_then_tail_at_every_block_draws_the_whole_generators_image(tiny):
    generator, _ = tiny
    codes = torch.randn(2, generator.n_latent, generator.style_dim)
    whole = generator([codes], input_is_latent=True, randomize_noise=False)[0]
    noise = stored_noise(generator)
    for block in range(len(generator.to_rgbs) + 1):
        rows = generator.head_rows(block)
        features, skip = generator.synthesis_head(codes[:, :rows], block, noise)
        assert features.shape[-1] == 4 * 2**block and (skip is None) == (block == 0)
        image = generator.synthesis_tail(features, skip, codes[:, rows:], block, noise)
        torch.testing.assert_close(image, whole, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="block must lie in 0.."):
        generator.head_rows(len(generator.to_rgbs) + 1)


def test_fusion_is_the_mean_of_importance_weighted_features():
    features = torch.tensor([[1.0, 2.0], [3.0, 5.0]]).view(1, 2, 2, 1, 1)  # (B, N=2, C=2)
    importance = torch.tensor([[0.5, 1.0], [2.0, -1.0]]).view(1, 2, 2)
    fused = fuse_features(features, importance)
    # channel 0: (1 * 0.5 + 3 * 2) / 2 = 3.25; channel 1: (2 * 1 - 5) / 2 = -1.5
    torch.testing.assert_close(fused.flatten(), torch.tensor([3.25, -1.5]))
    assert down(torch.arange(16.0).view(1, 1, 4, 4), 2).flatten().tolist() == [
        2.5,
        4.5,
        10.5,
        12.5,
    ]


def test_one_code_with_fixed_unit_importance_is_single_code_inversion(tiny):
    generator, latent_avg = tiny
    targets = generator(
        [sample_w(generator, 2, rng=torch.Generator().manual_seed(3))],
        input_is_latent=True,
        randomize_noise=False,
    )[0]
    block = 2
    settings = MultiCodeSettings(
        steps=12, lr=0.05, downsample=1, lambda_perceptual=0.0, optimise_importance=False
    )
    hypothesis = [Hypothesis(block, 1)]
    multi = multi_code_invert(generator, targets, hypothesis, latent_avg, settings, progress=False)
    assert multi.mse_history.shape == (12, 2, 1)
    zero = multi_code_invert(
        generator,
        targets,
        hypothesis,
        latent_avg,
        MultiCodeSettings(steps=0, downsample=1, optimise_importance=False),
        progress=False,
    )
    w_plus = torch.cat([zero.head_codes[block][:, 0], zero.tail_codes[block][:, 0]], 1)
    single = optimise_codes(
        lambda codes, noises: generator([codes], input_is_latent=True, randomize_noise=False)[0],
        targets,
        w_plus,
        generator.n_latent,
        1.0,
        OptimisationSettings(steps=12, lr=0.05, initial_noise=0.0, lambda_perceptual=0.0),
        progress=False,
    )
    torch.testing.assert_close(multi.images[:, 0], single.images, atol=1e-5, rtol=1e-4)
    multi_codes = torch.cat([multi.head_codes[block][:, 0], multi.tail_codes[block][:, 0]], 1)
    torch.testing.assert_close(multi_codes, single.codes, atol=1e-5, rtol=1e-4)
    assert (multi.importance[block] == 1.0).all()  # fixed at 1/N = 1


def test_hypotheses_batched_per_block_equal_each_hypothesis_run_alone(tiny):
    generator, latent_avg = tiny
    targets = torch.rand(2, 3, generator.size // 2, generator.size // 2) * 2 - 1
    settings = MultiCodeSettings(steps=6, lr=0.05, downsample=2, lambda_perceptual=0.0)
    grid = hypothesis_grid([1, 2], [1, 3])
    together = multi_code_invert(generator, targets, grid, latent_avg, settings, progress=False)
    assert together.images.shape == (2, 4, 3, generator.size, generator.size)
    assert together.head_codes[1].shape[:3] == (2, 4, 3)  # 1 + 3 codes compose at block 1
    alone = multi_code_invert(generator, targets, grid[2:], latent_avg, settings, progress=False)
    torch.testing.assert_close(together.images[:, 2:], alone.images, atol=1e-5, rtol=1e-4)
    assert (together.mse_history[-1] < together.mse_history[0]).all()


def test_the_self_decision_picks_the_hypothesis_of_lowest_fid():
    rng = torch.Generator().manual_seed(0)
    reference = torch.randn(500, 4, generator=rng)
    outputs = torch.stack(
        [
            torch.randn(200, 4, generator=rng) + 2.0,  # shifted
            torch.randn(200, 4, generator=rng),  # the reference's distribution
            torch.randn(200, 4, generator=rng) * 3.0,  # too spread
        ]
    )
    chosen, fids = choose_per_batch(outputs, reference)
    assert chosen == 1 and fids[1] < min(fids[0], fids[2])
    assert fids == [pytest.approx(frechet_distance(reference, o)) for o in outputs]


def test_a_single_outputs_fid_is_its_distance_to_the_mean_plus_the_spread():
    rng = torch.Generator().manual_seed(1)
    reference = torch.randn(300, 3, generator=rng) * torch.tensor([1.0, 2.0, 0.5])
    point = torch.tensor([0.3, -1.0, 2.0])
    as_set = frechet_distance(reference, point.expand(2, 3))  # two equal samples: Sigma = 0
    single = per_image_fid(point.view(1, 1, 3), reference)
    assert single.item() == pytest.approx(as_set, rel=1e-4)
    features = torch.stack([reference.mean(0) + 5, reference.mean(0)]).view(1, 2, 3)
    assert choose_per_image(features, reference).tolist() == [1]


def test_per_image_choices_can_differ_from_the_one_choice_for_the_batch():
    """Reference N(0, I) in 2-D. Hypothesis 0 places image 0 at the mean and image 1 far off,
    hypothesis 1 both at one middling point: alone, image 0 takes hypothesis 0 (||f - mu||^2
    0 vs 0.5) and image 1 hypothesis 1 (2.88 vs 0.5); as a set, hypothesis 0's outputs,
    spread like the reference, have the lower FID (1.76 vs 2.5)."""
    reference = torch.randn(4000, 2, generator=torch.Generator().manual_seed(0))
    features = torch.tensor(  # (B=2 images, H=2 hypotheses, F=2)
        [[[0.0, 0.0], [0.5, 0.5]], [[1.2, -1.2], [0.5, 0.5]]]
    )
    assert choose_per_image(features, reference).tolist() == [0, 1]
    chosen, fids = choose_per_batch(features.transpose(0, 1), reference)
    assert chosen == 0 and fids == [pytest.approx(1.76, abs=0.15), pytest.approx(2.5, abs=0.15)]


def test_the_papers_composing_layers_map_to_the_blocks_of_the_same_feature_size():
    # mGANprior's PGGAN composes before conv `layer` (two per resolution from 4 px)
    assert [pggan_layer_size(layer) for layer in (4, 5, 6, 7, 8)] == [8, 16, 16, 32, 32]
    assert paper_blocks(8) == [1, 2, 3]  # 1024 px StyleGAN2: 8, 16, 32 px blocks
    assert paper_blocks(4) == [1, 2, 3]  # 64 px ToyFaces: all three still precede the output
    assert paper_blocks(3) == [1, 2]  # 32 px: block 3 is the output block
    assert paper_blocks(1) == []


def test_adam_is_the_default_and_sgd_is_mganpriors_constant_lr_1():
    variables = [torch.zeros(2, requires_grad=True)]
    adam = MultiCodeSettings()
    assert (adam.steps, adam.lr, adam.lr_rampup, adam.lr_rampdown) == (200, 0.05, 0.05, 0.25)
    assert isinstance(build_optimizer(variables, adam), torch.optim.Adam)
    sgd = MultiCodeSettings(optimizer="sgd")
    optimizer = build_optimizer(variables, sgd)
    assert type(optimizer) is torch.optim.SGD and optimizer.defaults["lr"] == 1.0
    assert optimizer.defaults["momentum"] == 0 and sgd.steps == 2000
    rates = [learning_rate(t, sgd.lr, sgd.lr_rampup, sgd.lr_rampdown) for t in (0, 0.5, 0.99)]
    assert rates == [1.0, 1.0, 1.0]
    assert MultiCodeSettings(optimizer="sgd", lr=0.5, steps=3000).lr == 0.5  # given: kept


def test_down_can_interpolate_bilinearly_as_mganprior():
    images = torch.arange(16.0).view(1, 1, 4, 4)
    bilinear = down(images, 2, "bilinear")  # mGANprior's SR_loss: F.interpolate, no antialias
    expected = torch.nn.functional.interpolate(images, scale_factor=0.5, mode="bilinear")
    torch.testing.assert_close(bilinear, expected)
    with pytest.raises(ValueError, match="down_mode must be one of"):
        MultiCodeSettings(down_mode="nearest")


def test_bad_settings_and_target_sizes_are_refused(tiny):
    generator, latent_avg = tiny
    with pytest.raises(ValueError, match="optimizer must be one of"):
        MultiCodeSettings(optimizer="lbfgs")
    with pytest.raises(ValueError, match="downsample >= 1"):
        MultiCodeSettings(downsample=0)
    assert hypothesis_grid([1, 1], [2]) == [Hypothesis(1, 2)]
    with pytest.raises(ValueError, match="code counts must be >= 1"):
        hypothesis_grid([1], [0])
    with pytest.raises(ValueError, match="distinct hypotheses"):
        multi_code_invert(
            generator,
            torch.zeros(1, 3, 8, 8),
            [Hypothesis(1, 2)] * 2,
            latent_avg,
            MultiCodeSettings(downsample=2),
            progress=False,
        )
    with pytest.raises(ValueError, match=r"targets must be 8 x 8 px"):
        multi_code_invert(
            generator,
            torch.zeros(1, 3, 16, 16),
            [Hypothesis(1, 2)],
            latent_avg,
            MultiCodeSettings(downsample=generator.size // 8),
            progress=False,
        )


def test_one_output_per_hypothesis_is_decided_by_its_point_mass_fid():
    reference = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
    outputs = torch.stack([reference.mean(0) + 3, reference.mean(0) + 0.1])[:, None]  # (H, 1, F)
    chosen, fids = choose_per_batch(outputs, reference)
    assert chosen == 1
    expected = per_image_fid(outputs.transpose(0, 1), reference)[0]
    torch.testing.assert_close(torch.tensor(fids, dtype=torch.float64), expected)
