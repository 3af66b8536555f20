"""Degradations (ganlab.data.degradations): invariants, determinism, exact resize, mask
coverage, noise statistics, blur and JPEG strength, random_one's choices, errors, configs."""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from ganlab.data import degradations as D
from ganlab.errors import ConfigError
from tests.conftest import compose_run

CONF = Path(__file__).resolve().parent.parent / "conf" / "degradation"
RANDOM = [name for name in D.NAMES if name not in ("none", "downsample")]
CUDA = [
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU"))
]


def images(n: int = 8, channels: int = 3, size: int = 32, seed: int = 0) -> torch.Tensor:
    """(n, C, size, size) smooth images with edges in [-0.9, 0.9]: waves plus a square."""
    g = torch.Generator().manual_seed(seed)
    coords = torch.linspace(0, 1, size)
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    freq, phase = 1 + 3 * torch.rand(2, n, channels, 1, 1, generator=g)
    waves = torch.sin(2 * torch.pi * freq * (x + y) + phase)
    square = ((x - 0.5).abs() < 0.2) & ((y - 0.5).abs() < 0.2)
    return (0.6 * waves + 0.3 * square.float()).clamp(-0.9, 0.9)


def build(name: str, **params) -> D.Degradation:
    if name == "random_one" and "choices" not in params:
        return D.build(["rain", "mask", "downsample"], **params)
    return D.build(name, **params)


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", D.NAMES)
def test_keeps_shape_dtype_and_range_and_changes_the_image(name):
    x = images()
    out = build(name)(x, generator=generator(0))
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
    assert out.min() >= -1 and out.max() <= 1
    if name == "none":
        assert torch.equal(out, x)
    else:
        assert not torch.allclose(out, x, atol=1e-3)


@pytest.mark.parametrize("name", D.NAMES)
def test_same_seed_same_output_and_other_seed_other_output(name):
    x, deg = images(), build(name)
    first = deg(x, generator=generator(1))
    assert torch.equal(first, deg(x, generator=generator(1)))
    assert torch.equal(first, deg(x, generator=1))  # an int seeds a fresh CPU generator
    torch.manual_seed(5)
    global_rng = deg(x)
    torch.manual_seed(5)
    assert torch.equal(global_rng, deg(x))  # generator=None: torch's global RNG
    other = deg(x, generator=generator(2))
    assert torch.equal(first, other) == (name not in RANDOM)


