"""Sweep plumbing: the SLURM launcher's resources follow the trainer, and an Optuna search
runs trials that return the metric it optimises."""

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from ganlab.run import CONFIG_DIR
from tests.conftest import run_cli


def launcher_config(overrides: list[str]) -> dict:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    launcher = cfg.hydra.launcher
    keys = ("tasks_per_node", "gpus_per_node", "nodes", "signal_delay_s", "_target_")
    return {key: OmegaConf.select(cfg, f"hydra.launcher.{key}") for key in keys if key in launcher}


@pytest.mark.parametrize(
    "trainer, expected",
    [
        (["trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2"], (4, 4, 2)),
        (["trainer=ddp_cpu", "trainer.devices=2"], (2, 0, 1)),
        (["trainer=gpu"], (1, 1, 1)),
        (["trainer=cpu"], (1, 0, 1)),
    ],
)
def test_slurm_resources_follow_the_trainer(trainer, expected):
    launcher = launcher_config(["hydra/launcher=slurm", *trainer])
    assert launcher["_target_"].endswith("SlurmLauncher")
    assert (launcher["tasks_per_node"], launcher["gpus_per_node"], launcher["nodes"]) == expected
    assert 0 < launcher["signal_delay_s"] <= 300


def test_local_launcher_runs_one_process_per_member():
    launcher = launcher_config(["hydra/launcher=local", "trainer=cpu"])
    assert launcher["_target_"].endswith("LocalLauncher")
    assert (launcher["tasks_per_node"], launcher["nodes"]) == (1, 1)


def test_optuna_search_returns_the_optimized_metric(tmp_path):
    sweep_dir = tmp_path / "search"
    result = run_cli(
        [
            "-m",
            "hparams_search=gan_digits_optuna",
            "hydra.sweeper.n_trials=2",
            "hydra.sweeper.sampler.n_startup_trials=2",
            "steps=2",
            "eval.n_samples=100",
            "optimized_metric=fid_domain_100",  # the FID name carries the sample count
            "model.discriminator.width=8",
            "callbacks=none",
            f"hydra.sweep.dir={sweep_dir}",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    best = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert best["name"] == "optuna" and best["best_value"] > 0
    assert set(best["best_params"]) == {
        "model.generator_optimizer.lr",
        "model.generator.width",
        "model.ema_decay",
    }
    trials = sorted(p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit())
    assert len(trials) == 2 and all((p / "metrics.json").exists() for p in trials)


def test_an_unknown_optimized_metric_names_the_available_ones(tmp_path):
    result = run_cli(
        [
            "optimized_metric=fid_nonexistent",
            "steps=1",
            "eval.n_samples=100",
            "callbacks=none",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        tmp_path,
    )
    assert result.returncode == 2
    assert "optimized_metric=fid_nonexistent" in result.stderr and "fid_domain_100" in result.stderr
