"""Peak memory of optimisation inversion at 1024 px through the FFHQ config-f StyleGAN2.

Writes stand-ins of the official files with random weights into a temporary folder (the
generator as rosinality's ``Generator(1024, 512, 8)`` saved as ``{g_ema, latent_avg}`` like
``stylegan2-ffhq-config-f.pt``; torchvision's VGG-16, LPIPS-VGG's backbone, under
``$TORCH_HOME``) and 1024 px photos, then runs ``python -m ganlab.run task=invert`` on 1 and
on 3 photos (one batch), each in a fresh process, and prints each run's peak resident memory,
the peak per image of the 3-photo run and the marginal cost of one more image. Targets on the
CPU: <= 2.5 GB per image with the perceptual term at 256 px (the default), <= 8 GB for 3.

    python benchmarks/invert_memory.py [--images 1 3] [--steps 2] [-- overrides ...]

``-- inversion.perceptual_size=null`` measures LPIPS-VGG on the full 1024 px images instead
(about 6.5 GB per image). The figures hold for the GPU's memory to within the CPU process's
fixed part (Python, torch, the weights: the 1-photo run minus one marginal image).
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import torchvision
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from timing import with_peak_memory  # noqa: E402  (benchmarks/timing.py)

from ganlab.nets.stylegan2 import Generator  # noqa: E402

GIB = 1024**3


def write_stand_ins(root: Path, n_photos: int) -> tuple[Path, Path]:
    """The generator file and a folder of ``n_photos`` 1024 px photos under ``root``; VGG-16
    under ``root/torch``. Returns (generator file, photo folder)."""
    torch.manual_seed(0)
    generator = Generator(1024, 512, 8)
    with torch.no_grad():
        latent_avg = generator.mean_latent(4096, rng=torch.Generator().manual_seed(0))[0]
    generator_file = root / "stylegan2-ffhq-config-f.pt"
    torch.save({"g_ema": generator.state_dict(), "latent_avg": latent_avg}, generator_file)
    hub = root / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    torch.save(torchvision.models.vgg16(weights=None).state_dict(), hub / "vgg16-397923af.pth")
    photos = root / "photos"
    photos.mkdir()
    rng = torch.Generator().manual_seed(1)
    for i in range(n_photos):
        coarse = torch.rand(1, 3, 8, 8, generator=rng)
        pixels = torch.nn.functional.interpolate(coarse, size=(1024, 1024), mode="bilinear")[0]
        Image.fromarray((pixels.permute(1, 2, 0) * 255).byte().numpy()).save(
            photos / f"photo{i}.png"
        )
    return generator_file, photos


def peak_of_invert(
    root: Path, generator: Path, photos: Path, n: int, steps: int, overrides: list[str]
) -> int:
    """Peak RSS (bytes) of ``task=invert`` on the first ``n`` photos in one batch."""
    chosen = root / f"photos_{n}"
    chosen.mkdir()
    for photo in sorted(photos.iterdir())[:n]:
        (chosen / photo.name).symlink_to(photo)
    command = [
        sys.executable, "-m", "ganlab.run", "task=invert", f"input={chosen}",
        f"ckpt_path={generator}", f"inversion.steps={steps}", f"batch_size={n}",
        f"hydra.run.dir={root / f'run_{n}'}", *overrides,
    ]  # fmt: skip
    env = {"TORCH_HOME": str(root / "torch"), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        with_peak_memory(command),
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    if done.returncode:
        raise SystemExit(f"task=invert on {n} photo(s) failed:\n{done.stderr}")
    return int(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--steps", type=int, default=2, help="inversion steps per run")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for task=invert")
    args = parser.parse_args()
    counts = sorted(set(args.images))
    with tempfile.TemporaryDirectory(prefix="invert_memory_") as folder:
        root = Path(folder)
        generator, photos = write_stand_ins(root, max(counts))
        peaks = {n: peak_of_invert(root, generator, photos, n, args.steps, args.overrides)
                 for n in counts}  # fmt: skip
    print(f"task=invert at 1024 px (config-f, {args.steps} steps; {' '.join(args.overrides)})")
    for n, peak in peaks.items():
        print(f"{n} image(s): peak RSS {peak / GIB:5.2f} GB, {peak / n / GIB:5.2f} GB per image")
    if len(counts) > 1:
        low, high = counts[0], counts[-1]
        marginal = (peaks[high] - peaks[low]) / (high - low)
        fixed = peaks[low] - low * marginal
        print(f"one more image: {marginal / GIB:.2f} GB; the fixed part: {fixed / GIB:.2f} GB")
    if 3 in peaks:
        print(f"3 images: {peaks[3] / GIB:.2f} GB (target <= 8), "
              f"{peaks[3] / 3 / GIB:.2f} GB per image (target <= 2.5)")  # fmt: skip


if __name__ == "__main__":
    main()