@pytest.mark.parametrize("name", D.NAMES)
def test_each_sample_depends_on_its_own_seed_only(name):
    x, deg = images(4), build(name)
    seeds = D.sample_seeds(4, generator(3))
    whole = deg.degrade(x, seeds)
    for i in range(4):
        alone = deg.degrade(x[i : i + 1], seeds[i : i + 1])
        torch.testing.assert_close(whole[i : i + 1], alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", D.NAMES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_other_float_dtypes_are_kept(name, dtype):
    x = images(2).to(dtype)
    out = build(name)(x, generator=0)
    assert out.dtype == dtype and out.min() >= -1 and out.max() <= 1
    reference = build(name)(x.float(), generator=0)
    torch.testing.assert_close(out.float(), reference, atol=0.02, rtol=0)


@pytest.mark.parametrize("name", ["noise", "blur", "mask", "downsample", "jpeg"])
def test_grey_images_keep_one_channel(name):
    x = images(2, channels=1)
    assert build(name)(x, generator=0).shape == x.shape


@pytest.mark.parametrize("device", CUDA)
@pytest.mark.parametrize("name", D.NAMES)
def test_cuda_gives_the_cpu_result(name, device):
    x, deg = images(), build(name)
    on_device = deg.to(device)(x.to(device), generator=0)
    assert on_device.device.type == device
    atol = 0.05 if name in ("jpeg", "random_one") else 1e-4  # JPEG rounding may flip a level
    torch.testing.assert_close(on_device.cpu(), deg.cpu()(x, generator=0), atol=atol, rtol=0)


@pytest.mark.parametrize(
    ("params", "size"),
    [
        ({}, 16),
        ({"factor": 2, "mode_down": "bicubic"}, 16),
        ({"factor": 3, "mode_down": "area", "mode_up": "nearest", "antialias": False}, 10),
    ],
)
def test_downsample_is_interpolate_down_then_up(params, size):
    x = images(2, size=size) * 1.1
    deg = D.build("downsample", **params)
    factor = params.get("factor", 4)
    mode_down, mode_up = params.get("mode_down", "bilinear"), params.get("mode_up", "bilinear")
    corners = {"bilinear": False, "bicubic": False}
    small = F.interpolate(
        x,
        size=(size // factor, size // factor),
        mode=mode_down,
        antialias=params.get("antialias", True),
        align_corners=corners.get(mode_down),
    )
    expected = F.interpolate(
        small, size=(size, size), mode=mode_up, align_corners=corners.get(mode_up)
    ).clamp(-1, 1)
    assert torch.equal(deg(x), expected)


@pytest.mark.parametrize("kind", ["strokes", "boxes"])
@pytest.mark.parametrize("fill", [0.0, 1.0, -1.0])
def test_mask_paints_its_coverage_with_fill_and_leaves_the_rest(kind, fill):
    x, size, coverage = images(16, size=32), 32, (0.1, 0.3)
    deg = D.build("mask", kind=kind, coverage=coverage, count=(1, 3), fill=fill)
    seeds = D.sample_seeds(16, generator(4))
    masks = deg.masks(seeds, size, size)
    out = deg.degrade(x, seeds)
    fraction = masks.flatten(1).float().mean(1)
    half_pixel = 0.5 / size**2
    assert (fraction >= coverage[0] - half_pixel).all() and (
        fraction <= coverage[1] + half_pixel
    ).all()
    assert fraction.std() > 0.02  # coverage is drawn per sample
    painted = masks.expand_as(x)
    assert (out[painted] == fill).all()
    assert torch.equal(out[~painted], x[~painted])


def test_mask_fixed_coverage_is_exact():
    masks = D.build("mask", coverage=0.25).masks(D.sample_seeds(8, generator(0)), 16, 16)
    assert (masks.flatten(1).sum(1) == 64).all()


def test_noise_has_the_configured_std():
    x = torch.zeros(4, 3, 64, 64)
    out = D.build("noise", std=0.1)(x, generator=0)
    assert out.std().item() == pytest.approx(0.1, rel=0.02)
    assert out.mean().abs() < 0.005
    ranged = D.build("noise", std=(0.05, 0.2))(torch.zeros(32, 3, 64, 64), generator=0)
    per_sample = ranged.flatten(1).std(1)
    assert (per_sample > 0.05 * 0.97).all() and (per_sample < 0.2 * 1.03).all()
    assert per_sample.max() - per_sample.min() > 0.05


def high_frequency_energy(x: torch.Tensor) -> torch.Tensor:
    """Per-sample power above a quarter of the sampling frequency."""
    power = torch.fft.fft2(x).abs().square()
    freq = torch.fft.fftfreq(x.shape[-1]).abs()
    high = (freq[:, None] > 0.25) | (freq[None, :] > 0.25)
    return (power * high).flatten(1).sum(1)


def test_blur_removes_high_frequencies():
    x = torch.rand(4, 3, 32, 32, generator=generator(0)) * 2 - 1
    out = D.build("blur", sigma=(1.0, 2.0))(x, generator=0)
    assert (high_frequency_energy(out) < 0.05 * high_frequency_energy(x)).all()
    weak, strong = (D.build("blur", sigma=s)(x, generator=0) for s in (0.5, 2.0))
    assert (high_frequency_energy(strong) < high_frequency_energy(weak)).all()


def test_jpeg_quality_sets_the_error():
    # grey patterns with a constant tint: 4:2:0 chroma subsampling loses nothing on them
    tint = torch.tensor([0.1, -0.05, 0.0])[:, None, None]
    x = images(4, size=32).mean(1, keepdim=True) * 0.8 + tint
    error = {q: (D.build("jpeg", quality=q)(x, generator=0) - x).abs().mean() for q in (100, 10)}
    assert error[100] < 0.005
    assert error[10] > 10 * error[100]


def test_rain_blends_towards_the_streak_level():
    x = torch.full((8, 3, 32, 32), -0.5)
    deg = D.build("rain", brightness=0.8, opacity=(0.5, 0.8))
    out = deg(x, generator=0)
    # out = x + opacity * R * (0.8 - x) with opacity <= 0.8 and R in [0, 1]
    assert (out >= -0.5 - 1e-6).all() and (out <= -0.5 + 0.8 * (0.8 + 0.5) + 1e-6).all()
    assert (out > -0.5 + 1e-3).float().mean() > 0.02
    dense = D.build("rain", density=0.3)(x, generator=0)
    sparse = D.build("rain", density=0.03)(x, generator=0)
    assert (dense != x).float().mean() > 2 * (sparse != x).float().mean()


def test_random_one_applies_the_chosen_degradation_per_sample():
    x = images(64, size=16)
    deg = D.build(["rain", {"name": "mask", "fill": 1.0}, "downsample"])
    seeds = D.sample_seeds(64, generator(6))
    out = deg.degrade(x, seeds)
    kind, child = deg.choose(seeds)
    assert set(kind.tolist()) == {0, 1, 2}
    for k, single in enumerate(deg.choices):
        picked = kind == k
        assert torch.equal(out[picked], single.degrade(x[picked], child[picked]))
    assert deg.choices[1].fill == 1.0


def test_random_one_draws_kinds_with_the_weights():
    deg = D.build("random_one", choices=["none", "noise", "blur"], weights=[1, 2, 0])
    kind, _ = deg.choose(D.sample_seeds(3000, generator(7)))
    counts = torch.bincount(kind, minlength=3).float() / 3000
    torch.testing.assert_close(counts, torch.tensor([1 / 3, 2 / 3, 0.0]), atol=0.03, rtol=0)


def test_unknown_name_lists_the_names():
    with pytest.raises(ConfigError, match="unknown degradation 'snow'.*rain, mask, downsample"):
        D.build("snow")
    with pytest.raises(ConfigError, match="unknown degradation 'snow'"):
        D.build(["rain", "snow"])


def test_unknown_parameter_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="no parameter.*sigma.*parameters are: std"):
        D.build("noise", sigma=0.1)
    with pytest.raises(ConfigError, match="has no parameter"):
        D.from_config({"name": "none", "factor": 2})


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("noise", {"std": (0.2, 0.1)}, "min <= max"),
        ("blur", {"sigma": "wide"}, "a number or a \\[min, max\\] pair"),
        ("jpeg", {"quality": 150}, "<= 100"),
        ("mask", {"kind": "circles"}, "strokes, boxes"),
        ("mask", {"count": 1.5}, "integer"),
        ("mask", {"fill": 2}, "in \\[-1, 1\\]"),
        ("downsample", {"factor": 0}, "integer >= 1"),
        ("downsample", {"mode_down": "area"}, "set antialias: false"),
        ("random_one", {"choices": []}, "non-empty list"),
        ("random_one", {"choices": ["rain", "mask"], "weights": [1]}, "2 non-negative"),
    ],
)
def test_bad_parameters_are_refused(name, params, message):
    with pytest.raises(ConfigError, match=message):
        D.build(name, **params)


