"""StyleGAN2 generator speed and memory at 64 px: forward + backward images/s, peak memory.

For batch 8 and 32, each case in a fresh subprocess (so peak memory is its own): the
generator maps z, synthesises 64 px images with fresh noise, and back-propagates the mean
image into every parameter. Peak memory is ``torch.cuda.max_memory_allocated`` on a GPU and
the growth of the process's peak RSS over its size after building the net on the CPU.
Two nets: a reduced one for 64 px toyfaces (256 channels at 4-8 px down to 32 at 64 px,
style_dim 256, 4 mapping layers) and the official channel table (config-f, 512 channels),
each with the reference's grouped modulated convs and with ganlab's shared-weight form
(``Generator.use_grouped_conv(False)``); the last column is shared / grouped images/s.

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
    "reduced (256..32 ch, style 256)": dict(
        style_dim=256, n_mlp=4, channels={4: 256, 8: 256, 16: 128, 32: 64, 64: 32}
    ),
    "official table (config-f)": dict(style_dim=512, n_mlp=8, channel_multiplier=2),
}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run_case(net: str, grouped: bool, batch: int, device: str, iterations: int) -> dict[str, float]:
    torch.manual_seed(0)
    generator = Generator(64, **NETS[net]).use_grouped_conv(grouped).to(device)
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
    parser.add_argument("--case", nargs=3, help=argparse.SUPPRESS)  # net, grouped, batch
    args = parser.parse_args()
    if args.case:
        net, grouped, batch = args.case
        result = run_case(net, grouped == "grouped", int(batch), args.device, args.iterations)
        print(json.dumps(result))
        return
    memory = "GPU MiB" if args.device == "cuda" else "RSS MiB"
    print(f"StyleGAN2 generator, 64 px, forward + backward, {args.device}")
    print(
        f"{'net':32s} {'batch':>5s} {'grouped img/s':>13s} {memory:>8s} "
        f"{'shared img/s':>12s} {memory:>8s} {'ratio':>6s}"
    )
    for net in NETS:
        for batch in (8, 32):
            rates = {}
            for mode in ("grouped", "shared"):
                command = [sys.executable, __file__, "--device", args.device, "--iterations"]
                command += [str(args.iterations), "--case", net, mode, str(batch)]
                output = subprocess.run(command, capture_output=True, text=True, check=True)
                rates[mode] = json.loads(output.stdout.strip().splitlines()[-1])
            grouped, shared = rates["grouped"], rates["shared"]
            print(
                f"{net:32s} {batch:5d} {grouped['images_per_second']:13.1f} "
                f"{grouped['peak_mib']:8.0f} {shared['images_per_second']:12.1f} "
                f"{shared['peak_mib']:8.0f} "
                f"{shared['images_per_second'] / grouped['images_per_second']:6.2f}"
            )


if __name__ == "__main__":
    main()
