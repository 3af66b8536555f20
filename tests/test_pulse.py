"""PULSE (ganlab.inversion.pulse): the sphere projection, the geodesic cross loss and the
one-cycle schedule in closed form, the Gaussianised W inverting the mapping network's last
activation, and a search on the tiny generator that stays on its spheres and lowers the
downscaling loss."""

import math

import pytest
import torch
import torch.nn.functional as F

from ganlab.inversion.pulse import (
    PulseSettings,
    bicubic_downscale,
    downscaling_loss,
    gaussian_fit,
    geocross_loss,
    one_cycle_drop,
    project_to_sphere,
    pulse,
    to_styles,
    vector_norms,
)
from ganlab.nets.stylegan2 import load_stylegan2
from tests.conftest import TINY_G


@pytest.fixture(scope="module")
def tiny():
    generator, _ = load_stylegan2(TINY_G)
    return generator.use_grouped_conv(False).eval().requires_grad_(False)


def test_projection_puts_every_vector_on_its_sphere_keeping_its_direction():
    x = torch.randn(3, 4, 16)
    on_sphere = project_to_sphere(x, math.sqrt(16))
    assert torch.allclose(vector_norms(on_sphere), torch.full((3, 4, 1), 4.0), atol=1e-5)
    cosine = F.cosine_similarity(on_sphere, x, dim=-1)
    assert torch.allclose(cosine, torch.ones(3, 4), atol=1e-6)


def test_geocross_is_zero_for_equal_layers_and_d_pi2_over_64_for_two_orthogonal_ones():
    d = 8
    same = torch.randn(2, 1, d).expand(2, 5, d)
    assert geocross_loss(same).abs().max() < 1e-3
    orthogonal = torch.zeros(1, 2, d)
    orthogonal[0, 0, 0], orthogonal[0, 1, 1] = 3.0, 5.0  # the angle ignores the lengths
    # angles [[0, pi/2], [pi/2, 0]]: mean of squares pi^2 / 8, times d, over 8
    assert geocross_loss(orthogonal).item() == pytest.approx(d * math.pi**2 / 64, rel=1e-4)


def test_the_one_cycle_schedule_rises_to_one_and_drops_to_a_thousandth():
    steps = 100
    assert one_cycle_drop(0, steps) == pytest.approx(0.1)
    assert one_cycle_drop(45, steps) == pytest.approx(1.0)
    assert one_cycle_drop(90, steps) == pytest.approx(0.1)
    assert one_cycle_drop(100, steps) == pytest.approx(0.001)


def test_downscaling_loss_is_the_mse_on_the_unit_scale():
    outputs, low = torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4)
    low[1] = 1.0  # [-1, 1] images: 1.0 is 0.5 above 0 on [0, 1]
    assert downscaling_loss(outputs, low).tolist() == pytest.approx([0.0, 0.25])


def test_the_gaussianised_latent_of_a_mapped_w_maps_back_to_it(tiny):
    fit = gaussian_fit(tiny, 4000, seed=1)
    w = tiny.get_latent(torch.randn(5, tiny.style_dim))
    latent = (F.leaky_relu(w, 5.0) - fit[0]) / fit[1]
    assert torch.allclose(to_styles(latent, fit), w, atol=1e-4)
    assert latent.std().item() == pytest.approx(1.0, abs=0.3)  # roughly standard normal


def test_the_search_stays_on_its_spheres_and_lowers_the_downscaling_loss(tiny):
    torch.manual_seed(0)
    with torch.no_grad():
        truth = tiny([torch.randn(2, tiny.style_dim)], randomize_noise=False)[0]
    downscale = bicubic_downscale(tiny.size // 4)
    low = downscale(truth)
    settings = PulseSettings(steps=40, fit_samples=4000, eps=1e-6)
    first = pulse(tiny, low, downscale, PulseSettings(steps=1, fit_samples=4000))
    result = pulse(tiny, low, downscale, settings)
    assert result.images.shape == truth.shape
    start = torch.randn(
        2, tiny.n_latent, tiny.style_dim, generator=torch.Generator().manual_seed(0)
    )
    assert torch.allclose(vector_norms(result.latents), vector_norms(start), atol=1e-3)
    assert (result.downscaling_loss < 0.5 * first.downscaling_loss).all()
    recomputed = downscaling_loss(downscale(result.images), low)
    assert torch.allclose(recomputed, result.downscaling_loss, atol=1e-6)
    assert not result.consistent.any()  # eps = 1e-6 is out of reach in 40 steps
    with pytest.raises(ValueError, match="steps >= 1"):
        PulseSettings(steps=0)


def test_task_upsample_writes_each_output_with_its_downscaling_loss(tmp_path, tiny):
    import json

    import numpy as np
    from PIL import Image

    from ganlab.errors import ConfigError
    from ganlab.run import run_task
    from tests.conftest import compose_run

    low = tmp_path / "low"
    low.mkdir()
    size = tiny.size // 4
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(low / f"{name}.png")
    out = tmp_path / "up"
    overrides = ["task=upsample", f"input={low}", f"ckpt_path={TINY_G}", "pulse.steps=3"]
    run_task(compose_run(out, [*overrides, "pulse.fit_samples=2000"]))
    index = json.loads((out / "index.json").read_text())
    assert [item["output"] for item in index["items"]] == ["upsampled/a.png", "upsampled/b.png"]
    assert all(item["downscaling_loss"] > 0 for item in index["items"])
    assert index["factor"] == 4 and index["pulse"]["steps"] == 3
    with Image.open(out / "upsampled" / "a.png") as image:
        assert image.size == (tiny.size, tiny.size)
    assert (out / "before_after.png").is_file()
    with pytest.raises(ConfigError, match="factor=3"):
        run_task(compose_run(tmp_path / "bad", [*overrides, "factor=3"]))
