"""Short fixed-seed runs of the digits baselines whose final weights are a fixture: a change
of the engine must leave what these methods compute unchanged (to float32 rounding).

Float32 sums round differently with the CPU's vector width, and an Adam run amplifies that
(InfoGAN's weights differ by up to 0.1 after 20 steps between AVX2 and AVX-512 kernels), so
a run is made in a fresh process whose kernels are pinned to AVX2 and its threads to 2
(``PINNED_KERNELS``): then any x86-64 machine with AVX2 computes the recorded weights bit for
bit.

    python tests/reference_runs.py <out_dir>   # <out_dir>/<experiment>.pt for every run
"""

import os
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
PINNED_KERNELS = {  # ATen's, MKL's and oneDNN's instruction sets, read at import
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    # and the threads the fixtures were recorded with: sums split among threads round
    # differently with their number (a test worker of `pytest -n 2` computes with one)
    "OMP_NUM_THREADS": "2",
}

# each: overrides beyond the experiment; tiny nets, EMA lerping from step 5 (wgan_digits at
# the lr 1e-4 for both players its weights were recorded with; the experiment now uses 2e-4)
REFERENCE_RUNS = {
    "gan_digits": ["steps=20", "model.discriminator.width=8"],
    "wgan_digits": [
        "steps=8",
        "model.critic.width=8",
        "model.generator_optimizer.lr=1e-4",
        "model.critic_optimizer.lr=1e-4",
    ],
    "fgan_digits": ["steps=20", "model.critic.width=8"],
    "infogan_digits": ["steps=20", "model.discriminator.width=8"],
}
COMMON = [
    "model.generator.width=8",
    "model.ema_start_step=5",
    "data.batch_size=16",
    "logger=none",
    "callbacks=default",
    "callbacks.progress=null",
    "callbacks.samples=null",
    "callbacks.evaluation=null",
    "callbacks.lr_monitor=null",
    "eval.n_samples=20",
]


def run_references(out_dir: Path) -> None:
    """Train every reference run in one process with pinned kernels; writes
    ``out_dir/<experiment>.pt``, the final state_dict of each."""
    subprocess.run(
        [sys.executable, __file__, str(out_dir)],
        env={**os.environ, **PINNED_KERNELS, "PYTHONPATH": str(REPO)},
        check=True,
        timeout=600,
    )


def train_and_save(experiment: str, out_dir: Path) -> None:
    """In this process: train ``experiment`` and save its final state_dict."""
    from ganlab.run import run_task
    from tests.conftest import compose_run

    run_dir = out_dir / "runs" / experiment
    overrides = [f"experiment={experiment}", *REFERENCE_RUNS[experiment], *COMMON]
    run_task(compose_run(run_dir, overrides))
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    state = {k: v.clone() for k, v in checkpoint["state_dict"].items()}
    torch.save(state, out_dir / f"{experiment}.pt")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    for name in REFERENCE_RUNS:
        train_and_save(name, Path(sys.argv[1]))
