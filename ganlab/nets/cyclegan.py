"""CycleGAN's nets (Zhu et al. 2017, appendix 7.2; the reference code's ``ResnetGenerator``
and ``NLayerDiscriminator``), shared by the unpaired translation methods.

- ``ResnetTranslator``: reflection pad 3, conv7 -> ``width``, instance norm, ReLU; ``n_down``
  stride-2 conv3 layers doubling the width; ``n_blocks`` residual blocks (reflection pad 1,
  conv3, norm, ReLU, pad, conv3, norm, plus the input); ``n_down`` transposed conv3 layers
  (stride 2, output padding 1) halving it; pad 3, conv7 -> channels, tanh. Instance norm
  without affine parameters or running statistics; convolutions keep their biases (the
  reference's choice with instance norm). 9 blocks at 256 px, 6 at 128 px and below.
- ``PatchDiscriminator``: the "70x70 PatchGAN" at ``n_layers=3``: conv4 stride 2 (no norm),
  LeakyReLU 0.2, then ``n_layers - 1`` conv4 stride-2 layers and one stride-1 layer doubling
  the width (capped at 8x) with instance norm and LeakyReLU, then conv4 stride 1 to one
  score map (no sigmoid).
"""

from torch import Tensor, nn


def norm(channels: int) -> nn.InstanceNorm2d:
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            norm(channels),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            norm(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def downsampling_stem(
    channels: int, width: int, n_down: int, kernel: int = 3, padding: int = 1
) -> tuple[list[nn.Module], int]:
    """Reflection pad 3, conv7 -> ``width``, instance norm, ReLU, then ``n_down`` stride-2
    convs (``kernel``) doubling the width, each with norm and ReLU; (layers, final width)."""
    layers: list[nn.Module] = [
        nn.ReflectionPad2d(3),
        nn.Conv2d(channels, width, 7),
        norm(width),
        nn.ReLU(inplace=True),
    ]
    current = width
    for _ in range(n_down):
        layers += [
            nn.Conv2d(current, current * 2, kernel, 2, padding),
            norm(current * 2),
            nn.ReLU(inplace=True),
        ]
        current *= 2
    return layers, current


class ResidualEncoder(nn.Module):
    """``downsampling_stem`` with conv4 layers, then ``n_residual`` residual blocks (UNIT's
    private encoder layers, MUNIT's content encoder)."""

    def __init__(
        self, channels: int = 3, width: int = 64, n_down: int = 2, n_residual: int = 4
    ) -> None:
        super().__init__()
        layers, current = downsampling_stem(channels, width, n_down, kernel=4)
        self.body = nn.Sequential(*layers, *(ResidualBlock(current) for _ in range(n_residual)))
        self.out_channels = current

    def forward(self, images: Tensor) -> Tensor:
        return self.body(images)


class ResnetTranslator(nn.Module):
    def __init__(
        self, channels: int = 3, width: int = 64, n_blocks: int = 9, n_down: int = 2
    ) -> None:
        super().__init__()
        layers, current = downsampling_stem(channels, width, n_down)
        layers += [ResidualBlock(current) for _ in range(n_blocks)]
        for _ in range(n_down):
            layers += [
                nn.ConvTranspose2d(current, current // 2, 3, 2, 1, output_padding=1),
                norm(current // 2),
                nn.ReLU(inplace=True),
            ]
            current //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(current, channels, 7), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, images: Tensor) -> Tensor:
        """(B, C, H, W) in [-1, 1] -> (B, C, H, W) in [-1, 1]; H, W divisible by 2^n_down."""
        return self.body(images)


def patch_blocks(channels: int, width: int, n_layers: int) -> list[list[nn.Module]]:
    """The PatchGAN's blocks before its 1-channel output conv: conv4 stride 2, LeakyReLU; then
    ``n_layers`` x (conv4, instance norm, LeakyReLU), the last one stride 1, widths doubling
    up to 8 x ``width``."""
    blocks = [[nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]]
    current = width
    for index in range(1, n_layers + 1):
        out = width * min(2**index, 8)
        stride = 2 if index < n_layers else 1
        blocks.append([nn.Conv2d(current, out, 4, stride, 1), norm(out), nn.LeakyReLU(0.2, True)])
        current = out
    return blocks


class PatchDiscriminator(nn.Module):
    def __init__(self, channels: int = 3, width: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        blocks = patch_blocks(channels, width, n_layers)
        layers = [layer for block in blocks for layer in block]
        layers.append(nn.Conv2d(blocks[-1][0].out_channels, 1, 4, 1, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, images: Tensor) -> Tensor:
        """(B, 1, h, w) real/fake scores, one per overlapping patch."""
        return self.body(images)
