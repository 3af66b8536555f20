"""Data-parallel scaling on CPU: 1 process vs 2 (one thread each), and ganlab's per-player DDP
vs Lightning's whole-module DDP with ``find_unused_parameters=True``.

Each configuration trains the default GAN on digits twice through the CLI, for ``--short`` and
``--long`` generator steps; the difference of the two training times is the time of the
extra steps, so process start-up, data set-up and the final evaluation drop out. Every process
has batch ``--batch``: 2 processes train on twice the images per step. Printed: seconds per
step, steps/s and images/s (the median of ``--repeats`` interleaved rounds), and two ratios
measured in this run:

- scaling = images/s of 2 processes / images/s of 1 process (target >= 1.5);
- per-player DDP / find_unused_parameters=True, in steps/s (> 1: ours is faster).

    python benchmarks/ddp_scaling.py [--short 50] [--long 250] [--batch 64] [--repeats 3]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMMON = ["callbacks=none", "logger=none", "eval.n_samples=100"]
CONFIGS = {
    "1 process": ["trainer=cpu"],
    "2 processes, per-player DDP": ["trainer=ddp_cpu", "trainer.devices=2"],
    "2 processes, whole-module DDP, find_unused_parameters": [
        "trainer=ddp_cpu",
        "trainer.devices=2",
        "trainer.strategy._target_=pytorch_lightning.strategies.DDPStrategy",
        "+trainer.strategy.find_unused_parameters=true",
    ],
}


def train_seconds(overrides: list[str], steps: int, workdir: Path) -> float:
    run_dir = workdir / f"run_{len(list(workdir.iterdir()))}"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ganlab.run",
            *COMMON,
            *overrides,
            f"steps={steps}",
            f"hydra.run.dir={run_dir}",
        ],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(overrides)} failed:\n{result.stderr[-3000:]}")
    return json.loads((run_dir / "metrics.json").read_text())["train_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=int, default=50)
    parser.add_argument("--long", type=int, default=250)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="rounds; the median is printed")
    args = parser.parse_args()
    steps = args.long - args.short
    seconds_per_step: dict[str, list[float]] = {name: [] for name in CONFIGS}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for _ in range(args.repeats):  # configurations interleaved: drifts hit all alike
            for name, overrides in CONFIGS.items():
                overrides = [*overrides, f"data.batch_size={args.batch}"]
                short = train_seconds(overrides, args.short, workdir)
                long = train_seconds(overrides, args.long, workdir)
                seconds_per_step[name].append((long - short) / steps)
    rows = {}
    for name, measured in seconds_per_step.items():
        per_step = statistics.median(measured)
        processes = 2 if "2 processes" in name else 1
        rows[name] = (per_step, 1 / per_step, processes * args.batch / per_step)
        spread = ", ".join(f"{value * 1000:.1f}" for value in measured)
        print(
            f"{name:55s} {per_step * 1000:7.1f} ms/step {1 / per_step:6.2f} steps/s "
            f"{rows[name][2]:7.0f} images/s  (rounds: {spread} ms)"
        )
    one, ours, unused = rows.values()
    print(f"scaling, 2 processes / 1 (images/s): {ours[2] / one[2]:.2f}x (target >= 1.5x)")
    print(f"per-player DDP / find_unused_parameters=True (steps/s): {ours[1] / unused[1]:.2f}x")


if __name__ == "__main__":
    main()
