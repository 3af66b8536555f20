"""Shared test helpers: compose the real configs (conf/) into a tmp run dir, run tasks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from ganlab.run import CONFIG_DIR
from ganlab.threads import usable_cpus

REPO = Path(__file__).resolve().parent.parent
# the test methods' configs (tests/conf), found the way a user's own config dir is
TEST_CONF = f"hydra.searchpath=[file://{REPO}/tests/conf]"
TINY_G = REPO / "tests" / "fixtures" / "stylegan2_rosinality" / "tiny_g.pt"
# tiny nets and no progress bar: the tests check behaviour, not sample quality
TINY = [
    "model.generator.width=8",
    "callbacks=none",
    "logger=csv",
    "eval.n_samples=100",
]


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist (the dev extra)
def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto`` (pyproject's addopts): one worker per CPU this process may use (affinity,
    cgroup quota; ``ganlab.threads``), not ``os.cpu_count()``."""
    return usable_cpus()


if "PYTEST_XDIST_WORKER" in os.environ:
    # an xdist worker computes with its share of the CPUs, and so do the runs it starts
    # (ganlab leaves a set OMP_NUM_THREADS alone): two workers on 2 cores, one thread each
    _threads = max(1, usable_cpus() // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    os.environ["OMP_NUM_THREADS"] = os.environ.get("OMP_NUM_THREADS") or str(_threads)
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Stats and toyfaces caches of the test session, not the user's ~/.cache/ganlab; the
    workers of one xdist session share one (both caches write a file whole or not at all)."""
    previous = os.environ.get("GANLAB_CACHE")
    if "PYTEST_XDIST_WORKER" in os.environ:
        shared = tmp_path_factory.getbasetemp().parent / "ganlab_cache"
        shared.mkdir(exist_ok=True)
        os.environ["GANLAB_CACHE"] = str(shared)
    else:
        os.environ["GANLAB_CACHE"] = str(tmp_path_factory.mktemp("ganlab_cache"))
    yield
    if previous is None:
        os.environ.pop("GANLAB_CACHE")
    else:
        os.environ["GANLAB_CACHE"] = previous


def digits_gan_unless_chosen(overrides: list[str]) -> list[str]:
    """``overrides`` with model=gan and data=digits (the tiny, quick digits GAN most tests run)
    where they choose no model, data or experiment; the main job's defaults are UDA-Inversion
    on toyfaces, which test_main_job.py tests."""
    chosen = {o.split("=")[0].lstrip("+~") for o in overrides if "=" in o}
    if "experiment" in chosen or "task" in chosen:
        return overrides
    defaults = [f"{group}={option}" for group, option in (("model", "gan"), ("data", "digits"))]
    return [d for d in defaults if d.split("=")[0] not in chosen] + overrides


def compose_run(run_dir: Path, overrides: list[str], main_defaults: bool = False) -> DictConfig:
    """The job config `python -m ganlab.run <overrides>` would get, writing into ``run_dir``
    (with the digits GAN as the default method unless ``main_defaults``)."""
    if not main_defaults:
        overrides = digits_gan_unless_chosen(overrides)
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    cfg.hydra.runtime.output_dir = str(run_dir)
    cfg.hydra.job.name = "test"
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


@pytest.fixture
def tiny_run(tmp_path):
    """Compose and run a tiny training job; returns (cfg, run dir)."""
    from ganlab.run import run_task

    def run(overrides: list[str], name: str = "run", critic: str = "discriminator"):
        """``critic``: the model's name for the net playing against the generator."""
        run_dir = tmp_path / name
        cfg = compose_run(run_dir, [*TINY, f"model.{critic}.width=8", *overrides])
        run_task(cfg)
        return cfg, run_dir

    return run


def run_cli(
    args: list[str], cwd: Path, env: dict | None = None, main_defaults: bool = False
) -> subprocess.CompletedProcess:
    """`python -m ganlab.run ARGS` in a subprocess (exit codes, Hydra's own run dirs), with
    the digits GAN as the default method unless ``main_defaults``."""
    if not main_defaults:
        multirun = [a for a in args if a in ("-m", "--multirun")]
        args = multirun + digits_gan_unless_chosen([a for a in args if a not in multirun])
    full_env = {**os.environ, "WANDB_MODE": "offline", "PYTHONPATH": str(REPO), **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(
        [sys.executable, "-m", "ganlab.run", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def train_on_one_and_two_processes(
    tmp_path: Path, overrides: list[str], batch: int
) -> dict[str, Path]:
    """Train ``overrides`` twice through the CLI: on 2 gloo processes with ``batch`` each
    ("two") and on 1 process with ``2 * batch`` ("one"); the two run dirs."""
    run_dirs = {"two": tmp_path / "two_processes", "one": tmp_path / "one_process"}
    trainers = {
        "two": ["trainer=ddp_cpu", "trainer.devices=2", f"data.batch_size={batch}"],
        "one": ["trainer=cpu", f"data.batch_size={2 * batch}"],
    }
    for name, run_dir in run_dirs.items():
        result = run_cli([*overrides, *trainers[name], f"hydra.run.dir={run_dir}"], tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
    return run_dirs


def final_state(run_dir: Path) -> dict:
    """The state_dict of ``run_dir``'s last.ckpt."""
    from ganlab.checkpoints import read_checkpoint

    return read_checkpoint(run_dir / "checkpoints" / "last.ckpt")["state_dict"]


class PooledPixels(torch.nn.Module):
    """Stands in for VGG-19's ``maps`` (548 MB of weights a test cannot ship): the image at
    full, half and quarter size, so layer 2 is at a quarter, as relu3_4 is."""

    def __init__(self, depth: int = 19, weights_path: str | None = None):
        super().__init__()
        self.depth = depth

    def maps(self, images):
        return [images, F.avg_pool2d(images, 2), F.avg_pool2d(images, 4)]
