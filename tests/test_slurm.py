"""Sweeps on a real SLURM cluster: slurm/local_cluster_up.sh starts one on this machine
(installing slurm-wlm, munge, slurmdbd and MariaDB with apt when missing), the tests
submit through ``hydra/launcher=slurm``, and local_cluster_down.sh stops what was started.

Needs root on Debian/Ubuntu (CI's machine kind); elsewhere the tests are skipped.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from ganlab.checkpoints import read_checkpoint
from ganlab.preemption import PREEMPTED_CHECKPOINT
from tests.conftest import REPO, run_cli

STATE = Path(os.environ.get("GANLAB_SLURM_DIR", "/tmp/ganlab-slurm"))
TINY = [
    "model.generator.width=8",
    "model.discriminator.width=8",
    "eval.n_samples=100",
    "callbacks.progress=null",
    "callbacks.evaluation=null",
]
# short jobs: a 10 min limit with USR2 30 s before it (see slurm/README.md on signal_delay_s)
LAUNCHER = [
    "hydra/launcher=slurm",
    "hydra.launcher.timeout_min=10",
    "hydra.launcher.signal_delay_s=30",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=2",
]


def cluster_unavailable() -> str | None:
    if sys.platform != "linux" or os.geteuid() != 0:
        return "the localhost SLURM cluster needs root on Linux"
    if shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        return "the localhost SLURM cluster needs apt-get (Debian/Ubuntu) or slurm-wlm installed"
    return None


@pytest.fixture(scope="module")
def local_cluster():
    reason = cluster_unavailable()
    if reason:
        pytest.skip(reason)
    run_script("local_cluster_up.sh", timeout=600)  # installs the packages when missing
    started = {path.stem: int(path.read_text()) for path in (STATE / "pids").glob("*.pid")}
    assert {"slurmctld", "slurmd"} <= set(started)
    yield started
    run_script("local_cluster_down.sh", timeout=120)
    still_running = [name for name, pid in started.items() if Path(f"/proc/{pid}").exists()]
    assert not still_running, f"left running after local_cluster_down.sh: {still_running}"


def run_script(name: str, timeout: float) -> None:
    result = subprocess.run(
        ["bash", str(REPO / "slurm" / name)], capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"slurm/{name} failed:\n{result.stdout}{result.stderr}"


def final_job_states(job_id: str, timeout: float = 60) -> dict[str, str]:
    """sacct's state of each job (array task) of ``job_id`` once none is still running
    (submitit returns when the result file is written, a moment before SLURM records it)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = subprocess.run(
            ["sacct", "-X", "-n", "-P", "-j", job_id, "-o", "JobID,State"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        states = dict(line.split("|") for line in lines)
        unfinished = {"PENDING", "RUNNING", "COMPLETING", "REQUEUED"} & set(states.values())
        if not unfinished or time.monotonic() > deadline:
            return states
        time.sleep(0.5)


def submitit_job_ids(sweep_dir: Path) -> list[str]:
    """The SLURM jobs of the sweep's members that started (``<job>`` or ``<array>_<task>``)."""
    return sorted({log.parent.name for log in (sweep_dir / ".submitit").glob("*/*_log.out")})


@pytest.mark.slow  # ~55 s with the local cluster: submitit jobs start Python afresh
def test_a_three_seed_sweep_runs_as_three_slurm_jobs(local_cluster, tmp_path):
    args = ["-m", *LAUNCHER, "experiment=gan_digits", "steps=6", *TINY, "seed=1,2,3"]
    result = run_cli(args, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    (sweep_dir,) = (tmp_path / "outputs").glob("*/multirun_*")  # one sweep dir for all three

    job_ids = submitit_job_ids(sweep_dir)
    assert len(job_ids) == 3 and len({job_id.split("_")[-1] for job_id in job_ids}) == 3
    assert final_job_states(job_ids[0].split("_")[0]) == {job_id: "COMPLETED" for job_id in job_ids}
    for member, seed in enumerate((1, 2, 3)):
        run_dir = sweep_dir / str(member)
        config = OmegaConf.load(run_dir / "config.yaml")
        assert config.seed == seed and Path(config.output_dir).resolve() == run_dir.resolve()
        metrics = (run_dir / "metrics.json").read_text()
        assert '"run_step": 6,' in metrics and "fid_domain_100" in metrics


def wait_for(condition, timeout: float, what: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the launcher exited while waiting for {what}"
        assert time.monotonic() < deadline, f"no {what} within {timeout:.0f} s"
        time.sleep(0.5)


@pytest.mark.slow
def test_a_ddp_member_signalled_by_submitit_is_requeued_and_resumes_in_its_run_dir(
    local_cluster, tmp_path
):
    """Two DDP processes started by SLURM (no re-launch) in a Hydra multirun; SIGUSR2 (what
    submitit asks SLURM to send before the time limit) mid-run: checkpoint, requeue, the
    same job resumes in the same run dir, under the same W&B run id, to the full length."""
    steps = 60
    sweep_dir = tmp_path / "sweep"
    args = [
        "-m",
        *LAUNCHER,
        "experiment=gan_digits",
        "trainer=ddp_cpu",
        "trainer.devices=2",
        "logger=wandb",
        f"steps={steps}",
        *TINY,
        "callbacks.samples.every_n_steps=5",
        f"hydra.sweep.dir={sweep_dir}",
        "seed=1",
    ]
    env = {**os.environ, "WANDB_MODE": "offline"}
    launcher = subprocess.Popen(
        [sys.executable, "-m", "ganlab.run", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    run_dir = sweep_dir / "0"
    try:
        wait_for(lambda: list(run_dir.glob("samples/step_*.png")), 300, "sample grid", launcher)
        (job_id,) = submitit_job_ids(sweep_dir)
        subprocess.run(["scancel", f"--signal={signal.SIGUSR2.name[3:]}", job_id], check=True)
        # SLURM holds a requeued job for ~2 min (BeginTime); release it at once
        wait_for(lambda: requeue_held(job_id), 120, "requeued job", launcher)
        subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], check=True)
        output, _ = launcher.communicate(timeout=600)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            subprocess.run(["scancel", *submitit_job_ids(sweep_dir)])
    assert launcher.returncode == 0, output

    assert final_job_states(job_id.split("_")[0]) == {job_id: "COMPLETED"}
    saved = read_checkpoint(run_dir / "checkpoints" / PREEMPTED_CHECKPOINT)
    assert 5 <= saved["ganlab"]["phase_steps"]["generator"] < steps
    metrics = (run_dir / "metrics.json").read_text()
    assert f'"run_step": {steps},' in metrics and f'"global_step": {2 * steps},' in metrics
    job_dir = sweep_dir / ".submitit" / job_id
    logs = {path.name: path.read_text() for path in job_dir.glob("*.out")}
    rank_zero_log = logs[f"{job_id}_0_log.out"]
    assert "Requeued job" in rank_zero_log
    assert f"resuming the interrupted run in {run_dir}" in rank_zero_log
    assert "MEMBER: 2/2" in logs[f"{job_id}_1_log.out"]  # the second SLURM task was rank 1
    assert "Restoring states" not in rank_zero_log.split("Requeued job")[0]
    wandb_runs = sorted(path.name for path in (run_dir / "wandb").glob("offline-run-*"))
    assert len(wandb_runs) == 2 and len({name.split("-")[-1] for name in wandb_runs}) == 1


def requeue_held(job_id: str) -> bool:
    squeue = subprocess.run(
        ["squeue", "-h", "-j", job_id, "-o", "%T %r"], capture_output=True, text=True
    ).stdout
    return re.search(r"PENDING\s+BeginTime", squeue) is not None
