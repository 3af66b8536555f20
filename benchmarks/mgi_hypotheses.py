"""MGI's hypotheses batched: is running H = 5 hypotheses together cheaper than 5 runs?

Multi-code inversion of 16 px targets (4x super-resolution) through the shipped ToyFaces
StyleGAN2 (64 px): 5 hypotheses composing at one block (N = 4, 6, 8, 10, 12 codes), all in
one batch, against the middle one alone (N = 8), with the same iterations. Prints the wall
time ratio (target <= 2.0; 5 one after another would be ~5) and seconds per image (the MGI
paper: 467 s per image on a GPU, OEFT 632 s).

    python benchmarks/mgi_hypotheses.py [--images 8] [--steps 20] [--block 2]
"""

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ganlab.assets import ASSET_DIR  # noqa: E402
from ganlab.features import get_extractor  # noqa: E402
from ganlab.inversion.multi_code import (  # noqa: E402
    Hypothesis,
    MultiCodeSettings,
    multi_code_invert,
)
from ganlab.nets.stylegan2 import load_stylegan2, sample_w  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--block", type=int, default=2)
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    generator, latent_avg = load_stylegan2(ASSET_DIR / "stylegan2_toyfaces_64.pt")
    generator = generator.use_grouped_conv(False).eval().requires_grad_(False).to(device)
    latent_avg = latent_avg.to(device)
    perceptual = get_extractor("lpips_domain_toyfaces").to(device)
    with torch.no_grad():
        w = sample_w(generator, args.images, rng=torch.Generator().manual_seed(0)).to(device)
        faces = generator([w], input_is_latent=True, randomize_noise=False)[0]
    targets = F.avg_pool2d(faces, 4)
    settings = MultiCodeSettings(steps=args.steps, downsample=4)
    five = [Hypothesis(args.block, n) for n in (4, 6, 8, 10, 12)]
    one = [Hypothesis(args.block, 8)]

    def timed(hypotheses: list[Hypothesis]) -> float:
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        multi_code_invert(
            generator, targets, hypotheses, latent_avg, settings, perceptual, progress=False
        )
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    timed(one)  # warm-up
    single = timed(one)
    batched = timed(five)
    print(
        f"{args.images} images, {args.steps} iterations, block {args.block}, {device}, "
        f"torch threads {torch.get_num_threads()}"
    )
    print(f"one hypothesis (N=8):          {single:7.2f} s")
    print(f"five hypotheses (N=4..12), batched: {batched:7.2f} s")
    print(f"ratio five / one: {batched / single:.2f} (target <= 2.0; five runs: ~5)")
    per_step_image = batched / args.steps / args.images
    print(
        f"seconds per image for the five hypotheses: {batched / args.images:.2f} "
        f"at {args.steps} iterations ({per_step_image * 1000:.0f} ms per iteration per image)"
    )


if __name__ == "__main__":
    main()
