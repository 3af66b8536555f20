"""Variational bounds on mutual information for InfoGAN and IB-GAN.

Lower bound, InfoGAN's L_I (Chen et al. 2016, Eq. 5), which IB-GAN's MI^L applies to the
whole input z (Jeon et al. 2021):
L_I(G, Q) = E_{c ~ P(c), x ~ G(z, c)}[log Q(c | x)] + H(c) <= I(c; G(z, c)).

Upper bound, IB-GAN's MI^U (Jeon et al. 2021, the IB-GAN objective's upper bound on the
information that passes the stochastic encoder e(r|z)):
I(z; r) <= E_z[KL(e(r | z) || m(r))], here with e Gaussian and m(r) = N(0, I).
"""

import math

import torch
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


def gaussian_kl_to_standard_normal(mean: Tensor, log_var: Tensor) -> Tensor:
    """E_z[KL(N(mean, diag exp(log_var)) || N(0, I))], IB-GAN's upper bound MI^U on I(z; r).

    0.5 * sum_d (mean^2 + sigma^2 - log sigma^2 - 1); ``mean``, ``log_var``: (B, D). Summed
    over the D dimensions, averaged over the batch.
    """
    per_dim = mean.pow(2) + torch.exp(log_var) - log_var - 1.0
    return 0.5 * per_dim.sum(1).mean()
