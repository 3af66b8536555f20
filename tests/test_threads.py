"""ganlab's thread count: the CPUs the process may use (affinity, cgroup quota), shared."""

import os
import subprocess
import sys

import pytest
import torch

from ganlab.threads import (
    cgroup_cpu_limit,
    quota_from_cfs,
    quota_from_cpu_max,
    threads_per_process,
    usable_cpus,
)
from tests.conftest import REPO


def test_cgroup_v2_cpu_max_gives_cpus_and_max_means_no_limit():
    assert quota_from_cpu_max("200000 100000\n") == 2.0
    assert quota_from_cpu_max("150000 100000") == 1.5
    assert quota_from_cpu_max("max 100000") is None


def test_cgroup_v1_quota_over_period_and_minus_one_means_no_limit():
    assert quota_from_cfs("50000\n", "100000\n") == 0.5
    assert quota_from_cfs("-1", "100000") is None


def test_the_process_own_v2_group_limits_more_tightly_than_the_root(tmp_path):
    own = tmp_path / "job" / "step_0"
    own.mkdir(parents=True)
    (own / "cpu.max").write_text("300000 100000\n")
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_limit(tmp_path, "0::/job/step_0\n") == 3.0


def test_a_v1_cpu_controller_path_is_read(tmp_path):
    own = tmp_path / "cpu" / "slurm" / "job7"
    own.mkdir(parents=True)
    (own / "cpu.cfs_quota_us").write_text("400000\n")
    (own / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_limit(tmp_path, "4:memory:/x\n2:cpu,cpuacct:/slurm/job7\n") == 4.0


def test_no_cgroup_files_mean_no_limit(tmp_path):
    assert cgroup_cpu_limit(tmp_path, "0::/\n") is None


def test_usable_cpus_never_exceed_the_affinity_mask():
    assert 1 <= usable_cpus() <= len(os.sched_getaffinity(0))


def test_processes_on_a_node_share_its_cpus_with_at_least_one_thread_each():
    assert threads_per_process(16, 4) == 4
    assert threads_per_process(2, 2) == 1
    assert threads_per_process(2, 3) == 1
    assert threads_per_process(8, 1) == 8


def test_importing_ganlab_shortens_the_openmp_spin_unless_the_user_chose():
    probe = "import ganlab, os; print(os.environ.get('GOMP_SPINCOUNT'))"
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env["PYTHONPATH"] = str(REPO)

    def spin_count(**chosen: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", probe], env={**env, **chosen}, capture_output=True, text=True
        )
        return done.stdout.strip()

    assert spin_count() == "1000"
    assert spin_count(GOMP_SPINCOUNT="50") == "50"
    assert spin_count(OMP_WAIT_POLICY="ACTIVE") == "None"


@pytest.fixture
def threads_restored():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_a_run_uses_trainer_threads_and_says_so(tiny_run, capsys, threads_restored):
    tiny_run(["steps=1", "trainer.threads=1"])
    assert torch.get_num_threads() == 1
    assert "ganlab: 1 compute thread(s) per process (trainer.threads=1)" in capsys.readouterr().out
