"""pix2pix's nets (Isola, Zhu, Zhou & Efros, "Image-to-Image Translation with Conditional
Adversarial Networks", CVPR 2017, sec. 3.2 and appendix 6.1.1).

- :class:`UNetGenerator`: an encoder-decoder of 4x4 stride-2 convolutions down to 1x1
  (C64-C128-C256-C512-C512-... at 256 px, 8 steps), each decoder layer i taking the
  concatenation of the layer below and encoder layer n - i (the skips of sec. 3.2.1);
  BatchNorm everywhere but the first encoder layer and the innermost one, leaky ReLU 0.2 in
  the encoder, ReLU in the decoder, dropout 0.5 in the first three decoder layers (the
  paper's noise), tanh out.
- :class:`PatchDiscriminator`: C64-C128-C256-C512 then a 1-channel convolution, all 4x4,
  stride 2 but the last two (stride 1), no BatchNorm on the first: each output judges a
  70 x 70 patch of the (condition, image) pair it reads concatenated (sec. 3.2.2).
"""

import math

import torch
from torch import Tensor, nn


def encoder_layer(in_channels: int, out_channels: int, first: bool, innermost: bool) -> nn.Module:
    """Leaky ReLU 0.2 -> 4x4 stride-2 conv -> BatchNorm; the first layer is the conv alone
    (it reads the image), the innermost has no BatchNorm (1x1 maps)."""
    if first:
        return nn.Conv2d(in_channels, out_channels, 4, 2, 1)
    layers: list[nn.Module] = [nn.LeakyReLU(0.2)]
    layers.append(nn.Conv2d(in_channels, out_channels, 4, 2, 1, bias=innermost))
    if not innermost:
        layers.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*layers)


class UNetGenerator(nn.Module):
    """(B, in_channels, S, S) -> (B, out_channels, S, S) in [-1, 1], S a power of two >= 8."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        size: int,
        width: int = 64,
        max_width: int = 512,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        n = int(math.log2(size))
        if size < 8 or 2**n != size:
            raise ValueError(
                f"the U-Net halves the image down to 1x1: size {size} must be 2^k >= 8"
            )
        self.config = dict(
            in_channels=in_channels,
            out_channels=out_channels,
            size=size,
            width=width,
            max_width=max_width,
            dropout=dropout,
        )
        widths = [min(width * 2**i, max_width) for i in range(n)]
        self.encoder = nn.ModuleList()
        for i, out in enumerate(widths):
            source = in_channels if i == 0 else widths[i - 1]
            self.encoder.append(encoder_layer(source, out, first=i == 0, innermost=i == n - 1))
        self.decoder = nn.ModuleList()
        for i in reversed(range(n)):  # decoder layer for encoder depth i, innermost first
            below = widths[i] if i == n - 1 else 2 * widths[i]  # concatenated with its skip
            last = i == 0
            target = out_channels if last else widths[i - 1]
            layers: list[nn.Module] = [
                nn.ReLU(),
                nn.ConvTranspose2d(below, target, 4, 2, 1, bias=last),
            ]
            if last:
                layers.append(nn.Tanh())
            else:
                layers.append(nn.BatchNorm2d(target))
                if dropout and n - 1 - i < 3:  # the first three decoder layers
                    layers.append(nn.Dropout(dropout))
            self.decoder.append(nn.Sequential(*layers))

    def forward(self, x: Tensor) -> Tensor:
        skips = []
        for layer in self.encoder:
            x = layer(x)
            skips.append(x)
        x = self.decoder[0](skips[-1])
        for layer, skip in zip(self.decoder[1:], reversed(skips[:-1]), strict=True):
            x = layer(torch.cat([x, skip], 1))
        return x


class PatchDiscriminator(nn.Module):
    """(B, condition_channels + image_channels, S, S) -> (B, 1, S', S') logits, one per
    patch; ``n_layers`` 3 is the 70 x 70 PatchGAN (1: 16 x 16, 5: 286 x 286)."""

    def __init__(self, in_channels: int, width: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        self.config = dict(in_channels=in_channels, width=width, n_layers=n_layers)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2)]
        channels = width
        for i in range(1, n_layers + 1):
            out = width * min(2**i, 8)
            stride = 2 if i < n_layers else 1
            layers += [
                nn.Conv2d(channels, out, 4, stride, 1, bias=False),
                nn.BatchNorm2d(out),
                nn.LeakyReLU(0.2),
            ]
            channels = out
        layers.append(nn.Conv2d(channels, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, condition: Tensor, image: Tensor) -> Tensor:
        return self.net(torch.cat([condition, image], 1))


def receptive_field(n_layers: int) -> int:
    """The side of the input patch one PatchGAN output sees: 4x4 kernels, strides 2 for the
    first ``n_layers`` convolutions and 1 for the last two (70 for n_layers = 3)."""
    strides = [2] * n_layers + [1, 1]
    field = 1
    for stride in reversed(strides):
        field = (field - 1) * stride + 4
    return field
