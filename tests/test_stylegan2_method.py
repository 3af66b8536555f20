"""The stylegan2 method: lazy regularisation, path length penalty, schedule, training on a toy
problem, export in rosinality's layout, and the shipped toyfaces generator."""

import json
from functools import partial

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from ganlab.assets import ASSET_DIR, file_sha256, read_manifest
from ganlab.errors import ConfigError
from ganlab.features.domain import load_domain_net
from ganlab.methods.noise.stylegan2 import (
    StyleGAN2,
    ema_half_life_images,
    lazy_regularization_factor,
    path_length_penalty,
    path_lengths,
    save_stylegan2,
    with_lazy_regularization,
)
from ganlab.nets.stylegan2 import Discriminator, Generator, load_stylegan2
from tests.conftest import compose_run, run_cli

ADAM = partial(torch.optim.Adam, lr=2e-3, betas=(0.0, 0.99))
TINY_CHANNELS = {4: 16, 8: 16}
# two solid colours: a toy distribution whose modes are known exactly
COLOURS = torch.tensor([[0.8, -0.8, -0.8], [-0.8, -0.8, 0.8]])


def tiny_module(**kwargs) -> StyleGAN2:
    generator = Generator(8, 16, 2, channels=TINY_CHANNELS, grouped_conv=False)
    discriminator = Discriminator(8, channels=TINY_CHANNELS)
    return StyleGAN2(generator, discriminator, ADAM, ADAM, **kwargs)


class SolidColours(Dataset):
    def __init__(self, n: int, seed: int = 0) -> None:
        index = torch.randint(0, 2, (n,), generator=torch.Generator().manual_seed(seed))
        self.images = COLOURS[index][:, :, None, None].expand(n, 3, 8, 8).clone()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"image": self.images[i]}


def distance_to_nearest_colour(images: torch.Tensor) -> float:
    per_mode = ((images[:, None] - COLOURS[None, :, :, None, None]) ** 2).mean(dim=(2, 3, 4))
    return per_mode.min(dim=1).values.mean().item()


def test_lazy_regularization_rescales_adam():
    assert lazy_regularization_factor(16) == pytest.approx(16 / 17)
    params = [torch.nn.Parameter(torch.zeros(2))]
    optimizer = with_lazy_regularization(ADAM, 16)(params)
    c = 16 / 17
    assert optimizer.param_groups[0]["lr"] == pytest.approx(2e-3 * c)
    assert optimizer.param_groups[0]["betas"] == pytest.approx((0.0, 0.99**c))


def test_path_lengths_of_a_linear_generator_are_the_closed_form():
    # images = sum_l w_l @ M_l, so J_l^T y = M_l y and the length is sqrt(mean_l |M_l y|^2)
    torch.manual_seed(0)
    batch, n_latent, dim, side = 3, 4, 5, 2
    maps = torch.randn(n_latent, dim, side * side)
    latents = torch.randn(batch, n_latent, dim, requires_grad=True)
    images = torch.einsum("bld,ldp->bp", latents, maps).view(batch, 1, side, side)
    torch.manual_seed(1)
    lengths = path_lengths(images, latents)
    torch.manual_seed(1)
    y = torch.randn(batch, side * side) / side  # N(0, I) / sqrt(H W)
    expected = torch.einsum("ldp,bp->bld", maps, y).pow(2).sum(2).mean(1).sqrt()
    torch.testing.assert_close(lengths, expected)
    assert path_length_penalty(lengths, lengths.detach()).item() == 0.0
    assert path_length_penalty(torch.tensor([1.0, 3.0]), torch.tensor(2.0)).item() == 1.0


def test_schedule_runs_lazy_regularisers_on_their_batches():
    module = tiny_module(r1_every=16, path_length_every=4)
    names = [(p.name, p.player, p.every) for p in module.phase_list]
    assert names == [
        ("discriminator", "discriminator", 1),
        ("discriminator_r1", "discriminator", 16),
        ("generator", "generator", 1),
        ("generator_path_length", "generator", 4),
    ]
    # 32 generator steps: 32 D + 2 R1 + 32 G + 8 path length optimizer steps
    assert module.optimizer_steps_for(32) == 32 + 2 + 32 + 8
    without = tiny_module(r1_gamma=0.0, path_length_weight=0.0)
    assert [p.name for p in without.phase_list] == ["discriminator", "generator"]
    assert without.optimizer_steps_for(32) == 64


def test_style_mixing_draws_two_codes_with_its_probability():
    assert len(tiny_module(mixing_prob=1.0).mixed_codes(4)) == 2
    assert len(tiny_module(mixing_prob=0.0).mixed_codes(4)) == 1


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="mixing_prob"):
        tiny_module(mixing_prob=1.5)


def test_stylegan2_composes_no_loss_or_divergence_it_would_ignore(tmp_path):
    cfg = compose_run(tmp_path, ["experiment=stylegan2_toyfaces"])
    assert "loss" not in cfg and "divergence" not in cfg
    result = run_cli(["model=stylegan2", "loss=hinge"], tmp_path)
    assert result.returncode == 2
    assert "Could not override 'loss'. No match in the defaults list." in result.stderr


