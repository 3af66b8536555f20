"""Neural style transfer (Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional
Neural Networks", CVPR 2016): an image optimised so that a feature net's maps match those of
a content image at one depth and the Gram matrices of a style image's maps at several. It is
the "style transfer" row of MGI's Table 1 (content: the structure, style: the exemplar).

The paper's net is VGG-19 (content conv4_2, style conv1_1 ... conv5_1); any net that returns
its maps shallow to deep serves (``maps(images) -> list[Tensor]``: ganlab's domain nets on
embedded data, ``VGGFeatures`` where its weights are present).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

Maps = Callable[[Tensor], list[Tensor]]  # images (B, C, H, W) -> maps shallow to deep


@dataclass(frozen=True)
class StyleTransferSettings:
    content_layer: int = 2  # index into the net's maps (VGG-19: conv4_2, the 4th of 5 depths)
    style_layers: Sequence[int] | None = None  # None: every map, weighted equally (w_l = 1/L)
    content_weight: float = 1e-3  # alpha; beta = 1: the paper's alpha / beta = 1e-3
    style_weight: float = 1.0
    steps: int = 100  # L-BFGS iterations (the paper's optimiser)
    start: str = "noise"  # "noise": white noise, as the paper; "content": the content image
    seed: int = 0

    def __post_init__(self) -> None:
        if self.start not in ("noise", "content"):
            raise ValueError(f"start is noise or content, got {self.start!r}")
        if self.steps < 1:
            raise ValueError(f"style transfer needs steps >= 1, got {self.steps}")


def gram_matrix(maps: Tensor) -> Tensor:
    """(B, N, H, W) maps -> (B, N, N) Gram matrices G_ij = sum_k F_ik F_jk (eq. 3)."""
    flat = maps.flatten(2)
    return flat @ flat.transpose(1, 2)


def content_loss(maps: Tensor, content_maps: Tensor) -> Tensor:
    """(B,) 1/2 sum (F - P)^2 over one layer's maps (eq. 1)."""
    return 0.5 * (maps - content_maps).pow(2).flatten(1).sum(1)


def style_layer_loss(maps: Tensor, style_gram: Tensor) -> Tensor:
    """(B,) E_l = 1 / (4 N^2 M^2) sum (G - A)^2, N maps of M = H x W positions (eq. 4)."""
    n, m = maps.shape[1], maps.shape[2] * maps.shape[3]
    return (gram_matrix(maps) - style_gram).pow(2).flatten(1).sum(1) / (4 * n**2 * m**2)


def transfer_style(
    content: Tensor,
    style: Tensor,
    maps: Maps,
    settings: StyleTransferSettings = StyleTransferSettings(),
) -> Tensor:
    """(B, C, H, W) images in [-1, 1] with ``content``'s layout and ``style``'s textures:
    alpha L_content + beta sum_l w_l E_l (eq. 7) minimised by L-BFGS, one image per pair
    (the losses are per image, so the batch is the sum of independent problems)."""
    with torch.no_grad():
        content_maps = maps(content)[settings.content_layer]
        style_maps = maps(style)
        layers = list(settings.style_layers or range(len(style_maps)))
        style_grams = {layer: gram_matrix(style_maps[layer]) for layer in layers}
    if settings.start == "content":
        start = content.clone()
    else:
        rng = torch.Generator().manual_seed(settings.seed)
        start = torch.rand(content.shape, generator=rng).mul(2).sub(1).to(content)
    image = start.requires_grad_(True)
    optimizer = torch.optim.LBFGS([image], max_iter=settings.steps, line_search_fn="strong_wolfe")

    def objective() -> Tensor:
        optimizer.zero_grad(set_to_none=True)
        image_maps = maps(image)
        style = sum(style_layer_loss(image_maps[k], style_grams[k]) for k in layers) / len(layers)
        fit = content_loss(image_maps[settings.content_layer], content_maps)
        loss = (settings.content_weight * fit + settings.style_weight * style).sum()
        loss.backward()
        return loss

    optimizer.step(objective)
    return image.detach().clamp(-1, 1)
