"""Nothing lost: Ctrl-C (SIGINT) and SIGTERM save ``interrupted.ckpt`` and exit 128 + n, a
second one exits at once, a process killed while saving leaves the previous checkpoint
intact, and rerunning in the same run dir resumes (ganlab.preemption, RunCheckpoint)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ganlab.checkpoints import PARTIAL_SUFFIX, read_checkpoint
from ganlab.errors import CheckpointError
from ganlab.preemption import INTERRUPTED_CHECKPOINT
from tests.conftest import REPO, run_cli

# digits: 1617 train images // 64 = 25 batches per epoch; steps=50 is two whole epochs
TRAINING = [
    "model.generator.width=8",
    "model.discriminator.width=8",
    "eval.n_samples=100",
    "steps=50",
    "trainer.deterministic=true",
    "callbacks=default",
    "callbacks.progress=null",
    "callbacks.lr_monitor=null",
    "callbacks.samples=null",
    "callbacks.evaluation=null",
]


def test_a_second_interruption_ends_the_process_at_once():
    code = (
        "import os, signal, time\n"
        "from ganlab.preemption import PreemptionSignals\n"
        "with PreemptionSignals([], ['SIGINT', 'SIGTERM']) as noted:\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    time.sleep(0.1)\n"
        "    print(noted.received.name, noted.interrupted, flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    time.sleep(10)\n"
        "    print('still running')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert result.stdout == "SIGTERM True\n"  # the first was only noted
    # the second: its default action, at once: the process dies inside its 10 s sleep, before
    # it can print "still running" (no wall-time bound: imports alone take seconds on a busy
    # machine)
    assert result.returncode == -signal.SIGINT


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("uninterrupted")
    result = run_cli([*TRAINING, f"hydra.run.dir={tmp / 'run'}"], cwd=tmp)
    assert result.returncode == 0, result.stderr[-2000:]
    return tmp / "run" / "checkpoints" / "last.ckpt"


@pytest.mark.parametrize("name, exit_code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_an_interrupted_run_saves_exits_and_resumes_to_the_uninterrupted_weights(
    tmp_path, uninterrupted, name, exit_code
):
    run_dir = tmp_path / "run"
    command = [
        *TRAINING,
        "+callbacks.interrupt._target_=tests.interruptions.SignalAtStep",
        f"+callbacks.interrupt.signal_name={name}",
        "+callbacks.interrupt.step=25",  # the last batch of the first epoch
        f"hydra.run.dir={run_dir}",
    ]
    first = run_cli(command, cwd=tmp_path)
    saved = run_dir / "checkpoints" / INTERRUPTED_CHECKPOINT
    assert first.returncode == exit_code, first.stderr[-2000:]
    assert f"{name} received; saved {saved} at optimizer step 50" in first.stderr
    assert f"rerun the same command with hydra.run.dir={run_dir}" in first.stderr
    assert read_checkpoint(saved)["ganlab"]["phase_steps"]["generator"] == 25
    assert not (run_dir / "metrics.json").exists()

    second = run_cli(command, cwd=tmp_path)  # the same command: it resumes
    assert second.returncode == 0, second.stderr[-2000:]
    # from interrupted.ckpt, or last.ckpt that training's end wrote after it (the same state)
    assert f"resuming the interrupted run in {run_dir} from" in second.stdout
    assert json.loads((run_dir / "metrics.json").read_text())["run_step"] == 50
    straight = read_checkpoint(uninterrupted)
    resumed = read_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    assert resumed["global_step"] == straight["global_step"] == 100
    for key, value in straight["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][key]), key


def test_a_process_killed_while_saving_leaves_the_previous_checkpoint_and_resumes(tmp_path):
    run_dir, marker = tmp_path / "run", tmp_path / "cut_short"
    command = [
        *TRAINING,
        "steps=30",
        "callbacks.checkpoint.every_n_train_steps=10",  # optimizer steps: D and G, 5 batches
        "callbacks.checkpoint._target_=tests.interruptions.CutShortCheckpoint",
        f"+callbacks.checkpoint.marker={marker}",
        f"hydra.run.dir={run_dir}",
    ]
    args = [sys.executable, "-m", "ganlab.run", "model=gan", "data=digits", *command]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(args, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not marker.exists():  # the second last.ckpt is half written
        assert process.poll() is None, process.stderr.read()[-2000:]
        assert time.monotonic() < deadline, "the cut-short save did not happen within 300 s"
        time.sleep(0.1)
    time.sleep(0.2)
    process.kill()  # SIGKILL: no handler runs
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL

    last = run_dir / "checkpoints" / "last.ckpt"
    partial = last.with_name(last.name + PARTIAL_SUFFIX)
    assert marker.read_text() == "20"
    assert read_checkpoint(last)["global_step"] == 10  # the previous save, intact
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        read_checkpoint(partial)  # the cut-short write never took last.ckpt's name

    resumed = run_cli(command, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming the interrupted run in {run_dir} from {last}" in resumed.stdout
    assert not partial.exists()
    assert json.loads((run_dir / "metrics.json").read_text())["run_step"] == 30
    assert read_checkpoint(last)["global_step"] == 60
