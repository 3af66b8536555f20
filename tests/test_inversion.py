"""GAN inversion (ganlab.inversion): latent optimisation recovers codes the generator made,
runs a batch as independent per-image problems, follows the projector's schedule; hybrid
inversion with no steps is the encoder's; the verbs run it on a folder of images."""

import json
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from ganlab.assets import ASSET_DIR
from ganlab.data.toyfaces import attribute_probabilities, render, sample_face
from ganlab.errors import ConfigError
from ganlab.inversion import OptimisationSettings, from_generator_file, psnr_from_mse
from ganlab.inversion.optimisation import (
    learning_rate,
    noise_autocorrelation,
    optimise_codes,
)
from ganlab.nets.stylegan2 import load_stylegan2, sample_w
from ganlab.run import run_task
from ganlab.tasks.models import load_model
from tests.conftest import TINY_G, compose_run

TOYFACES_G = ASSET_DIR / "stylegan2_toyfaces_64.pt"


def test_the_projector_schedule_ramps_up_from_zero_and_down_to_zero():
    assert learning_rate(0.0, 0.1, 0.05, 0.25) == 0.0
    assert learning_rate(0.5, 0.1, 0.05, 0.25) == pytest.approx(0.1)
    assert learning_rate(0.875, 0.1, 0.05, 0.25) == pytest.approx(0.05)  # half-way down
    assert learning_rate(1.0, 0.1, 0.05, 0.25) == pytest.approx(0.0)


def test_noise_penalty_is_small_for_white_noise_and_large_for_smooth_noise():
    rng = torch.Generator().manual_seed(0)
    white = torch.randn(2, 1, 32, 32, generator=rng)
    smooth = torch.nn.functional.interpolate(white[:, :, :4, :4], size=32, mode="bilinear")
    smooth = (smooth - smooth.mean()) / smooth.std()
    assert noise_autocorrelation(white).shape == (2,)
    assert (noise_autocorrelation(white) < 0.01).all()
    assert (noise_autocorrelation(smooth) > 10 * noise_autocorrelation(white)).all()


def test_optimisation_recovers_a_code_the_shipped_generator_made():
    model = from_generator_file(TOYFACES_G, progress=False)
    w = sample_w(model.generator, 1, rng=torch.Generator().manual_seed(3))
    targets = model.decode(w)
    result = model.invert_detailed(targets)  # the defaults: W+, 200 steps, L2 + LPIPS-domain
    psnr = psnr_from_mse(((result.images - targets) ** 2).flatten(1).mean(1))
    assert (psnr >= 30).all(), psnr
    assert result.codes.shape == (1, model.n_latent, model.generator.style_dim)
    assert result.mse_history.shape == (200, 1) and result.losses.shape == (1,)
    assert (result.mse_history[-1] < result.mse_history[0] / 10).all()


def test_a_batch_is_inverted_as_if_each_image_were_alone():
    generator, latent_avg = load_stylegan2(TINY_G)
    generator.use_grouped_conv(False).eval().requires_grad_(False)
    targets = generator(
        [sample_w(generator, 2, rng=torch.Generator().manual_seed(1))],
        input_is_latent=True,
        randomize_noise=False,
    )[0]

    def synthesize(codes, noises):
        return generator([codes], input_is_latent=True, randomize_noise=False, noise=noises)[0]

    # code noise is drawn for the whole batch, so it is off for the comparison
    settings = OptimisationSettings(steps=15, initial_noise=0.0, lr=0.05)
    args = (latent_avg, generator.n_latent, 1.0, settings)
    batch = optimise_codes(synthesize, targets, *args, progress=False)
    for i in range(2):
        alone = optimise_codes(synthesize, targets[i : i + 1], *args, progress=False)
        torch.testing.assert_close(batch.codes[i : i + 1], alone.codes, atol=1e-5, rtol=1e-4)