def test_bad_batches_are_refused():
    with pytest.raises(ValueError, match="float batch"):
        D.build("noise")(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="larger than the 2x2"):
        D.build("downsample")(torch.zeros(1, 3, 2, 2))
    with pytest.raises(ValueError, match="not 4 channels"):
        D.build("jpeg")(torch.zeros(1, 4, 8, 8))


@pytest.mark.parametrize("name", sorted(p.stem for p in CONF.glob("*.yaml")))
def test_each_config_composes_to_a_working_degradation(tmp_path, name):
    cfg = compose_run(tmp_path, [f"+degradation={name}"]).degradation
    assert cfg.name == name
    deg = D.from_config(cfg)
    assert isinstance(deg, D.Degradation) and deg.name == name
    x = images(4)
    out = deg(x, generator=0)
    assert out.shape == x.shape and out.min() >= -1 and out.max() <= 1
    assert torch.equal(D.build(**cfg)(x, generator=0), out)


def test_every_name_has_a_config():
    assert {p.stem for p in CONF.glob("*.yaml")} == set(D.NAMES)


def test_random_one_config_is_the_uda_mix(tmp_path):
    deg = D.from_config(compose_run(tmp_path, ["+degradation=random_one"]).degradation)
    assert [c.name for c in deg.choices] == ["rain", "mask", "downsample"]
    assert deg.choices[1].fill == 1.0 and deg.choices[2].factor == 2
