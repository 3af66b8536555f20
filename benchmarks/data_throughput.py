"""Is data loading a bottleneck? Loader images/s against the training loop's images/s.

Measures, in one process: the training rate of the default experiment (DCGAN on digits,
``python -m ganlab.run``) and of the same DCGAN on 64 px toyfaces, as images consumed per
second; then the images/s of the toyfaces loader (disk cache, and rendering on the fly)
and of a ``folder`` dataset (1,000 PNG faces at 128 px, decoded, resized to 64 or
32 px, cropped) with 0 and 2 workers. Prints each loader's ratio to the training rates
(target >= 5).

    python benchmarks/data_throughput.py [--batches 60]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ganlab.data.real import FolderDataModule  # noqa: E402
from ganlab.data.toyfaces import ToyFaces, ToyFacesDataModule  # noqa: E402
from ganlab.run import CONFIG_DIR  # noqa: E402


class LoopTimer(pl.Callback):
    """Times training batches after the first few (warm-up)."""

    def __init__(self, warmup: int = 5) -> None:
        self.warmup, self.batches, self.start = warmup, 0, None

    def on_train_batch_end(self, trainer, module, *args) -> None:
        self.batches += 1
        if self.batches == self.warmup:
            self.start = time.perf_counter()

    def on_train_end(self, trainer, module) -> None:
        self.seconds = time.perf_counter() - self.start
        self.timed = self.batches - self.warmup


def training_images_per_second(overrides: list[str], batches: int) -> float:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    module, datamodule = instantiate(cfg.model), instantiate(cfg.data)
    timer = LoopTimer()
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=module.optimizer_steps_for(batches),
        logger=False,
        callbacks=[timer],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, datamodule=datamodule)
    return timer.timed * datamodule.batch_size / timer.seconds


def loader_images_per_second(datamodule, batches: int) -> float:
    datamodule.setup("fit")
    loader = iter(datamodule.train_dataloader())
    next(loader)  # worker start-up and memory maps are not throughput
    started, seen = time.perf_counter(), 0
    for _ in range(batches):
        seen += len(next(loader)["image"])
    return seen / (time.perf_counter() - started)


def write_face_folder(directory: Path, n: int) -> None:
    faces = ToyFaces(128, "val", n=n)
    for index in range(n):
        array = ((faces[index]["image"].permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()
        Image.fromarray(array).save(directory / f"{index:05d}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=60)
    args = parser.parse_args()

    digits_rate = training_images_per_second([], args.batches)
    faces_rate = training_images_per_second(
        ["data=toyfaces", "model.generator.channels=3"], args.batches
    )
    print(f"training, default experiment (DCGAN, digits 32 px): {digits_rate:8.0f} images/s")
    print(f"training, DCGAN on toyfaces 64 px:                   {faces_rate:8.0f} images/s")

    loaders = {
        "toyfaces 64 px, disk cache": ToyFacesDataModule(size=64, cache=True),
        "toyfaces 64 px, rendered on the fly": ToyFacesDataModule(size=64, cache=False),
    }
    with tempfile.TemporaryDirectory() as folder:
        write_face_folder(Path(folder), 1000)
        for size, workers in ((64, 0), (64, 2), (32, 0), (32, 2)):
            name = f"folder, 1,000 PNGs 128->{size} px, {workers} workers"
            loaders[name] = FolderDataModule(folder, size=size, num_workers=workers)
        print(f"\n{'loader':44s} {'images/s':>9s} {'/ digits':>9s} {'/ toyfaces':>10s}")
        for name, datamodule in loaders.items():
            rate = loader_images_per_second(datamodule, min(args.batches, 12))
            print(f"{name:44s} {rate:9.0f} {rate / digits_rate:9.1f} {rate / faces_rate:10.1f}")
    print("\ntarget: loader / training >= 5")


if __name__ == "__main__":
    main()
