"""A small U-Net that segments images into a dataset's mask classes (ToyFaces: background,
skin, hair, ...). GAN dissection measures with it what a generator's units draw, and how
ablating them changes the drawing (``ganlab.analysis.dissection``).

Two stride-2 stages down, residual blocks at a quarter of the size, two up-sampling stages
with the encoder's features concatenated (skip connections), per-pixel class logits.
"""

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlab.nets.files import load_net_file, save_net_file

FORMAT = "ganlab-segmenter/1"


def conv(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride, 1),
        nn.GroupNorm(8, out_channels),
        nn.LeakyReLU(0.2),
    )


class Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv(channels, channels), conv(channels, channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class Segmenter(nn.Module):
    def __init__(self, channels: int = 3, n_classes: int = 10, width: int = 32) -> None:
        super().__init__()
        self.config = dict(channels=channels, n_classes=n_classes, width=width)
        self.stem = conv(channels, width)
        self.down1 = conv(width, 2 * width, 2)
        self.down2 = conv(2 * width, 4 * width, 2)
        self.middle = nn.Sequential(Residual(4 * width), Residual(4 * width))
        self.up2 = conv(4 * width + 2 * width, 2 * width)
        self.up1 = conv(2 * width + width, width)
        self.head = nn.Conv2d(width, n_classes, 1)

    def forward(self, images: Tensor) -> Tensor:
        """(B, C, H, W) in [-1, 1] -> class logits (B, K, H, W)."""
        full = self.stem(images)
        half = self.down1(full)
        quarter = self.middle(self.down2(half))
        up = F.interpolate(quarter, scale_factor=2, mode="bilinear", align_corners=False)
        up = self.up2(torch.cat([up, half], 1))
        up = F.interpolate(up, scale_factor=2, mode="bilinear", align_corners=False)
        return self.head(self.up1(torch.cat([up, full], 1)))

    @torch.no_grad()
    def segment(self, images: Tensor) -> Tensor:
        """Class ids (B, H, W)."""
        return self(images).argmax(1)


def save_segmenter(net: Segmenter, path: Path, details: dict[str, Any]) -> None:
    save_net_file(net, net.config, path, FORMAT, details)


def load_segmenter(path: str | Path) -> tuple[Segmenter, dict[str, Any]]:
    """(net in eval mode, details) from ``save_segmenter``'s file; a clear error for a
    missing, unreadable or foreign file."""
    make_one = (
        "train one with python -m ganlab.run experiment=segmenter_toyfaces (or pass your own file)"
    )
    return load_net_file(path, FORMAT, Segmenter, make_one)
