"""StyleGAN2 generator speed and memory at 64 px: forward + backward images/s, peak memory.

For batch 8 and 32, each case in a fresh subprocess (so peak memory is its own): the
generator maps z, synthesises 64 px images with fresh noise, and back-propagates the mean
image into every parameter. Peak memory is ``torch.cuda.max_memory_allocated`` on a GPU and
the growth of the process's peak RSS over its size after building the net on the CPU.
Two nets: the reduced one ganlab trains on toyfaces (128 channels at every resolution,
style_dim 256, 4 mapping layers) and the official channel table (config-f, 512 channels).

    python benchmarks/stylegan2_speed.py [--device cpu|cuda] [--iterations 10]
"""

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ganlab.nets.stylegan2 import Generator  # noqa: E402

NETS = {
    "reduced (128 ch, style 256, 4 mlp)": dict(
        style_dim=256, n_mlp=4, channels={4: 128, 8: 128, 16: 128, 32: 128, 64: 128}
    ),
    "official table (config-f)": dict(style_dim=512, n_mlp=8, channel_multiplier=2),
}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run_case(net: str, batch: int, device: str, iterations: int) -> dict[str, float]:
    torch.manual_seed(0)
    generator = Generator(64, **NETS[net]).to(device)
    z = torch.randn(batch, generator.style_dim, device=device)
    baseline = peak_rss_mib()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def step() -> None:
        image, _ = generator([z])
        generator.zero_grad(set_to_none=True)
        image.mean().backward()

    step()  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(iterations):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = peak_rss_mib() - baseline
    return {"images_per_second": batch * iterations / seconds, "peak_mib": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--case", nargs=2, metavar=("NET", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        net, batch = args.case
        print(json.dumps(run_case(net, int(batch), args.device, args.iterations)))
        return
    memory = "GPU allocated" if args.device == "cuda" else "peak RSS growth"
    print(f"StyleGAN2 generator, 64 px, forward + backward, {args.device}")
    print(f"{'net':38s} {'batch':>5s} {'images/s':>9s} {memory + ' (MiB)':>24s}")
    for net in NETS:
        for batch in (8, 32):
            command = [sys.executable, __file__, "--device", args.device]
            command += ["--iterations", str(args.iterations), "--case", net, str(batch)]
            result = json.loads(
                subprocess.run(command, capture_output=True, text=True, check=True)
                .stdout.strip()
                .splitlines()[-1]
            )
            print(
                f"{net:38s} {batch:5d} {result['images_per_second']:9.1f} "
                f"{result['peak_mib']:24.0f}"
            )


if __name__ == "__main__":
    main()
