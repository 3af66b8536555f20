"""End-to-end runs through the real configs: outputs, per-phase logging, resume, errors."""

import csv
import json

import pytest
import torch
from hydra.utils import instantiate

from ganlab.checkpoints import read_checkpoint
from ganlab.errors import CheckpointError, ConfigError
from ganlab.run import run_task
from tests.conftest import REPO, TINY, compose_run, run_cli


def read_csv_log(run_dir):
    with open(run_dir / "logs" / "metrics.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("loss", ["wgan_gp", "wgan_clip"])
def test_wgan_logs_every_phase_loss_every_step(tiny_run, loss):
    cfg, run_dir = tiny_run(["model=wgan", f"loss={loss}", "trainer.max_steps=24"], critic="critic")
    rows = read_csv_log(run_dir)
    critic_rows = [r for r in rows if r.get("loss/critic")]
    generator_rows = [r for r in rows if r.get("loss/generator")]
    assert len(critic_rows) == 20 and len(generator_rows) == 4  # 24 optimizer steps, n_critic 5
    assert all(r["critic/wasserstein"] for r in critic_rows)
    report = json.loads((run_dir / "metrics.json").read_text())
    assert report["global_step"] == 24 and report["run_step"] == 4
    assert set(report["final_losses"]) == {"loss/critic", "loss/generator"}
    assert cfg.model.n_critic == 5


def test_loss_group_holds_the_objective_and_the_model_its_optimizers():
    gp = compose_run(REPO / "unused", ["model=wgan", "loss=wgan_gp"])
    assert dict(gp.loss) == {
        "game": "wasserstein",
        "gradient_penalty": 10.0,
        "weight_clip": None,
        "critic_norm": "layer",
        "critic_minibatch_kernels": 0,
        "generator_adam_lr": 2e-4,
        "critic_adam_lr": 2e-4,
    }
    assert gp.model.critic.norm == "layer" and gp.model.critic.minibatch_kernels == 0
    # the clipped critic: the paper's BatchNorm, our minibatch layer, two Adam time scales
    clipped = compose_run(REPO / "unused", ["experiment=wgan_digits", "loss=wgan_clip"])
    assert clipped.model.critic.norm == "batch" and clipped.model.critic.minibatch_kernels == 16
    assert clipped.model.critic_optimizer.lr == 1e-3 and clipped.model.weight_clip == 0.01
    assert clipped.model.generator_optimizer.lr == 5e-4
    assert gp.model.critic_optimizer._target_ == "torch.optim.Adam"
    assert list(gp.model.critic_optimizer.betas) == [0.5, 0.9] and gp.model.n_critic == 5
    clip = compose_run(REPO / "unused", ["experiment=wgan_clip_digits"])
    assert clip.model.critic_optimizer._target_ == "torch.optim.RMSprop"
    assert clip.model.critic_optimizer.lr == 5e-5 and clip.model.weight_clip == 0.01
    assert clip.model.generator_optimizer._target_ == "torch.optim.RMSprop"
    assert dict(clip.model.critic_burst) == {"steps": 100, "first": 25, "every": 500}
    assert clip.model.critic.norm == "batch" and clip.model.critic.minibatch_kernels == 0
    assert compose_run(REPO / "unused", ["model=wgan"]).loss.game == "wasserstein"
    default = compose_run(REPO / "unused", [])
    assert dict(default.loss) == {"game": "nsgan"} and "divergence" not in default
    assert compose_run(REPO / "unused", ["model=fgan"]).divergence.name == "pearson"


def test_image_channels_and_size_come_from_the_data(tmp_path):
    run_dir = tmp_path / "faces"
    cfg = compose_run(
        run_dir,
        [
            *TINY,
            "model.discriminator.width=8",
            "data=toyfaces",
            "data.size=32",
            "data.n_train=128",
            "data.batch_size=16",
            "steps=2",
            "~features",
        ],
    )
    assert cfg.model.generator.channels == cfg.model.discriminator.channels == 3
    run_task(cfg)
    assert json.loads((run_dir / "metrics.json").read_text())["run_step"] == 2
    assert instantiate(cfg.model).sample(2).shape == (2, 3, 32, 32)
    grey = compose_run(tmp_path / "grey", ["data=digits", "data.channels=3"])
    assert instantiate(grey.model).sample(1).shape == (1, 3, 32, 32)


def test_features_null_turns_fid_off_from_the_command_line(tmp_path):
    result = run_cli(
        [
            *TINY,
            "model.discriminator.width=8",
            "steps=2",
            "features=null",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())["metrics"]
    assert "digits_score" in metrics and not any(k.startswith("fid_") for k in metrics)


@pytest.mark.parametrize(
    "checkpointing, saved",
    [
        ([], "last.ckpt"),  # written when training stops (on_train_end)
        (
            [
                "callbacks.checkpoint.every_n_train_steps=null",
                "+callbacks.checkpoint.every_n_epochs=1",
            ],
            "step0000050.ckpt",
        ),  # written by on_train_epoch_end
    ],
)
def test_resume_from_epoch_boundary_matches_uninterrupted_run(tiny_run, checkpointing, saved):
    # digits: 1617 train images // 64 = 25 batches per epoch = 25 generator steps (n_critic 1)
    common = [
        "trainer.deterministic=true",
        "callbacks=default",
        "callbacks.progress=null",
        "callbacks.lr_monitor=null",
        "callbacks.samples=null",
        *checkpointing,
    ]
    _, straight = tiny_run([*common, "steps=50"], name="straight")
    _, first = tiny_run([*common, "steps=25"], name="first")
    last = first / "checkpoints" / saved
    assert read_checkpoint(last)["ganlab"]["phase_steps"] == {"discriminator": 25, "generator": 25}
    _, resumed = tiny_run([*common, "steps=50", f"ckpt_path={last}"], name="resumed")
    a = read_checkpoint(straight / "checkpoints" / "last.ckpt")
    b = read_checkpoint(resumed / "checkpoints" / "last.ckpt")
    assert a["global_step"] == b["global_step"] == 100
    assert (
        a["ganlab"]["phase_steps"]
        == b["ganlab"]["phase_steps"]
        == {"discriminator": 50, "generator": 50}
    )
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    for opt_a, opt_b in zip(a["optimizer_states"], b["optimizer_states"], strict=True):
        for state_a, state_b in zip(opt_a["state"].values(), opt_b["state"].values(), strict=True):
            assert torch.equal(state_a["exp_avg"], state_b["exp_avg"])


def test_eval_task_scores_a_checkpoint(tiny_run, tmp_path):
    _, run_dir = tiny_run(["steps=3", "callbacks=default", "callbacks.progress=null"], name="train")
    cfg = compose_run(
        tmp_path / "eval",
        [
            "task=eval",
            f"ckpt_path={run_dir}/checkpoints/last.ckpt",
            "eval.n_samples=50",
            "model=wgan",
        ],
    )
    run_task(cfg)
    report = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert report["task"] == "eval" and report["run_step"] == 3
    assert report["protocol"]["n_generated"] == 50
    assert 1.0 <= report["metrics"]["digits_score"] <= 10.0


def test_checkpoint_of_another_method_or_architecture_is_refused(tiny_run, tmp_path):
    _, run_dir = tiny_run(["steps=2", "callbacks=default", "callbacks.progress=null"], name="gan")
    last = run_dir / "checkpoints" / "last.ckpt"
    other_method = compose_run(tmp_path / "a", [*TINY, "model=wgan", f"ckpt_path={last}"])
    with pytest.raises(
        CheckpointError,
        match=r"written by method ganlab\.methods\.noise\.gan\.GAN.*builds .*noise\.wgan\.WGAN",
    ):
        run_task(other_method)
    other_width = compose_run(
        tmp_path / "b", [*TINY, "model.discriminator.width=16", f"ckpt_path={last}"]
    )
    with pytest.raises(
        CheckpointError,
        match=r"shape mismatches discriminator.body.0.weight: "
        r"checkpoint \(8, 1, 4, 4\) vs model \(16, 1, 4, 4\)",
    ):
        run_task(other_width)


def test_unreadable_checkpoint_is_refused(tmp_path):
    garbage = tmp_path / "broken.ckpt"
    garbage.write_bytes(b"not a checkpoint")
    cfg = compose_run(tmp_path / "run", [*TINY, f"ckpt_path={garbage}"])
    with pytest.raises(CheckpointError, match="cannot read checkpoint .*broken.ckpt"):
        run_task(cfg)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    cfg = compose_run(tmp_path / "run2", [*TINY, f"ckpt_path={foreign}"])
    with pytest.raises(CheckpointError, match="not a ganlab training checkpoint"):
        run_task(cfg)


def test_eval_without_checkpoint_and_existing_run_dir_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="task=eval needs a trained model: ckpt_path="):
        run_task(compose_run(tmp_path / "e", ["task=eval"]))
    (tmp_path / "old" / "checkpoints").mkdir(parents=True)
    with pytest.raises(ConfigError, match="already holds a run; ganlab never overwrites"):
        run_task(compose_run(tmp_path / "old", TINY))


@pytest.mark.parametrize(
    "args, message",
    [
        (["model=nope"], "Available options in 'model'"),
        (["no_such_key=1"], "Could not override 'no_such_key'"),
        (["seed=???"], "missing required value(s): seed"),
        (["ckpt_path=/nonexistent/last.ckpt"], "checkpoint not found: /nonexistent/last.ckpt"),
    ],
)
def test_input_errors_exit_2_with_one_message(tmp_path, args, message):
    result = run_cli([*args, "steps=1"], cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_last_checkpoint_holds_the_final_state_after_periodic_saves(tiny_run):
    _, run_dir = tiny_run(
        [
            "steps=5",
            "callbacks=default",
            "callbacks.progress=null",
            "callbacks.checkpoint.every_n_train_steps=4",
        ]
    )
    checkpoints = run_dir / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == [
        "last.ckpt",
        "step0000004.ckpt",
        "step0000008.ckpt",
    ]
    last = read_checkpoint(checkpoints / "last.ckpt")
    assert last["global_step"] == 10 and last["ganlab"]["phase_steps"]["generator"] == 5
