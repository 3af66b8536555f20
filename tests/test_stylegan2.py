"""StyleGAN2 nets against the rosinality/stylegan2-pytorch fixtures: exact outputs of a tiny
checkpoint, full-size state_dict layouts, checkpoint errors, latent tools, discriminator."""

import json
from pathlib import Path

import pytest
import torch

from ganlab.errors import CheckpointError, MissingWeightsError
from ganlab.nets.stylegan2 import (
    Discriminator,
    Generator,
    interpolate_latents,
    load_stylegan2,
    sample_w,
    to_w_plus,
    truncate,
)

# the fixture of tests/fixtures/stylegan2_rosinality (its README states the conventions)
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "stylegan2_rosinality"
IMG_TOL = {"atol": 1e-4, "rtol": 1e-5}
W_TOL = {"atol": 1e-5, "rtol": 0}


@pytest.fixture(scope="module")
def tiny():
    generator, latent_avg = load_stylegan2(FIXTURES / "tiny_g.pt")
    return generator.eval(), latent_avg


@pytest.fixture(scope="module")
def expected():
    return torch.load(FIXTURES / "expected.pt", weights_only=True)


def test_tiny_checkpoint_config_and_latent_avg(tiny, expected):
    generator, latent_avg = tiny
    assert (generator.n_latent, generator.num_layers) == (expected["n_latent"], 6 - 1)
    assert generator.latent_dim == generator.style_dim == 64
    torch.testing.assert_close(latent_avg, expected["truncation"]["truncation_latent"], **W_TOL)
    # the fixture's latent_avg: mean of 4096 mapped z drawn by a generator seeded with 1
    recomputed = generator.mean_latent(4096, rng=torch.Generator().manual_seed(1))
    assert recomputed.shape == (1, 64)
    torch.testing.assert_close(recomputed[0], latent_avg, **W_TOL)
    for j, buffer in enumerate(expected["noise_buffers"]):
        torch.testing.assert_close(getattr(generator.noises, f"noise_{j}"), buffer)


@torch.no_grad()
def test_mapping_matches_reference(tiny, expected):
    generator, _ = tiny
    torch.testing.assert_close(generator.get_latent(expected["z"]), expected["w"], **W_TOL)
    steps = expected["intermediates_z"]
    torch.testing.assert_close(generator.style[0](expected["z"]), steps["style.0"]["out"])


@torch.no_grad()
def test_images_match_reference(tiny, expected):
    generator, _ = tiny
    image, latent = generator([expected["z"]], randomize_noise=False, return_latents=True)
    torch.testing.assert_close(image, expected["img_z"], **IMG_TOL)
    torch.testing.assert_close(latent, expected["latent_z"], **W_TOL)

    image, latent = generator([expected["w"]], input_is_latent=True, randomize_noise=False)
    assert latent is None
    torch.testing.assert_close(image, expected["img_w"], **IMG_TOL)

    image, _ = generator([expected["wplus"]], input_is_latent=True, randomize_noise=False)
    torch.testing.assert_close(image, expected["img_wplus"], **IMG_TOL)

    case = expected["truncation"]
    image, latent = generator(
        [case["z"]],
        truncation=case["psi"],
        truncation_latent=case["truncation_latent"],
        randomize_noise=False,
        return_latents=True,
    )
    torch.testing.assert_close(image, case["img"], **IMG_TOL)
    torch.testing.assert_close(latent, case["latent"], **W_TOL)

    case = expected["mixing"]
    image, latent = generator(
        [case["z1"], case["z2"]],
        inject_index=case["inject_index"],
        randomize_noise=False,
        return_latents=True,
    )
    torch.testing.assert_close(image, case["img"], **IMG_TOL)
    torch.testing.assert_close(latent, case["latent"], **W_TOL)

    case = expected["noise_explicit"]
    image, _ = generator([case["w"]], input_is_latent=True, noise=case["noise"])
    torch.testing.assert_close(image, case["img"], **IMG_TOL)


