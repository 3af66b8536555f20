"""The main job as a newcomer meets it: wall time and peak memory, alone and beside another.

``alone`` (default): runs ``python -m ganlab.run`` (UDA-Inversion on the embedded toyfaces,
the README's first command) with an empty cache (``$GANLAB_CACHE`` in a temporary folder:
the faces are rendered again, the real images' statistics computed again) and prints its
wall time, the ``fit`` time it reports, and the peak resident memory of its largest process.
Targets on 2 quiet CPU cores: <= 300 s and <= 2 GB.

``side-by-side``: the same job, shortened to ``--steps`` with a warm cache, once alone and
then twice at the same time; prints each run's training seconds and the ratio of the
slower shared one to the one alone (target <= 2.2 on 2 cores: each run gets half the CPU).

    python benchmarks/main_job.py [alone] [-- overrides ...]
    python benchmarks/main_job.py side-by-side [--steps 60] [-- overrides ...]

Time nothing else while it runs.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
from timing import with_peak_memory  # noqa: E402  (benchmarks/timing.py)

GIB = 1024**3


def start_main_job(run_dir: Path, cache: Path, overrides: list[str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "ganlab.run", f"hydra.run.dir={run_dir}", *overrides]
    env = {**os.environ, "GANLAB_CACHE": str(cache), "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        with_peak_memory(command),
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(job: subprocess.Popen, run_dir: Path) -> dict:
    """Wait for ``job``; its peak RSS (bytes) and metrics.json."""
    out, err = job.communicate()
    if job.returncode:
        raise SystemExit(f"the main job in {run_dir} failed:\n{err}")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {"peak": int(out.strip().splitlines()[-1]), "metrics": metrics}


def alone(overrides: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="main_job_") as folder:
        root = Path(folder)
        started = time.perf_counter()
        result = finish(start_main_job(root / "run", root / "cache", overrides), root / "run")
        wall = time.perf_counter() - started
    figures = result["metrics"]["metrics"]
    table = {k: round(v, 4) for k, v in figures.items() if isinstance(v, float)}
    print(f"python -m ganlab.run {' '.join(overrides)} (empty cache)")
    print(f"wall {wall:.1f} s (target <= 300), of which fit {result['metrics']['train_seconds']} s")
    print(f"peak RSS {result['peak'] / GIB:.2f} GB (target <= 2)")
    print(f"metrics: {json.dumps(table)}")


def side_by_side(steps: int, overrides: list[str]) -> None:
    overrides = [f"steps={steps}", "callbacks.samples=null", "eval.n_samples=50", *overrides]
    with tempfile.TemporaryDirectory(prefix="main_job_") as folder:
        root = Path(folder)
        cache = root / "cache"
        finish(start_main_job(root / "warm", cache, overrides), root / "warm")  # fills the cache
        alone_run = finish(start_main_job(root / "alone", cache, overrides), root / "alone")
        jobs = {name: start_main_job(root / name, cache, overrides) for name in ("a", "b")}
        shared = {name: finish(job, root / name) for name, job in jobs.items()}
    alone_seconds = alone_run["metrics"]["train_seconds"]
    shared_seconds = [run["metrics"]["train_seconds"] for run in shared.values()]
    print(f"main job, {steps} steps, cache warm; {' '.join(overrides)}")
    print(f"alone: fit {alone_seconds:.1f} s; two at once: fit {shared_seconds[0]:.1f} s and "
          f"{shared_seconds[1]:.1f} s")  # fmt: skip
    print(f"ratio shared / alone: {max(shared_seconds) / alone_seconds:.2f} (target <= 2.2)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", nargs="?", choices=("alone", "side-by-side"), default="alone")
    parser.add_argument("--steps", type=int, default=60, help="side-by-side: run steps")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for the main job")
    args = parser.parse_args()
    if args.mode == "alone":
        alone(args.overrides)
    else:
        side_by_side(args.steps, args.overrides)


if __name__ == "__main__":
    main()
