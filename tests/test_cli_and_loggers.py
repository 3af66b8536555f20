"""The command line as users run it, and the experiment loggers."""

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganlab.checkpoints import read_checkpoint
from ganlab.loggers import wandb_api_key_configured
from tests.conftest import run_cli

FAST = [
    "model=gan",
    "data=digits",
    "steps=6",
    "callbacks.samples.every_n_steps=3",
    "eval.n_samples=100",
    "model.generator.width=8",
    "model.discriminator.width=8",
]


@pytest.mark.slow
def test_two_jobs_started_together_get_separate_complete_run_dirs(tmp_path):
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "ganlab.run", *FAST],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    run_dirs = sorted((tmp_path / "outputs" / "gan").iterdir())
    assert len(run_dirs) == 2
    for run_dir in run_dirs:
        assert (run_dir / ".hydra" / "config.yaml").is_file()
        assert (run_dir / "config.yaml").is_file()  # resolved
        assert (run_dir / "checkpoints" / "last.ckpt").is_file()
        assert sorted(p.name for p in (run_dir / "samples").iterdir()) == [
            "step_0000003.png",
            "step_0000006.png",
        ]
        assert (run_dir / "metrics.json").is_file()
        assert (run_dir / "logs" / "metrics.csv").is_file()
    assert any(str(run_dirs[0].name) in out for out, _ in outputs)


