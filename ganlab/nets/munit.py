"""MUNIT's nets (Huang, Liu, Belongie & Kautz, "Multimodal Unsupervised Image-to-Image
Translation", ECCV 2018; the reference ``networks.py``), per domain:

- content encoder: ``ganlab.nets.cyclegan.ResidualEncoder`` (conv7, ``n_down`` stride-2
  conv4 layers doubling the width, ``n_residual`` residual blocks): a spatial content code.
- ``StyleEncoder``: conv7 -> ``width``, two stride-2 conv4 layers doubling it, then
  ``n_down - 2`` more at constant width (no normalisation), global average pooling and a
  1x1 conv to ``style_dim``: a style vector (B, style_dim).
- ``AdaINDecoder``: ``n_residual`` residual blocks with adaptive instance norm whose scales
  and biases an MLP (3 layers, ``mlp_dim`` hidden, ReLU) computes from the style; then
  ``n_down`` x (nearest upsampling x2, conv5, layer norm, ReLU) and conv7 -> channels, tanh.
- ``MultiScaleDiscriminator``: ``n_scales`` patch discriminators (conv4 stride 2 at
  ``width``, then ``n_layers - 1`` more doubling it, LeakyReLU 0.2, a 1x1 conv to one map)
  on the image average-pooled (3x3, stride 2) between scales; returns one map per scale.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def adaptive_instance_norm(x: Tensor, scale: Tensor, bias: Tensor, eps: float = 1e-5) -> Tensor:
    """AdaIN(x, s) = scale * (x - mu(x)) / sigma(x) + bias per sample and channel (Huang &
    Belongie 2017, eq. 8); ``scale``, ``bias`` (B, C)."""
    mean = x.mean((2, 3), keepdim=True)
    std = (x.var((2, 3), keepdim=True, unbiased=False) + eps).sqrt()
    return scale[:, :, None, None] * (x - mean) / std + bias[:, :, None, None]


class StyleEncoder(nn.Module):
    def __init__(
        self, channels: int = 3, width: int = 64, n_down: int = 4, style_dim: int = 8
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(channels, width, 7),
            nn.ReLU(True),
        ]
        current = width
        for index in range(n_down):
            out = current * 2 if index < 2 else current
            layers += [nn.Conv2d(current, out, 4, 2, 1), nn.ReLU(True)]
            current = out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(current, style_dim, 1)]
        self.body = nn.Sequential(*layers)

    def forward(self, images: Tensor) -> Tensor:
        """(B, style_dim) style vectors."""
        return self.body(images).flatten(1)


class AdaINResidualBlock(nn.Module):
    """x + AdaIN(conv3(ReLU(AdaIN(conv3(x))))) with reflection padding."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3))
        self.conv2 = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3))
        self.channels = channels

    def forward(self, x: Tensor, params: Tensor) -> Tensor:
        """``params`` (B, 4C): scale and bias of the first AdaIN, then of the second."""
        s1, b1, s2, b2 = params.split(self.channels, dim=1)
        h = F.relu(adaptive_instance_norm(self.conv1(x), s1, b1))
        return x + adaptive_instance_norm(self.conv2(h), s2, b2)


class ChannelLayerNorm(nn.Module):
    """Layer norm over (C, H, W) of each sample with a learned per-channel scale and bias
    (MUNIT's ``LayerNorm`` in the decoder's upsampling layers)."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        normalised = F.layer_norm(x, x.shape[1:], eps=self.eps)
        return normalised * self.weight[:, None, None] + self.bias[:, None, None]


class AdaINDecoder(nn.Module):
    def __init__(
        self,
        channels: int = 3,
        width: int = 64,
        n_down: int = 2,
        n_residual: int = 4,
        style_dim: int = 8,
        mlp_dim: int = 256,
    ) -> None:
        super().__init__()
        current = width * 2**n_down
        self.blocks = nn.ModuleList(AdaINResidualBlock(current) for _ in range(n_residual))
        self.mlp = nn.Sequential(
            nn.Linear(style_dim, mlp_dim),
            nn.ReLU(True),
            nn.Linear(mlp_dim, mlp_dim),
            nn.ReLU(True),
            nn.Linear(mlp_dim, 4 * current * n_residual),
        )
        self.style_dim = style_dim
        layers: list[nn.Module] = []
        for _ in range(n_down):
            layers += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(current, current // 2, 5, 1, 2),
                ChannelLayerNorm(current // 2),
                nn.ReLU(True),
            ]
            current //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(current, channels, 7), nn.Tanh()]
        self.upsample = nn.Sequential(*layers)

    def forward(self, content: Tensor, style: Tensor) -> Tensor:
        """Content codes (B, C, h, w) and styles (B, style_dim) -> images."""
        params = self.mlp(style).chunk(len(self.blocks), dim=1)
        h = content
        for block, block_params in zip(self.blocks, params, strict=True):
            h = block(h, block_params)
        return self.upsample(h)


class MultiScaleDiscriminator(nn.Module):
    def __init__(
        self, channels: int = 3, width: int = 64, n_layers: int = 4, n_scales: int = 3
    ) -> None:
        super().__init__()
        self.scales = nn.ModuleList()
        for _ in range(n_scales):
            layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
            current = width
            for _ in range(n_layers - 1):
                layers += [nn.Conv2d(current, current * 2, 4, 2, 1), nn.LeakyReLU(0.2, True)]
                current *= 2
            layers.append(nn.Conv2d(current, 1, 1))
            self.scales.append(nn.Sequential(*layers))
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, images: Tensor) -> list[Tensor]:
        """One (B, 1, h, w) map of scores per scale, finest first."""
        outputs = []
        for index, scale in enumerate(self.scales):
            if index:
                images = self.downsample(images)
            outputs.append(scale(images))
        return outputs
