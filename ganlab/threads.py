"""How many threads a run computes with: the CPUs this process may actually use, shared.

``os.cpu_count()`` counts the machine's cores, not this process's share of them: a SLURM job,
a container with a CPU quota or a ``taskset`` sees fewer. ganlab reads the affinity mask and
the cgroup CPU quota (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``), divides
the CPUs among the processes of a DDP run on this node, and sets torch's intra-op threads to
that (``trainer.threads=N`` sets it by hand).

Waiting threads spin briefly, then sleep (``GOMP_SPINCOUNT=1000``, set in
``ganlab/__init__.py`` before torch starts its OpenMP pool, unless the user set it or
``OMP_WAIT_POLICY``): with two jobs on the same cores, threads spinning for GNU OpenMP's
default 300,000 rounds burn the time slices the other job's threads need, which made two
main jobs on 2 cores 4.6x slower each instead of 2x (``benchmarks/main_job.py side-by-side``:
4.61 before, 2.00 after; ``OMP_WAIT_POLICY=PASSIVE``, no spinning at all, gave 1.32 shared
but cost ~45 % alone). Other OpenMP runtimes (LLVM's, Intel's) read ``KMP_BLOCKTIME`` instead.
"""

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def quota_from_cpu_max(text: str) -> float | None:
    """CPUs allowed by a cgroup v2 ``cpu.max`` line (``"200000 100000"`` -> 2.0; ``"max ..."``
    -> None, no limit)."""
    fields = text.split()
    if not fields or fields[0] == "max":
        return None
    period = float(fields[1]) if len(fields) > 1 else 100000.0
    return float(fields[0]) / period


def quota_from_cfs(quota_us: str, period_us: str) -> float | None:
    """CPUs allowed by cgroup v1's ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (-1: none)."""
    quota = float(quota_us)
    if quota <= 0:
        return None
    return quota / float(period_us)


def own_cgroup_paths(proc_cgroup: str) -> dict[str, str]:
    """{controller list or "" for v2: path} from ``/proc/self/cgroup``'s lines."""
    paths = {}
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            paths[parts[1]] = parts[2]
    return paths


def cgroup_cpu_limit(root: Path = CGROUP_ROOT, proc_cgroup: str | None = None) -> float | None:
    """The CPU quota of this process's cgroup in CPUs, or None where there is none (or no
    cgroup file can be read). The tightest of the process's own group and the root's."""
    if proc_cgroup is None:
        try:
            proc_cgroup = Path("/proc/self/cgroup").read_text()
        except OSError:
            return None
    paths = own_cgroup_paths(proc_cgroup)
    v1 = next((path for names, path in paths.items() if "cpu" in names.split(",")), "/")
    v2_folders = {root / paths.get("", "/").lstrip("/"), root}
    v1_folders = {root / "cpu" / v1.lstrip("/"), root / "cpu"}
    limits = [_quota_in(folder, "cpu.max") for folder in v2_folders]
    limits += [_quota_in(folder, "cpu.cfs_quota_us") for folder in v1_folders]
    found = [limit for limit in limits if limit is not None]
    return min(found) if found else None


def _quota_in(folder: Path, name: str) -> float | None:
    """The quota that ``folder``'s ``cpu.max`` (v2) or ``cpu.cfs_quota_us`` and
    ``cpu.cfs_period_us`` (v1) give; None where they are absent or unreadable."""
    try:
        if name == "cpu.max":
            return quota_from_cpu_max((folder / name).read_text())
        return quota_from_cfs(
            (folder / name).read_text(), (folder / "cpu.cfs_period_us").read_text()
        )
    except (OSError, ValueError, IndexError):
        return None


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask, lowered to the cgroup quota (rounded
    down, at least 1)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    limit = cgroup_cpu_limit()
    if limit is not None:
        cpus = min(cpus, max(1, math.floor(limit)))
    return max(1, cpus)


def threads_per_process(cpus: int, processes_on_node: int) -> int:
    """Intra-op threads for each of ``processes_on_node`` processes sharing ``cpus``."""
    return max(1, cpus // max(1, processes_on_node))
