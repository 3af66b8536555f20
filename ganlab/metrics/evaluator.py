"""Scoring images against real images: FID and KID with one registry extractor.

Every reported name carries its protocol, ``<metric>_<extractor>_<samples>`` (e.g.
``fid_domain_1k``, ``fid_inception_50k``), and the protocol entry of each name records
the extractor and its weights, the sample counts, the reference images and the image size.
The reference is a split of the datamodule, or one domain of a split for two-domain data
(``datamodule.domain_dataset(split, domain)``); its features are cached on disk.
"""

from dataclasses import dataclass, field
from typing import Any

import torch
from omegaconf import DictConfig
from torch import Tensor
from torch.utils.data import DataLoader

from ganlab.features import FeatureExtractor, get_extractor, short_name
from ganlab.metrics.distribution import frechet_distance, kernel_distance
from ganlab.metrics.stats_cache import cached_features


def count_label(n: int) -> str:
    """50000 -> '50k', 1000 -> '1k', 500 -> '500'."""
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def reference_dataset(datamodule: Any, split: str, domain: str | None = None) -> Any:
    """The images of ``split`` (of one ``domain`` of it, for two-domain data)."""
    datamodule.setup()
    if domain is None:
        return datamodule.split_dataset(split)
    return datamodule.domain_dataset(split, domain)


def dataset_images(dataset: Any, limit: int | None = None, key: str = "image"):
    """Batches of ``key`` images (B, C, H, W) from ``dataset``, at most ``limit`` in all."""
    seen = 0
    for batch in DataLoader(dataset, batch_size=250):
        images = batch[key][: None if limit is None else limit - seen]
        seen += len(images)
        yield images
        if limit is not None and seen >= limit:
            return


FEATURE_CHUNK = 64  # images a feature net embeds at once (bounds its activations' memory)


@dataclass
class Evaluator:
    extractor: FeatureExtractor
    datamodule: Any
    reference_split: str = "train"
    n_reference: int | None = None  # None: the whole split
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    use_cache: bool = True
    _references: dict[str | None, Tensor] = field(default_factory=dict, init=False, repr=False)

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
        """Features of image batches, ``FEATURE_CHUNK`` images at a time."""
        self.extractor.to(device)
        return torch.cat(
            [
                self.extractor(chunk.to(device)).float().cpu()
                for images in batches
                for chunk in images.split(FEATURE_CHUNK)
            ]
        )

    def reference_key(self, count: int, domain: str | None = None) -> dict[str, Any]:
        data = self.datamodule
        key = {
            "dataset": data.name,
            "data": data.content_key(),
            "split": self.reference_split,
            "extractor": self.extractor.name,
            "weights": self.extractor.fingerprint,
            "image_size": data.image_size,
            "count": count,
        }
        return key if domain is None else {**key, "domain": domain}

    def reference_features(
        self, device: torch.device | str = "cpu", domain: str | None = None
    ) -> Tensor:
        """Real-image features: computed (or read from the disk cache) once per evaluator."""
        if domain not in self._references:
            self._references[domain] = self.load_reference_features(device, domain)
        return self._references[domain]

    def load_reference_features(
        self, device: torch.device | str = "cpu", domain: str | None = None
    ) -> Tensor:
        dataset = reference_dataset(self.datamodule, self.reference_split, domain)
        count = min(self.n_reference or len(dataset), len(dataset))

        def compute() -> Tensor:
            return self.features_of(dataset_images(dataset, count), device)

        if not self.use_cache:
            return compute()
        return cached_features(self.reference_key(count, domain), compute)[0]

    def reference_name(self, domain: str | None = None) -> str:
        where = self.datamodule.split_description(self.reference_split)
        return where + (f", domain {domain}" if domain else "")

    def score_images(
        self,
        images: Tensor,
        device: torch.device | str = "cpu",
        seed: int = 0,
        domain: str | None = None,
        suffix: str = "",
    ) -> tuple[dict[str, float], dict[str, Any]]:
        """FID/KID of (N, C, H, W) images against the reference (``domain`` of it), with their
        protocol; ``suffix`` ends each name (e.g. ``_target``, ``_a_to_b``)."""
        fake = self.features_of(images.split(250), device)
        return self.score_features(fake, device, seed, domain, suffix)

    def score_features(
        self,
        fake: Tensor,
        device: torch.device | str = "cpu",
        seed: int = 0,
        domain: str | None = None,
        suffix: str = "",
    ) -> tuple[dict[str, float], dict[str, Any]]:
        """``score_images`` of images whose features (N, D) are already computed (by
        ``self.extractor``, e.g. in the pass that also gave their LPIPS)."""
        real = self.reference_features(device, domain)
        tag = f"{short_name(self.extractor.name)}_{count_label(len(fake))}{suffix}"
        kid, kid_std = kernel_distance(real, fake, self.kid_subsets, self.kid_subset_size, seed)
        common = {
            "extractor": self.extractor.name,
            "extractor_weights": self.extractor.fingerprint,
            "n_generated": len(fake),
            "n_reference": len(real),
            "reference": self.reference_name(domain),
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
