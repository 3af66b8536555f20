"""Preemption: a signal mid-run leaves a checkpoint in the run dir, and the same command
resumes from it and finishes with the expected step count (ganlab.preemption)."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from ganlab.checkpoints import read_checkpoint
from ganlab.preemption import (
    EXIT_PREEMPTED,
    INTERRUPTED_CHECKPOINT,
    PREEMPTED_CHECKPOINT,
    PreemptionSignals,
    resumable_checkpoint,
    signal_number,
)


@pytest.mark.parametrize("name", ["SIGUSR1", "USR1", "usr1", "10"])
def test_signal_names_are_read_with_or_without_the_sig_prefix(name):
    assert signal_number(name) is signal.SIGUSR1


def test_an_unknown_signal_name_is_refused_by_name():
    with pytest.raises(ValueError, match="'SIGNOPE' is not a signal name"):
        signal_number("SIGNOPE")


def test_signals_only_set_a_flag_while_active_and_the_old_handlers_come_back():
    before = signal.getsignal(signal.SIGUSR2)
    with PreemptionSignals(["SIGUSR2"]) as preemption:
        assert preemption.received is None
        os.kill(os.getpid(), signal.SIGUSR2)  # would end the process without the handler
        time.sleep(0.05)
        assert preemption.received is signal.SIGUSR2
    assert signal.getsignal(signal.SIGUSR2) is before


def test_requeue_outside_slurm_does_nothing_but_say_how_to_resume(monkeypatch):
    for variable in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"):
        monkeypatch.delenv(variable, raising=False)
    with PreemptionSignals(["SIGUSR1"]) as preemption:
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.05)
        assert "rerun the same command" in preemption.requeue(is_rank_zero=True)


def test_the_checkpoint_to_resume_from(tmp_path):
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    assert resumable_checkpoint(tmp_path) is None  # nothing saved yet: nothing to resume
    last = checkpoints / "last.ckpt"
    preempted = checkpoints / PREEMPTED_CHECKPOINT
    interrupted = checkpoints / INTERRUPTED_CHECKPOINT
    last.write_bytes(b"")
    assert resumable_checkpoint(tmp_path) == last  # killed without warning
    preempted.write_bytes(b"")
    os.utime(last, ns=(1, 1))
    assert resumable_checkpoint(tmp_path) == preempted
    os.utime(preempted, ns=(0, 0))  # last.ckpt newer: saved after the preemption's resume
    assert resumable_checkpoint(tmp_path) == last
    interrupted.write_bytes(b"")  # then Ctrl-C
    assert resumable_checkpoint(tmp_path) == interrupted
    (tmp_path / "metrics.json").write_text("{}")
    assert resumable_checkpoint(tmp_path) is None  # finished: a rerun is refused instead


def logged_steps(run_dir: Path) -> list[int]:
    """The optimizer steps of the run's CSV log, in the order they were written."""
    with open(run_dir / "logs" / "metrics.csv", newline="") as file:
        return [int(row["step"]) for row in csv.DictReader(file) if row["loss/generator"]]


def test_a_run_signalled_mid_training_saves_stops_and_the_same_command_resumes_it(tmp_path):
    steps = 60
    run_dir = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "ganlab.run",
        "model=gan",
        "data=digits",
        "model.generator.width=8",
        "model.discriminator.width=8",
        "eval.n_samples=100",
        f"steps={steps}",
        "callbacks=default",
        "callbacks.progress=null",
        "callbacks.evaluation=null",
        "callbacks.samples.every_n_steps=5",
        f"hydra.run.dir={run_dir}",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    first = subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not list((run_dir / "samples").glob("step_*.png")):  # training is under way
        assert first.poll() is None, first.stderr.read()
        assert time.monotonic() < deadline, "no sample grid within 300 s"
        time.sleep(0.1)
    first.send_signal(signal.SIGUSR1)  # Lightning's requeue signal
    _, stderr = first.communicate(timeout=300)

    assert first.returncode == EXIT_PREEMPTED, stderr
    assert "SIGUSR1 received" in stderr
    saved = read_checkpoint(run_dir / "checkpoints" / PREEMPTED_CHECKPOINT)
    saved_step = saved["ganlab"]["phase_steps"]["generator"]
    assert 5 <= saved_step < steps
    assert not (run_dir / "metrics.json").exists()

    second = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert f"resuming the interrupted run in {run_dir}" in second.stdout
    metrics = (run_dir / "metrics.json").read_text()
    assert f'"run_step": {steps},' in metrics
    assert f'"global_step": {2 * steps},' in metrics  # D and G step once per batch
    logged = logged_steps(run_dir)  # both starts, in one file: the second went on from the first
    assert logged == [2 * batch for batch in range(1, steps + 1)]  # none repeated, none lost


def test_several_processes_compare_flags_only_every_nth_batch():
    """The comparison is a collective: every process makes it after the same batches."""
    from ganlab.preemption import PreemptionCheckpoint

    compared = []

    def reduce_boolean_decision(decision, all=True):  # another process was signalled
        compared.append((decision, all))
        return True

    strategy = SimpleNamespace(reduce_boolean_decision=reduce_boolean_decision)
    trainer = SimpleNamespace(world_size=2, strategy=strategy)
    stopper = PreemptionCheckpoint(PreemptionSignals([]), Path("unused.ckpt"), every_n_batches=3)
    decisions = []
    for _ in range(6):
        stopper._batches += 1
        decisions.append(stopper._any_process_signalled(trainer))
    assert decisions == [False, False, True, False, False, True]
    assert compared == [(False, False), (False, False)]  # this process had no signal; any wins
    alone = SimpleNamespace(world_size=1)
    stopper.signals.received = signal.SIGUSR2
    assert stopper._any_process_signalled(alone)  # one process: after every batch, no collective
    assert len(compared) == 2