def test_ganlab_console_script_runs_from_any_directory(tmp_path):
    result = subprocess.run(["ganlab", "--help"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.startswith("ganlab is powered by Hydra")
    model_line = next(line for line in result.stdout.splitlines() if line.startswith("model: "))
    assert {"gan", "wgan", "fgan", "infogan"} <= set(model_line[len("model: ") :].split(", "))


@pytest.fixture
def no_wandb_key(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb-cache"))
    assert not wandb_api_key_configured()


def test_wandb_runs_offline_without_a_key_and_resume_keeps_the_run_id(tiny_run, no_wandb_key):
    wandb_args = [
        "logger=wandb",
        "callbacks=default",
        "callbacks.progress=null",
        "logger.wandb.tags=[test]",
    ]
    _, first = tiny_run([*wandb_args, "steps=3", "callbacks.samples.every_n_steps=3"], name="first")
    offline_runs = list((first / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 1
    run_id = read_checkpoint(first / "checkpoints" / "last.ckpt")["ganlab"]["wandb_run_id"]
    assert offline_runs[0].name.endswith(run_id)
    assert (offline_runs[0] / f"run-{run_id}.wandb").is_file()
    assert list((offline_runs[0] / "files" / "media" / "images").glob("samples_*.png"))

    _, resumed = tiny_run(
        [*wandb_args, "steps=5", f"ckpt_path={first}/checkpoints/last.ckpt"], name="resumed"
    )
    resumed_runs = list((resumed / "wandb").glob("offline-run-*"))
    assert [p.name.split("-")[-1] for p in resumed_runs] == [run_id]


def test_tensorboard_logger_writes_events_and_sample_images(tiny_run):
    _, run_dir = tiny_run(
        [
            "logger=tensorboard",
            "callbacks=default",
            "callbacks.progress=null",
            "steps=2",
            "callbacks.samples.every_n_steps=1",
        ]
    )
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard")).Reload()
    assert "samples" in events.Tags()["images"]
    assert {"loss/discriminator", "loss/generator"} <= set(events.Tags()["scalars"])


@pytest.mark.slow  # the quick suite sweeps in test_metrics (compare) and test_launchers (optuna)
def test_multirun_sweep_writes_one_dir_per_member(tmp_path):
    result = run_cli(["-m", "loss=nsgan,hinge", *FAST, "callbacks.progress=null"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (sweep,) = (tmp_path / "outputs" / "gan").glob("multirun_*")
    members = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert members == ["0", "1"]
    games = {(sweep / m / "config.yaml").read_text().split("game: ")[1].split()[0] for m in members}
    assert games == {"nsgan", "hinge"}
    assert all((sweep / m / "metrics.json").is_file() for m in members)


def test_offline_wandb_run_reads_back_with_losses_images_and_final_metrics(tiny_run, no_wandb_key):
    from tests.wandb_records import summary, wait_until_complete

    args = ["logger=wandb", "callbacks=default", "callbacks.progress=null", "steps=3"]
    _, run_dir = tiny_run([*args, "callbacks.samples.every_n_steps=3", "name=wb_check"])
    (run_file,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    wait_until_complete(run_file)
    info = summary(run_file)
    logged = info["history_keys"]
    assert {"loss/discriminator", "loss/generator", "final/fid_domain_100"} <= logged
    assert {"samples/_type", "final_metrics/_type"} <= logged  # an image and a table
    assert list(run_file.parent.glob("files/media/images/samples_*.png"))
    assert info["group"] == "wb_check" and info["job_type"] == "fit"
    assert "git_commit" in info["config"] and "model._target_" in info["config"]  # dotted
    assert "model" not in info["config"]


def test_wandb_and_tensorboard_images_equal_the_local_sample_grids(tiny_run, no_wandb_key):
    """W&B once received float grids it cast to uint8 unscaled: every image was black."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from tests.wandb_records import logged_images, wait_until_complete

    args = ["logger=[wandb,tensorboard]", "callbacks=default", "callbacks.progress=null"]
    _, run_dir = tiny_run([*args, "steps=4", "callbacks.samples.every_n_steps=2"])
    local = {
        int(path.stem.split("_")[1]): pixels(path)
        for path in sorted((run_dir / "samples").glob("step_*.png"))
    }
    assert sorted(local) == [2, 4] and local[2].max() > local[2].min()
    assert not np.array_equal(local[2], local[4])
    (run_file,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    wait_until_complete(run_file)
    logged = logged_images(run_file, "samples")  # {global step: media file}
    assert sorted(logged) == [4, 8]  # a GAN steps D and G: global step = 2 x run step
    for run_step, path in zip(sorted(local), [logged[4], logged[8]], strict=True):
        assert np.array_equal(pixels(run_file.parent / "files" / path), local[run_step])
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    shown = {event.step: event.encoded_image_string for event in events.Images("samples")}
    assert sorted(shown) == [4, 8]
    for run_step, step in zip(sorted(local), [4, 8], strict=True):
        decoded = np.asarray(Image.open(io.BytesIO(shown[step])).convert("RGB"))
        assert np.array_equal(decoded, local[run_step])


def test_learning_rates_are_logged_at_the_global_step_of_the_losses(tiny_run, no_wandb_key):
    from tests.wandb_records import history, wait_until_complete

    args = ["logger=wandb", "callbacks=default", "callbacks.progress=null", "steps=3"]
    _, run_dir = tiny_run([*args, "callbacks.samples=null", "callbacks.evaluation=null"])
    (run_file,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    wait_until_complete(run_file)
    rows = history(run_file)
    loss_steps = [row["trainer/global_step"] for row in rows if "loss/generator" in row]
    lr_steps = [row["trainer/global_step"] for row in rows if "lr-Adam" in row]
    assert loss_steps == [2, 4, 6]
    assert lr_steps == [0, 2, 4]  # before each batch: the steps the losses were logged at
    steps = [row["trainer/global_step"] for row in rows]
    assert steps == sorted(steps)  # one axis, never going back


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_sweep_members_share_a_wandb_group_and_are_named_by_their_overrides(tmp_path, no_wandb_key):
    from tests.wandb_records import summary

    tiny = ["model.generator.width=8", "model.discriminator.width=8", "callbacks=none"]
    sweep = ["-m", *tiny, "eval.n_samples=100", "logger=wandb", "name=sweep_check", "steps=2"]
    result = run_cli([*sweep, "seed=1,2", f"hydra.sweep.dir={tmp_path / 'sweep'}"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    infos = [summary(f) for f in sorted(tmp_path.glob("sweep/*/wandb/offline-run-*/run-*.wandb"))]
    assert len(infos) == 2
    assert {info["group"] for info in infos} == {"sweep_check"}
    names = sorted(info["name"] for info in infos)
    assert ["seed=1" in names[0], "seed=2" in names[1]] == [True, True]
    assert all("name=sweep_check" in name and "steps=2" in name for name in names)


def test_the_console_holds_ganlab_lines_and_not_lightning_chatter(tmp_path):
    """A CPU run's console: ganlab's own lines (the thread count first), no advertising tip,
    no "GPU/TPU available: False", no "fit stopped at max_steps"."""
    result = run_cli(
        ["steps=2", "trainer.threads=1", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    console = result.stdout + result.stderr
    assert result.stdout.startswith("ganlab: 1 compute thread(s) per process (trainer.threads=1)")
    assert "ganlab: done" in console
    for chatter in ("litlogger", "Tip:", "TPU available", "GPU available", "`Trainer.fit` stopped"):
        assert chatter not in console, chatter
