"""SeFa (Shen & Zhou 2021, "Closed-Form Factorization of Latent Semantics in GANs"): the
directions n that the first projection of the latent code changes most, maximising
||A n||^2 subject to ||n|| = 1 (eq. 5), are the eigenvectors of A^T A with the largest
eigenvalues (eq. 6). For StyleGAN2, A stacks the style modulation weights (C_l x D) of the
chosen layers; as in the reference (genforce/sefa), each output channel's row is
unit-normalised first.
"""

import torch
from torch import Tensor

from ganlab.nets.stylegan2 import Generator


def modulation_weights(generator: Generator, layers: list[int] | None = None) -> Tensor:
    """A: the modulation weights (sum_l C_l, D) of the convs fed by the chosen W+ layers
    (index i feeds ``conv1`` for 0, ``to_rgb1`` for 1, then convs / to_rgbs in order; the
    class docstring of ``Generator`` lists them); None: every layer."""
    by_layer = {0: [generator.conv1.conv], 1: [generator.to_rgb1.conv]}
    for b, to_rgb in enumerate(generator.to_rgbs):
        i = 1 + 2 * b
        by_layer[i].append(generator.convs[2 * b].conv)
        by_layer[i + 1] = [generator.convs[2 * b + 1].conv]
        by_layer[i + 2] = [to_rgb.conv]
    chosen = sorted(by_layer) if layers is None else layers
    unknown = [i for i in chosen if i not in by_layer]
    if unknown:
        raise ValueError(f"layers {unknown} are not W+ layers of a {generator.size} px generator")
    weights = [conv.modulation.weight for i in chosen for conv in by_layer[i]]
    return torch.cat(weights).detach()


def factorize(weights: Tensor, normalise_rows: bool = True) -> tuple[Tensor, Tensor]:
    """(K, D) directions (rows) and (K,) eigenvalues of A^T A, largest first (eq. 6)."""
    a = weights.double()
    if normalise_rows:
        a = a / a.norm(dim=1, keepdim=True)
    eigenvalues, eigenvectors = torch.linalg.eigh(a.T @ a)  # ascending
    order = torch.argsort(eigenvalues, descending=True)
    return eigenvectors[:, order].T.float(), eigenvalues[order].float()
