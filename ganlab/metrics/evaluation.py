"""Scoring a generator against real images: FID and KID with one registry extractor.

Every reported name carries its protocol, ``<metric>_<extractor>_<samples>`` (e.g.
``fid_domain_1k``, ``fid_inception_50k``), and the protocol entry of each name records
the extractor and its weights, the sample counts, the reference split and the image size.
"""

from dataclasses import dataclass, field
from typing import Any

import torch
from omegaconf import DictConfig
from torch import Tensor
from torch.utils.data import DataLoader

from ganlab.errors import ConfigError
from ganlab.features import FeatureExtractor, get_extractor, short_name
from ganlab.metrics.distribution import frechet_distance, kernel_distance
from ganlab.metrics.stats_cache import cached_features


def count_label(n: int) -> str:
    """50000 -> '50k', 1000 -> '1k', 500 -> '500'."""
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


@torch.no_grad()
def generate(module: Any, n: int, seed: int, batch_size: int = 250) -> Tensor:
    """``n`` images from the EMA generator, latents drawn from a generator seeded with ``seed``."""
    rng = torch.Generator().manual_seed(seed)
    chunks = [
        module.sample(latent=module.sample_latent(min(batch_size, n - start), rng)).cpu()
        for start in range(0, n, batch_size)
    ]
    return torch.cat(chunks)


def split_images(datamodule: Any, split: str, limit: int | None = None):
    """Batches of real images (B, C, H, W) from ``split``, at most ``limit`` images in all."""
    if not hasattr(datamodule, "split_dataset"):
        raise ConfigError(f"data {datamodule.name!r} has no image splits to compare samples with")
    datamodule.setup()
    dataset = datamodule.split_dataset(split)
    seen = 0
    for batch in DataLoader(dataset, batch_size=250):
        images = batch["image"][: None if limit is None else limit - seen]
        seen += len(images)
        yield images
        if limit is not None and seen >= limit:
            return


@dataclass
class Evaluator:
    extractor: FeatureExtractor
    datamodule: Any
    reference_split: str = "train"
    n_reference: int | None = None  # None: the whole split
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    use_cache: bool = True
    _reference: Tensor | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_config(
        cls, features: DictConfig, eval_cfg: DictConfig, datamodule: Any
    ) -> "Evaluator":
        """Built before training, so missing weights stop the run at once."""
        return cls(
            extractor=get_extractor(features.name, features.get("weights_path")),
            datamodule=datamodule,
            reference_split=eval_cfg.reference_split,
            n_reference=eval_cfg.get("n_reference"),
            kid_subsets=eval_cfg.kid_subsets,
            kid_subset_size=eval_cfg.kid_subset_size,
        )

    @torch.no_grad()
    def features_of(self, batches, device: torch.device | str = "cpu") -> Tensor:
        self.extractor.to(device)
        return torch.cat([self.extractor(images.to(device)).float().cpu() for images in batches])

    def reference_key(self, count: int) -> dict[str, Any]:
        data = self.datamodule
        identity = data.identity() if hasattr(data, "identity") else data.describe()
        return {
            "dataset": data.name,
            "data": identity,
            "split": self.reference_split,
            "extractor": self.extractor.name,
            "weights": self.extractor.fingerprint,
            "image_size": data.image_size,
            "count": count,
        }

    def reference_features(self, device: torch.device | str = "cpu") -> Tensor:
        """Real-image features: computed (or read from the disk cache) once per evaluator."""
        if self._reference is None:
            self._reference = self.load_reference_features(device)
        return self._reference

    def load_reference_features(self, device: torch.device | str = "cpu") -> Tensor:
        self.datamodule.setup()
        available = len(self.datamodule.split_dataset(self.reference_split))
        count = min(self.n_reference or available, available)

        def compute() -> Tensor:
            batches = split_images(self.datamodule, self.reference_split, count)
            return self.features_of(batches, device)

        if not self.use_cache:
            return compute()
        return cached_features(self.reference_key(count), compute)[0]

    def score_images(
        self, images: Tensor, device: torch.device | str = "cpu", seed: int = 0
    ) -> tuple[dict[str, float], dict[str, Any]]:
        """FID/KID of (N, C, H, W) images against the reference split, with their protocol."""
        real = self.reference_features(device)
        fake = self.features_of(images.split(250), device)
        tag = f"{short_name(self.extractor.name)}_{count_label(len(fake))}"
        kid, kid_std = kernel_distance(real, fake, self.kid_subsets, self.kid_subset_size, seed)
        common = {
            "extractor": self.extractor.name,
            "extractor_weights": self.extractor.fingerprint,
            "n_generated": len(fake),
            "n_reference": len(real),
            "reference": f"{self.datamodule.name} {self.reference_split} split",
            "image_size": self.datamodule.image_size,
        }
        metrics = {
            f"fid_{tag}": frechet_distance(real, fake),
            f"kid_{tag}": kid,
            f"kid_{tag}_std": kid_std,
        }
        protocol = {
            f"fid_{tag}": common,
            f"kid_{tag}": {
                **common,
                "kid_subsets": self.kid_subsets,
                "kid_subset_size": min(self.kid_subset_size, len(real), len(fake)),
                "kid_seed": seed,
            },
        }
        return metrics, protocol

    def score_generator(
        self, module: Any, n_samples: int, seed: int, images: Tensor | None = None
    ) -> tuple[dict[str, float], dict[str, Any]]:
        """FID/KID of ``n_samples`` generated images (``images``: already generated with
        ``generate(module, n_samples, seed)``)."""
        if images is None:
            images = generate(module, n_samples, seed)
        metrics, protocol = self.score_images(images, module.device)
        generator = f"{module.main_net}_ema" if module.ema_net is not None else module.main_net
        for entry in protocol.values():
            entry.update(latent_seed=seed, generator=generator)
        return metrics, protocol