@torch.no_grad()
def test_random_noise_and_mixing_run(tiny, expected):
    generator, _ = tiny
    z = expected["z"][:2]
    first, _ = generator([z])
    second, _ = generator([z])
    assert not torch.equal(first, second)  # fresh noise each call
    image, latent = generator([z, expected["mixing"]["z2"][:2]], return_latents=True)
    assert image.shape == (2, 3, 16, 16) and latent.shape == (2, 6, 64)
    assert [tuple(n.shape) for n in generator.make_noise()] == [
        (1, 1, 4, 4),
        (1, 1, 8, 8),
        (1, 1, 8, 8),
        (1, 1, 16, 16),
        (1, 1, 16, 16),
    ]


@torch.no_grad()
def test_bare_state_dict_infers_config(tmp_path, expected):
    ckpt = torch.load(FIXTURES / "tiny_g.pt", weights_only=True)
    torch.save(ckpt["g_ema"], tmp_path / "bare.pt")
    generator, latent_avg = load_stylegan2(tmp_path / "bare.pt")
    assert (generator.size, generator.style_dim, generator.n_latent) == (16, 64, 6)
    assert generator.channels == {4: 32, 8: 32, 16: 32}
    assert latent_avg.shape == (64,)  # from mean_latent, the file has none
    image, _ = generator.eval()([expected["z"]], randomize_noise=False)
    torch.testing.assert_close(image, expected["img_z"], **IMG_TOL)


def edited_checkpoint(tmp_path: Path, edit) -> Path:
    ckpt = torch.load(FIXTURES / "tiny_g.pt", weights_only=True)
    edit(ckpt["g_ema"])
    torch.save(ckpt, tmp_path / "edited.pt")
    return tmp_path / "edited.pt"


@pytest.mark.parametrize(
    "edit, pattern",
    [
        (lambda s: s.pop("convs.1.noise.weight"), r"missing keys: convs\.1\.noise\.weight"),
        (
            lambda s: s.update({"convs.9.conv.weight": torch.zeros(1)}),
            r"unexpected keys: convs\.9\.conv\.weight",
        ),
        (
            lambda s: s.update({"conv1.activate.bias": torch.zeros(31)}),
            r"conv1\.activate\.bias: checkpoint \(31,\) vs model \(32,\)",
        ),
    ],
    ids=["missing", "extra", "shape"],
)
def test_bad_checkpoint_names_the_keys(tmp_path, edit, pattern):
    with pytest.raises(CheckpointError, match=pattern):
        load_stylegan2(edited_checkpoint(tmp_path, edit))


def test_all_problems_in_one_message(tmp_path):
    def edit(state):
        state.pop("style.2.bias")
        state["extra.weight"] = torch.zeros(2)
        state["to_rgb1.bias"] = torch.zeros(1, 3, 2, 1)

    with pytest.raises(CheckpointError) as info:
        load_stylegan2(edited_checkpoint(tmp_path, edit))
    message = str(info.value)
    assert "missing keys: style.2.bias" in message
    assert "unexpected keys: extra.weight" in message
    assert "to_rgb1.bias: checkpoint (1, 3, 2, 1) vs model (1, 3, 1, 1)" in message


def test_config_overrides_win(tmp_path):
    with pytest.raises(CheckpointError, match="missing keys: style.3.weight"):
        load_stylegan2(FIXTURES / "tiny_g.pt", n_mlp=3)


def test_missing_file_says_where_weights_come_from(tmp_path):
    path = tmp_path / "stylegan2-ffhq-config-f.pt"
    with pytest.raises(MissingWeightsError, match="rosinality/stylegan2-pytorch") as info:
        load_stylegan2(path)
    assert str(path) in str(info.value) and "pixel2style2pixel" in str(info.value)


@pytest.mark.parametrize(
    "size, listing", [(256, "keys_256.json"), (1024, "keys_ffhq_1024_config_f.json")]
)
def test_full_size_layout(size, listing):
    with torch.device("meta"):
        generator = Generator(size, 512, 8, channel_multiplier=2)
    expected = json.loads((FIXTURES / listing).read_text())
    got = {name: list(t.shape) for name, t in generator.state_dict().items()}
    assert list(got) == list(expected)  # same keys in the same order
    assert got == expected
    assert generator.n_latent == {256: 14, 1024: 18}[size]


