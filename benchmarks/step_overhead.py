"""Overhead of ganlab's training loop over a plain PyTorch loop doing the same math.

Both train WGAN-GP on digits (the real `model=wgan loss=wgan_gp data=digits` config: DCGAN
nets, Adam, n_critic 5, lambda 10, EMA) from the same initial weights on the same batches,
in one process, alternating ganlab and plain rounds. ganlab runs with the progress bar,
checkpointing and loggers off. Prints seconds per batch for each and their ratio
(target: ganlab / plain <= 1.05).

    python benchmarks/step_overhead.py [--batches 150] [--rounds 3]
"""

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from timing import timed_fit  # noqa: E402  (benchmarks/timing.py)

from ganlab.objectives.adversarial import (
    gradient_penalty,
    mean_score_generator_loss,
    wasserstein_critic_loss,
)  # noqa: E402
from ganlab.run import CONFIG_DIR  # noqa: E402


def build(overrides: list[str]):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    return instantiate(cfg.model), instantiate(cfg.data)


def time_ganlab(module, datamodule, batches: int) -> float:
    seconds = timed_fit(
        module,
        datamodule.train_dataloader(),
        module.optimizer_steps_for(batches // module.n_critic),
    )
    return seconds / module.iteration


def time_plain(module, datamodule, batches: int) -> float:
    """The same algorithm written directly: critic every batch, generator every n_critic, EMA."""
    generator, critic, ema = module.generator, module.critic, module.generator_ema
    g_opt = module.generator_optimizer(generator.parameters())
    c_opt = module.critic_optimizer(critic.parameters())
    n_critic, lam, decay = module.n_critic, module.gradient_penalty_weight, module.ema_decay
    done = 0
    start = time.perf_counter()
    while done < batches:
        for batch in datamodule.train_dataloader():
            real = batch["image"]
            z = torch.randn(real.shape[0], generator.latent_dim)
            fake = generator(z).detach()
            loss = wasserstein_critic_loss(critic(real), critic(fake))
            loss = loss + lam * gradient_penalty(critic, real, fake)
            c_opt.zero_grad(set_to_none=True)
            loss.backward()
            c_opt.step()
            done += 1
            if done % n_critic == 0:
                for p in critic.parameters():
                    p.requires_grad_(False)
                loss = mean_score_generator_loss(critic(generator(torch.randn_like(z))))
                g_opt.zero_grad(set_to_none=True)
                loss.backward()
                g_opt.step()
                for p in critic.parameters():
                    p.requires_grad_(True)
                with torch.no_grad():
                    for e, p in zip(ema.parameters(), generator.parameters(), strict=True):
                        e.lerp_(p, 1 - decay)
            if done == batches:
                break
    return (time.perf_counter() - start) / batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=150, help="critic batches per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    pl.seed_everything(0, verbose=False)
    template, datamodule = build(
        ["model=wgan", "loss=wgan_gp", "data=digits", "callbacks=none", "logger=none"]
    )
    datamodule.setup()
    time_plain(copy.deepcopy(template), datamodule, 10)  # warm up kernels and allocator
    ganlab_times, plain_times = [], []
    for _ in range(args.rounds):
        ganlab_times.append(time_ganlab(copy.deepcopy(template), datamodule, args.batches))
        plain_times.append(time_plain(copy.deepcopy(template), datamodule, args.batches))
    ganlab_s, plain_s = statistics.median(ganlab_times), statistics.median(plain_times)
    print(
        f"torch threads: {torch.get_num_threads()}, batches per round: {args.batches}, "
        f"rounds: {args.rounds}"
    )
    print(f"ganlab: {1000 * ganlab_s:.2f} ms/batch   plain PyTorch: {1000 * plain_s:.2f} ms/batch")
    print(f"ratio ganlab / plain: {ganlab_s / plain_s:.3f}  (target <= 1.05)")


if __name__ == "__main__":
    main()
