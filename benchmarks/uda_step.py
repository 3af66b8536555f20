"""Cost of a UDA-Inversion training step over a supervised encoder step on the same batch.

Both use the main job's nets (`experiment=uda_toyfaces`: the toyfaces StyleGAN2 and base
encoder frozen, HFGI's consultation encoder trained): the UDA step runs the head phase (Ĥ
ascends d_st) and the encoder phase (L_s + lambda |d_st|) on 8 clean source + 8 degraded
target faces; the supervised step (`supervision: paired`) trains the same encoder nets on the
same 8 + 8 faces against their clean originals. Forward, backward and optimizer steps,
alternating the two in rounds on one process; prints the median seconds per step and the
ratio (target: UDA / supervised <= 1.6).

    python benchmarks/uda_step.py [--steps 10] [--rounds 5]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ganlab.methods.base import StepContext  # noqa: E402
from ganlab.run import CONFIG_DIR  # noqa: E402


def build(overrides: list[str]):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("config", overrides=["experiment=uda_toyfaces", *overrides])
    module = instantiate(cfg.model)
    module.configure_optimizers()
    optimizers = {
        player.name: player.optimizer(module._player_params[player.name])
        for player in module.player_table.values()
    }
    return module, optimizers


def train_step(module, optimizers, batch) -> None:
    """One training step as the engine runs it: each phase with its player stepping."""
    ctx = StepContext(module)
    for phase in module.phase_list:
        player = module.player_table[phase.player]
        with module.stepping(player):
            loss = phase.loss(batch, ctx)
            optimizers[player.name].zero_grad(set_to_none=True)
            loss.backward()
            optimizers[player.name].step()


def seconds_per_step(module, optimizers, batch, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        train_step(module, optimizers, batch)
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8, help="faces per domain")
    args = parser.parse_args()
    torch.manual_seed(0)
    faces = lambda: torch.rand(args.batch, 3, 64, 64) * 2 - 1  # noqa: E731
    batch = {"source": faces(), "target": faces(), "target_clean": faces()}
    uda = build([])
    supervised = build(["model.supervision=paired"])
    for module, optimizers in (uda, supervised):  # warm up kernels and the allocator
        train_step(module, optimizers, batch)
    uda_times, supervised_times = [], []
    for _ in range(args.rounds):
        uda_times.append(seconds_per_step(*uda, batch, args.steps))
        supervised_times.append(seconds_per_step(*supervised, batch, args.steps))
    uda_s, supervised_s = statistics.median(uda_times), statistics.median(supervised_times)
    print(f"torch threads: {torch.get_num_threads()}, {args.batch} + {args.batch} faces a step")
    print(f"UDA step: {1000 * uda_s:.1f} ms   supervised step: {1000 * supervised_s:.1f} ms")
    print(f"ratio UDA / supervised: {uda_s / supervised_s:.3f}  (target <= 1.6)")


if __name__ == "__main__":
    main()