def discriminator_keys(n_blocks: int) -> list[str]:
    keys = ["convs.0.0.weight", "convs.0.1.bias"]
    for i in range(1, n_blocks + 1):
        keys += [
            f"convs.{i}.{name}"
            for name in (
                "conv1.0.weight",
                "conv1.1.bias",
                "conv2.0.kernel",  # blur: a buffer, no parameters
                "conv2.1.weight",
                "conv2.2.bias",
                "skip.0.kernel",
                "skip.1.weight",
            )
        ]
    keys += ["final_conv.0.weight", "final_conv.1.bias"]
    keys += ["final_linear.0.weight", "final_linear.0.bias"]
    return keys + ["final_linear.1.weight", "final_linear.1.bias"]


def test_discriminator_layout_256_meta():
    with torch.device("meta"):
        critic = Discriminator(256, channel_multiplier=2)
    state = critic.state_dict()
    assert list(state) == discriminator_keys(6)
    assert state["convs.0.0.weight"].shape == (128, 3, 1, 1)
    assert state["convs.1.conv2.1.weight"].shape == (256, 128, 3, 3)
    assert state["convs.1.skip.1.weight"].shape == (256, 128, 1, 1)
    assert state["final_conv.0.weight"].shape == (512, 513, 3, 3)  # + the stddev map
    assert state["final_linear.0.weight"].shape == (512, 512 * 16)
    assert state["final_linear.1.weight"].shape == (1, 512)


def test_discriminator_forward_16px():
    torch.manual_seed(0)
    critic = Discriminator(16, channels={4: 16, 8: 16, 16: 8})
    assert list(critic.state_dict()) == discriminator_keys(2)
    assert critic(torch.randn(8, 3, 16, 16)).shape == (8, 1)
    assert critic(torch.randn(2, 3, 16, 16)).shape == (2, 1)
    with pytest.raises(ValueError, match="batch size 6 is not a multiple"):
        critic(torch.randn(6, 3, 16, 16))


def test_generator_gradients_reach_every_parameter():
    torch.manual_seed(0)
    generator = Generator(16, 16, 2, channels={4: 8, 8: 8, 16: 8})
    image, _ = generator([torch.randn(2, 16)])
    assert image.shape == (2, 3, 16, 16)
    image.mean().backward()
    for name, param in generator.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name


def test_bad_sizes_and_channel_tables_are_rejected():
    with pytest.raises(ValueError, match="power-of-two image size >= 4, got 48"):
        Generator(48, 8, 1)
    with pytest.raises(ValueError, match=r"no entry for resolutions \[16\]"):
        Discriminator(16, channels={4: 8, 8: 8})


def test_truncation_and_w_plus():
    w = torch.randn(5, 8)
    avg = torch.randn(8)
    assert torch.equal(truncate(w, avg, 1.0), w)
    torch.testing.assert_close(truncate(w, avg, 0.0), avg.expand(5, 8))
    w_plus = to_w_plus(w, 6)
    assert w_plus.shape == (5, 6, 8) and torch.equal(w_plus[:, 3], w)
    assert to_w_plus(w_plus, 6) is w_plus
    torch.testing.assert_close(truncate(w_plus, avg, 0.0), avg.expand(5, 6, 8))
    with pytest.raises(ValueError, match="W\\+ code has 6 layers, the generator needs 4"):
        to_w_plus(w_plus, 4)