def test_tiny_stylegan2_learns_two_solid_colours():
    torch.manual_seed(0)
    module = tiny_module(r1_gamma=1.0, r1_every=4, path_length_every=4, ema_decay=0.99)
    before = distance_to_nearest_colour(module.sample(256))
    loader = DataLoader(SolidColours(4096), batch_size=16, shuffle=True)
    trainer = pl.Trainer(
        max_steps=module.optimizer_steps_for(150),
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, loader)
    after = distance_to_nearest_colour(module.sample(256))
    assert module.run_step == 150
    assert module.phase_steps["discriminator_r1"] == 150 // 4
    assert module.mean_path_length.item() > 0  # the running target moved off zero
    assert after < before / 3, (before, after)


def test_export_round_trips_through_load_stylegan2(tmp_path):
    module = tiny_module()
    module.generator_ema.load_state_dict(module.generator.state_dict())
    module.export(tmp_path, {"command": "python -m ganlab.run ...", "seed": 3, "metrics": {}})
    path = tmp_path / "stylegan2_data_8.pt"
    entry = json.loads((tmp_path / "manifest.json").read_text())[path.name]
    assert entry["sha256"] == file_sha256(path) and entry["seed"] == 3
    loaded, latent_avg = load_stylegan2(path)
    z = torch.randn(4, 16)
    expected, _ = module.generator_ema([z], randomize_noise=False)
    actual, _ = loaded([z], randomize_noise=False)
    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-5)  # grouped vs shared convs
    assert latent_avg.shape == (16,)


def test_save_stylegan2_writes_rosinality_keys(tmp_path):
    generator = Generator(8, 16, 2, channels=TINY_CHANNELS)
    save_stylegan2(generator, tmp_path / "g.pt")
    checkpoint = torch.load(tmp_path / "g.pt", weights_only=True)
    assert set(checkpoint) == {"g_ema", "latent_avg", "config"}
    assert set(checkpoint["g_ema"]) == set(generator.state_dict())


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_shipped_toyfaces_generator_makes_faces_with_varied_attributes():
    path = ASSET_DIR / "stylegan2_toyfaces_64.pt"
    entry = read_manifest(ASSET_DIR)["stylegan2_toyfaces_64.pt"]
    assert file_sha256(path) == entry["sha256"]
    assert path.stat().st_size <= 10 * 2**20
    generator, latent_avg = load_stylegan2(path)
    generator.use_grouped_conv(False).eval()
    with torch.no_grad():
        images, _ = generator([torch.randn(128, generator.style_dim, generator=seeded(0))])
    assert images.shape == (128, 3, 64, 64)
    net, _ = load_domain_net("toyfaces")
    net.eval()
    with torch.no_grad():
        predicted = net(images.clamp(-1, 1))["attribute_logits"] > 0
    rates = predicted.float().mean(0)
    varied = ((rates > 0.05) & (rates < 0.95)).sum().item()
    assert varied >= 9, rates  # (512 samples: every attribute in 16-68% of the faces)


def test_ada_ema_half_life_ramps_up_with_the_images_seen():
    assert ema_half_life_images(10, None, 0) == 10_000
    assert ema_half_life_images(10, 0.05, 32_000) == pytest.approx(1_600)
    assert ema_half_life_images(10, 0.05, 1_000_000) == 10_000
    module = tiny_module(ema_half_life_kimg=10, ema_rampup=0.05)
    module.generator_batch, module.phase_steps = 32, {"generator": 1000}  # 32k images seen
    assert module.ema_decay_now() == pytest.approx(0.5 ** (32 / 1_600))
    module.phase_steps = {"generator": 10**6}
    assert module.ema_decay_now() == pytest.approx(0.5 ** (32 / 10_000))
    with pytest.raises(ValueError, match="ema_rampup needs ema_half_life_kimg"):
        tiny_module(ema_rampup=0.05)


def test_task_eval_scores_a_bare_generator_file_against_the_run_data(tmp_path):
    """A generator file (rosinality layout) is scored as StyleGAN2 samples: FID with both
    toyfaces judges and the attribute classifier's figures; a file of another size than the
    run's data is refused."""
    from ganlab.run import run_task

    generator = Generator(32, 16, 2, channels={4: 16, 8: 16, 16: 8, 32: 8})
    save_stylegan2(generator, tmp_path / "g.pt")
    data = ["data.n_test=64", "data.n_train=64", "eval.n_samples=32", "eval.kid_subsets=2"]
    args = ["experiment=stylegan2_toyfaces", "task=eval", f"ckpt_path={tmp_path / 'g.pt'}", *data]
    run_task(compose_run(tmp_path / "eval", [*args, "data.size=32"]))
    report = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    metrics, protocol = report["metrics"], report["protocol"]
    assert {"fid_domain_32", "fid_domain32px_32", "attributes_decisive"} <= set(metrics)
    assert 0.0 <= metrics["attributes_decisive"] <= 1.0
    assert 0.0 <= metrics["attribute_frequency_gap"] <= 1.0
    assert protocol["fid_domain32px_32"]["extractor"] == "domain_toyfaces_32px"
    assert protocol["fid_domain_32"]["generator"] == "generator_ema"
    gaps = protocol["attribute_frequency_gap"]["per_attribute"]
    assert max(gaps.values()) == pytest.approx(metrics["attribute_frequency_gap"])
    with pytest.raises(ConfigError, match="makes 32 px images but data=toyfaces holds 64 px"):
        run_task(compose_run(tmp_path / "wrong", args))
