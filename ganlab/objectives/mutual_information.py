"""InfoGAN's variational lower bound on I(c; G(z, c)) (Chen et al. 2016, Eq. 5).

L_I(G, Q) = E_{c ~ P(c), x ~ G(z, c)}[log Q(c | x)] + H(c) <= I(c; G(z, c)).
"""

import math

import torch.nn.functional as F
from torch import Tensor


def categorical_mi_lower_bound(logits: Tensor, codes: Tensor) -> Tensor:
    """H(c) - CE(Q(c|x), c) for c uniform over K classes: log K - CE. ``codes``: (B,) indices."""
    return math.log(logits.shape[1]) - F.cross_entropy(logits, codes)


def gaussian_mi_lower_bound(mean: Tensor, codes: Tensor, std: float = 1.0) -> Tensor:
    """E[log N(c; mean, std^2)] + H(c) for c ~ U(-1, 1)^L (H = L log 2); Q has a fixed std.

    ``mean``, ``codes``: (B, L). Summed over the L code dimensions, averaged over the batch.
    """
    log_likelihood = (
        -0.5 * ((codes - mean) / std) ** 2 - math.log(std) - 0.5 * math.log(2 * math.pi)
    )
    return log_likelihood.sum(1).mean() + codes.shape[1] * math.log(2.0)
