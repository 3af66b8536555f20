"""Overhead of ganlab's CycleGAN step over the reference's plain PyTorch loop.

Both train `experiment=cyclegan_toyfaces` (32 px ToyFaces, no eyeglasses <-> eyeglasses, the
experiment's ResNet translators and PatchGANs, LSGAN, cycle 10, identity 5, pools of 50,
Adam, the linear decay, EMA of both generators) from the same initial weights on the same
batches, in one process, alternating rounds; ganlab with the progress bar, checkpoints and
loggers off. The plain loop is the reference's `optimize_parameters`: forward, the
generators' step (discriminators frozen), then the discriminators' step on pooled fakes.
Prints ms per step, images per second and the ratio (target: ganlab / plain <= 1.05).

    python benchmarks/i2i_step.py [--steps 40] [--rounds 3]
"""

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from timing import timed_fit  # noqa: E402  (benchmarks/timing.py)

from ganlab.methods.translation.image_pool import ImagePool  # noqa: E402
from ganlab.run import CONFIG_DIR  # noqa: E402


def build():
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("config", overrides=["experiment=cyclegan_toyfaces"])
    torch.manual_seed(0)
    return instantiate(cfg.model), instantiate(cfg.data)


def time_ganlab(module, datamodule, steps: int) -> float:
    seconds = timed_fit(module, datamodule.train_dataloader(), module.optimizer_steps_for(steps))
    return seconds / module.run_step


def lsgan(scores: torch.Tensor, real: bool) -> torch.Tensor:
    return (scores - float(real)).pow(2).mean()


def time_plain(module, datamodule, steps: int) -> float:
    """The reference's step written directly on the same nets."""
    g_ab, g_ba = module.generator_ab, module.generator_ba
    d_a, d_b = module.discriminator_a, module.discriminator_b
    generators = [*g_ab.parameters(), *g_ba.parameters()]
    discriminators = [*d_a.parameters(), *d_b.parameters()]
    g_opt = module.generator_optimizer(generators)
    d_opt = module.discriminator_optimizer(discriminators)
    g_sched, d_sched = module.generator_scheduler(g_opt), module.discriminator_scheduler(d_opt)
    pool_a, pool_b = ImagePool(50), ImagePool(50)
    emas = [(module.generator_ab_ema, g_ab), (module.generator_ba_ema, g_ba)]
    done, start = 0, time.perf_counter()
    while done < steps:
        for batch in datamodule.train_dataloader():
            a, b = batch["image_a"], batch["image_b"]
            fake_b, fake_a = g_ab(a), g_ba(b)
            for p in discriminators:
                p.requires_grad_(False)
            loss = lsgan(d_b(fake_b), True) + lsgan(d_a(fake_a), True)
            loss = loss + 10 * ((g_ba(fake_b) - a).abs().mean() + (g_ab(fake_a) - b).abs().mean())
            loss = loss + 5 * ((g_ab(b) - b).abs().mean() + (g_ba(a) - a).abs().mean())
            g_opt.zero_grad(set_to_none=True)
            loss.backward()
            g_opt.step()
            g_sched.step()
            for p in discriminators:
                p.requires_grad_(True)
            pooled_a, pooled_b = pool_a.query(fake_a), pool_b.query(fake_b)
            loss = 0.5 * (lsgan(d_a(a), True) + lsgan(d_a(pooled_a), False))
            loss = loss + 0.5 * (lsgan(d_b(b), True) + lsgan(d_b(pooled_b), False))
            d_opt.zero_grad(set_to_none=True)
            loss.backward()
            d_opt.step()
            d_sched.step()
            with torch.no_grad():
                for ema, net in emas:
                    for e, p in zip(ema.parameters(), net.parameters(), strict=True):
                        e.lerp_(p, 1 - 0.999)
            done += 1
            if done == steps:
                break
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    template, datamodule = build()
    datamodule.setup("fit")
    time_plain(copy.deepcopy(template), datamodule, 3)  # warm up kernels and allocator
    ganlab_times, plain_times = [], []
    for _ in range(args.rounds):
        ganlab_times.append(time_ganlab(copy.deepcopy(template), datamodule, args.steps))
        plain_times.append(time_plain(copy.deepcopy(template), datamodule, args.steps))
    ganlab_s, plain_s = statistics.median(ganlab_times), statistics.median(plain_times)
    batch = 2 * datamodule.batch_size  # a step reads batch_size images of each domain
    print(f"torch threads: {torch.get_num_threads()}, {args.steps} steps x {args.rounds} rounds")
    print(f"ganlab: {1000 * ganlab_s:.1f} ms/step ({batch / ganlab_s:.1f} images/s)")
    print(f"plain PyTorch: {1000 * plain_s:.1f} ms/step ({batch / plain_s:.1f} images/s)")
    print(f"ratio ganlab / plain: {ganlab_s / plain_s:.3f}  (target <= 1.05)")


if __name__ == "__main__":
    main()
