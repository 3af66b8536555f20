"""Cost of INIT's full model (AIW + 2-hop training) over the plain conditional GAN step.

All variants are `experiment=init_toyfaces` (32 px ToyFaces, batch 16, the experiment's
nets): the full model as configured, the plain conditional GAN with `model.aiw=false
model.hops=1`, and each part alone (2 hops without AIW; AIW in 1 hop, i.e. its frozen
embedding). Each is trained for the same number of steps from the same initial weights,
alternating rounds, with the progress bar, checkpoints and loggers off. Prints ms per step
of each and the ratio full / plain (target <= 2.3: two hops double the generator's passes).

    python benchmarks/init_step.py [--steps 40] [--rounds 3]
"""

import argparse
import statistics
import sys
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from timing import timed_fit  # noqa: E402  (benchmarks/timing.py)

from ganlab.run import CONFIG_DIR  # noqa: E402

BATCH = 16  # data.batch_size of experiment=init_toyfaces (checked in seconds_per_step)
VARIANTS = {
    "full (AIW + 2 hops)": [],
    "2 hops, no AIW": ["model.aiw=false"],
    "AIW, 1 hop": ["model.hops=1"],
    "plain conditional GAN": ["model.aiw=false", "model.hops=1"],
}


def build(overrides: list[str]):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("config", overrides=["experiment=init_toyfaces", *overrides])
    torch.manual_seed(0)
    return instantiate(cfg.model), instantiate(cfg.data)


def seconds_per_step(overrides: list[str], steps: int) -> float:
    module, datamodule = build(overrides)
    datamodule.setup("fit")
    assert datamodule.batch_size == BATCH, "update BATCH to the experiment's batch size"
    seconds = timed_fit(module, datamodule.train_dataloader(), module.optimizer_steps_for(steps))
    return seconds / module.run_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    seconds_per_step(VARIANTS["plain conditional GAN"], 3)  # warm-up: caches, allocator
    for _ in range(args.rounds):
        for name, overrides in VARIANTS.items():
            times[name].append(seconds_per_step(overrides, args.steps))
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{args.steps} steps x {args.rounds} rounds"
    )
    plain = medians["plain conditional GAN"]
    for name, value in medians.items():
        images = BATCH / value
        print(
            f"{name:24s} {value * 1000:8.1f} ms/step  {images:6.1f} images/s  x{value / plain:.2f}"
        )
    ratio = medians["full (AIW + 2 hops)"] / medians["plain conditional GAN"]
    print(f"ratio full / plain: {ratio:.2f} (target <= 2.3)")


if __name__ == "__main__":
    main()