def test_interpolation_endpoints_and_paths():
    a, b = torch.randn(3, 8), torch.randn(3, 8)
    for space in ("z", "w"):
        path = interpolate_latents(a, b, 5, space=space)
        assert path.shape == (5, 3, 8)
        torch.testing.assert_close(path[0], a)
        torch.testing.assert_close(path[-1], b)
    torch.testing.assert_close(interpolate_latents(a, b, 3, space="w")[1], (a + b) / 2)
    # slerp between equal-norm codes stays on their sphere
    b = b / b.norm(dim=-1, keepdim=True) * a.norm(dim=-1, keepdim=True)
    norms = interpolate_latents(a, b, 7, space="z").norm(dim=-1)
    torch.testing.assert_close(norms, a.norm(dim=-1).expand(7, 3))
    # a parallel pair has no arc: that row falls back to lerp, the others still slerp
    b[0] = 2 * a[0]
    path = interpolate_latents(a, b, 3, space="z")
    torch.testing.assert_close(path[1, 0], 1.5 * a[0])
    assert torch.isfinite(path).all()
    with pytest.raises(ValueError, match="unknown latent space 'x'"):
        interpolate_latents(a, b, 3, space="x")


def test_sample_w_is_seeded_and_truncates():
    torch.manual_seed(0)
    generator = Generator(8, 16, 2, channels={4: 8, 8: 8})
    first = sample_w(generator, 4, rng=torch.Generator().manual_seed(3))
    again = sample_w(generator, 4, rng=torch.Generator().manual_seed(3))
    assert first.shape == (4, 16) and torch.equal(first, again)
    avg = generator.mean_latent(256)
    collapsed = sample_w(generator, 4, truncation=0.0, truncation_latent=avg)
    torch.testing.assert_close(collapsed, avg.expand(4, 16))
    with pytest.raises(ValueError, match="needs truncation_latent"):
        sample_w(generator, 4, truncation=0.5)


def test_shared_weight_modulation_computes_the_grouped_convs_function():
    """conv(x * s, w) * demod equals the per-sample modulated weights (Eqs. 1-3), with gradients."""
    generator, _ = load_stylegan2(FIXTURES / "tiny_g.pt")
    z = torch.randn(4, generator.style_dim, generator=torch.Generator().manual_seed(0))
    noise = generator.make_noise()
    outputs, grads = [], []
    for grouped in (True, False):
        generator.use_grouped_conv(grouped).zero_grad()
        image, _ = generator([z], noise=noise, randomize_noise=False)
        image.square().mean().backward()
        outputs.append(image.detach())
        grads.append(generator.convs[0].conv.weight.grad.clone())
    torch.testing.assert_close(outputs[1], outputs[0], atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(grads[1], grads[0], atol=1e-5, rtol=1e-3)
    assert all(m.grouped is False for m in generator.modules() if hasattr(m, "grouped"))


def test_recomputed_activations_give_the_same_image_and_code_gradients():
    """Per-layer activation checkpointing (``use_recomputation``): the inversion's gradient
    with respect to a W+ code is the one without it, random noise included."""
    torch.manual_seed(0)
    generator = Generator(32, 16, 2, channels={4: 8, 8: 8, 16: 8, 32: 4}, grouped_conv=False)
    codes = torch.randn(2, generator.n_latent, 16)
    results = []
    for on in (False, True):
        generator.use_recomputation(on)
        code = codes.clone().requires_grad_(True)
        torch.manual_seed(1)  # randomize_noise draws its maps in forward (and again in backward)
        images, _ = generator([code], input_is_latent=True)
        images.pow(2).mean().backward()
        results.append((images.detach(), code.grad))
    assert torch.equal(results[0][0], results[1][0])
    assert torch.allclose(results[0][1], results[1][1], rtol=1e-5, atol=1e-8)
    assert results[0][1].abs().sum() > 0


def test_recomputation_is_on_by_default_from_512_px_and_off_below():
    small = {4: 4, 8: 4, 16: 4, 32: 4, 64: 4, 128: 4, 256: 4, 512: 4}
    with torch.device("meta"):
        assert Generator(512, 8, 1, channels=small).use_recomputation().recompute_activations
        assert not Generator(256, 8, 1, channels=small).use_recomputation().recompute_activations
        assert not Generator(256, 8, 1, channels=small).recompute_activations
        assert Generator(64, 8, 1, channels=small).use_recomputation(True).recompute_activations