def test_noise_maps_are_optimised_per_image_and_kept_normalised():
    model = from_generator_file(
        TINY_G,
        {"kind": "optimisation", "steps": 4, "optimise_noise": True, "perceptual": None},
        progress=False,
    )
    targets = model.decode(sample_w(model.generator, 3, rng=torch.Generator().manual_seed(0)))
    result = model.invert_detailed(targets)
    assert len(result.noises) == model.generator.num_layers
    for noise in result.noises:
        assert noise.shape[0] == 3
        torch.testing.assert_close(noise.mean(dim=(1, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
        torch.testing.assert_close(noise.std(dim=(1, 2, 3)), torch.ones(3), atol=1e-5, rtol=0)


def test_hybrid_with_zero_steps_is_the_encoders_inversion():
    faces = sample_faces(4)
    encoder, _ = load_model(OmegaConf.create({"asset": "uda_toyfaces", "inversion": {}}))
    hybrid, _ = load_model(
        OmegaConf.create({"asset": "uda_toyfaces", "inversion": {"kind": "hybrid", "steps": 0}})
    )
    assert encoder.kind == "encoder" and hybrid.kind == "hybrid"
    by_encoder, by_hybrid = encoder.invert_detailed(faces), hybrid.invert_detailed(faces)
    torch.testing.assert_close(by_hybrid.codes, by_encoder.codes, atol=0, rtol=0)
    torch.testing.assert_close(by_hybrid.images, by_encoder.images, atol=0, rtol=0)
    # and a few steps from there lower the objective of every image
    hybrid.progress = False
    refined = hybrid.invert_detailed(faces, steps=20)
    assert (refined.losses < by_encoder.losses).all()


def test_a_generator_alone_cannot_invert_with_an_encoder():
    with pytest.raises(ConfigError, match="needs an encoder; asset:stylegan2_toyfaces_64.pt"):
        from_generator_file(TOYFACES_G, {"kind": "hybrid"})
    with pytest.raises(ValueError, match="unknown inversion option"):
        from_generator_file(TOYFACES_G, {"stpes": 3})


def sample_faces(n: int) -> torch.Tensor:
    """``n`` ToyFaces test faces (64 px), rendered directly."""
    probs = attribute_probabilities()
    return torch.stack([render(*sample_face(0, "test", i, probs)) for i in range(n)])


def test_invert_task_by_optimisation_writes_losses(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, colour in enumerate([(200, 150, 120), (90, 60, 40)]):
        Image.new("RGB", (70, 64), colour).save(photos / f"face{i}.png")
    out = tmp_path / "invert"
    run_task(
        compose_run(
            out,
            ["task=invert", f"input={photos}", "asset=stylegan2_toyfaces_64", "inversion.steps=5"],
        )
    )
    index = json.loads((out / "index.json").read_text())
    assert index["inversion"] == "optimisation" and index["settings"]["steps"] == 5
    assert index["code_shape"] == [10, 128]
    assert all(item["psnr"] > 0 and item["loss"] > 0 for item in index["items"])
    assert Path(out / index["items"][0]["reconstruction"]).is_file()


def test_inversion_recomputes_the_generator_layers_as_configured():
    """``inversion.recompute_activations``: null leaves a 64 px generator as it is (on from
    512 px), true turns recomputation on for any size."""
    path = ASSET_DIR / "stylegan2_toyfaces_64.pt"
    automatic = from_generator_file(path, {"steps": 1}, progress=False)
    assert not automatic.generator.recompute_activations
    forced = from_generator_file(path, {"recompute_activations": True}, progress=False)
    assert forced.generator.recompute_activations


def test_the_default_perceptual_net_follows_the_stored_data_module_class():
    from ganlab.inversion.loading import dataset_of, default_perceptual

    faces = {"data": {"_target_": "ganlab.data.toyfaces.ToyFacesDataModule"}}
    two_domains = {
        "data": {"_target_": "any", "base": {"_target_": "ganlab.data.digits.DigitsDataModule"}}
    }
    assert dataset_of(faces) == "toyfaces" and dataset_of(two_domains) == "digits"
    assert (
        dataset_of({"data": {"_target_": "gone.module.Faces"}}) is None and dataset_of({}) is None
    )
    assert default_perceptual("toyfaces") == "lpips_domain_toyfaces"
    assert default_perceptual("ffhq") == default_perceptual(None) == "lpips_vgg"
