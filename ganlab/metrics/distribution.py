"""FID and KID between two sets of features, computed by torchmetrics.

Images are turned into features by a registry extractor beforehand (so real-image
features can be cached); torchmetrics then receives the features through an identity
"feature network". FID: Heusel et al. 2017, Eq. 6 (Frechet distance of two Gaussians);
KID: Binkowski et al. 2018, unbiased MMD^2 with the cubic polynomial kernel, averaged over
random subsets.
"""

import warnings

import torch
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance


class PrecomputedFeatures(nn.Module):
    """Passes (B, D) features through: torchmetrics' "feature network" for cached features."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: Tensor) -> Tensor:
        return features


def check_features(real: Tensor, fake: Tensor) -> None:
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"features must be (N, D) with one D, got {tuple(real.shape)} and {tuple(fake.shape)}"
        )
    if min(len(real), len(fake)) < 2:
        raise ValueError("FID/KID need at least 2 samples in each set")


def frechet_distance(real: Tensor, fake: Tensor) -> float:
    """FID between (N, D) real and (M, D) generated features (float64 inside torchmetrics)."""
    check_features(real, fake)
    # sync_on_compute off: the features are all here, even when a DDP process group exists
    metric = FrechetInceptionDistance(
        feature=PrecomputedFeatures(real.shape[1]), sync_on_compute=False
    )
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    return metric.compute().item()


def kernel_distance(
    real: Tensor, fake: Tensor, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID (mean, std over ``subsets``); the subset size shrinks to the smaller set if needed.

    The subsets are drawn under ``seed``, so the same features always give the same value.
    """
    check_features(real, fake)
    size = min(subset_size, len(real), len(fake))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its note that features are kept in memory
        metric = KernelInceptionDistance(
            feature=PrecomputedFeatures(real.shape[1]),
            subsets=subsets,
            subset_size=size,
            sync_on_compute=False,
        )
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return mean.item(), std.item()
