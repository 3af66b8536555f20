"""Short fixed-seed runs of the digits baselines whose final weights are a fixture: a change
of the engine must leave what these methods compute unchanged (to float32 rounding)."""

from pathlib import Path

import torch

from tests.conftest import compose_run

# each: overrides beyond the experiment; tiny nets, EMA lerping from step 5
REFERENCE_RUNS = {
    "gan_digits": ["steps=20", "model.discriminator.width=8"],
    "wgan_digits": ["steps=8", "model.critic.width=8"],
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


def run_reference(experiment: str, run_dir: Path) -> dict[str, torch.Tensor]:
    """Train ``experiment`` with the fixture's settings; the final state_dict."""
    from ganlab.run import run_task

    overrides = [f"experiment={experiment}", *REFERENCE_RUNS[experiment], *COMMON]
    run_task(compose_run(run_dir, overrides))
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    return {k: v.clone() for k, v in checkpoint["state_dict"].items()}
