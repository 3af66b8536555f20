"""Batched latent optimisation against one image at a time: is inverting a batch cheaper?

Inverts 32 faces drawn from the shipped ToyFaces StyleGAN2 (64 px) by W+ optimisation with
the default objective (L2 + LPIPS-domain), once as one batch of 32 and once image by image,
with the same number of iterations, and prints the ratio of the wall times (target <= 0.25
on 2 CPU cores) and the mean PSNR of both (they solve the same per-image problems).

    python benchmarks/inversion_throughput.py [--images 32] [--steps 50]
"""

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ganlab.assets import ASSET_DIR  # noqa: E402
from ganlab.inversion import from_generator_file, psnr_from_mse  # noqa: E402
from ganlab.nets.stylegan2 import sample_w  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    model = from_generator_file(
        ASSET_DIR / "stylegan2_toyfaces_64.pt", {"steps": args.steps}, progress=False
    )
    codes = sample_w(model.generator, args.images, rng=torch.Generator().manual_seed(0))
    targets = model.decode(codes)
    model.invert_detailed(targets[:2], steps=2)  # warm-up: feature net, w statistics

    start = time.perf_counter()
    batched = model.invert_detailed(targets)
    batched_time = time.perf_counter() - start

    start = time.perf_counter()
    alone = [model.invert_detailed(targets[i : i + 1]) for i in range(args.images)]
    sequential_time = time.perf_counter() - start

    psnr_batched = psnr_from_mse(batched.mse_history[-1]).mean().item()
    psnr_alone = torch.cat([psnr_from_mse(r.mse_history[-1]) for r in alone]).mean().item()
    print(f"{args.images} images, {args.steps} iterations, torch threads {torch.get_num_threads()}")
    print(f"batched:    {batched_time:7.1f} s   mean PSNR {psnr_batched:.2f} dB")
    print(f"sequential: {sequential_time:7.1f} s   mean PSNR {psnr_alone:.2f} dB")
    print(f"ratio batched / sequential: {batched_time / sequential_time:.3f} (target <= 0.25)")


if __name__ == "__main__":
    main()
