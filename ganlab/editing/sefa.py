"""SeFa (Shen & Zhou 2021, "Closed-Form Factorization of Latent Semantics in GANs"): the
directions n that the first projection of the latent code changes most, maximising
||A n||^2 subject to ||n|| = 1 (eq. 5), are the eigenvectors of A^T A with the largest
eigenvalues (eq. 6). For StyleGAN2, A stacks the style modulation weights (C_l x D) of the
chosen W+ layers; as in the reference (genforce/sefa), each output channel's row is
unit-normalised first.

Which modulations a W+ layer contributes (``SEFA_WEIGHTS``):

- ``reference`` (the default): genforce/sefa's ``factorize_weight``, one per W+ layer: the
  style conv it feeds, and for the last layer, which feeds no conv, the output ToRGB
  (genforce's ``output{n}``). The intermediate ToRGBs are left out.
- ``all``: every modulated conv the layer feeds, the intermediate ToRGBs included (ganlab's
  choice before: on FFHQ config-f its top three directions have |cos| 0.26, 0.17 and 0.03
  with the reference's).
"""

import torch
from torch import Tensor, nn

from ganlab.nets.stylegan2 import Generator

SEFA_WEIGHTS = ("reference", "all")


def convs_by_layer(generator: Generator, weights: str = "reference") -> dict[int, list[nn.Module]]:
    """W+ index -> the modulated convs whose weights it contributes to A (``SEFA_WEIGHTS``);
    index i feeds ``conv1`` for 0, ``to_rgb1`` for 1, then convs / to_rgbs in order (the class
    docstring of ``Generator`` lists them)."""
    if weights not in SEFA_WEIGHTS:
        raise ValueError(f"SeFa weights must be one of {SEFA_WEIGHTS}, got {weights!r}")
    every = {0: [generator.conv1.conv], 1: [generator.to_rgb1.conv]}
    for b, to_rgb in enumerate(generator.to_rgbs):
        i = 1 + 2 * b
        every[i].append(generator.convs[2 * b].conv)
        every[i + 1] = [generator.convs[2 * b + 1].conv]
        every[i + 2] = [to_rgb.conv]
    if weights == "all":
        return every
    last = max(every)
    return {i: convs if i == last else convs[-1:] for i, convs in every.items()}


def modulation_weights(
    generator: Generator, layers: list[int] | None = None, weights: str = "reference"
) -> Tensor:
    """A: the modulation weights (sum_l C_l, D) that the chosen W+ layers contribute
    (``convs_by_layer``); None: every layer."""
    by_layer = convs_by_layer(generator, weights)
    chosen = sorted(by_layer) if layers is None else layers
    unknown = [i for i in chosen if i not in by_layer]
    if unknown:
        raise ValueError(f"layers {unknown} are not W+ layers of a {generator.size} px generator")
    rows = [conv.modulation.weight for i in chosen for conv in by_layer[i]]
    return torch.cat(rows).detach()


def factorize(weights: Tensor, normalise_rows: bool = True) -> tuple[Tensor, Tensor]:
    """(K, D) directions (rows) and (K,) eigenvalues of A^T A, largest first (eq. 6)."""
    a = weights.double()
    if normalise_rows:
        a = a / a.norm(dim=1, keepdim=True)
    eigenvalues, eigenvectors = torch.linalg.eigh(a.T @ a)  # ascending
    order = torch.argsort(eigenvalues, descending=True)
    return eigenvectors[:, order].T.float(), eigenvalues[order].float()
