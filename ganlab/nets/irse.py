"""IR / IR-SE residual units and the IR-SE50 body (Deng et al. 2019, ArcFace's backbone), in
the module layout of pSp/e4e/HFGI (``models/encoders/helpers.py`` there), so their encoder
checkpoints and the ArcFace ``model_ir_se50.pth`` load key for key.

A unit is BN -> conv3x3 -> PReLU -> conv3x3 (stride) -> BN [-> squeeze-excitation], plus a
shortcut (a strided 1x1 max-pool when the width stays, else a strided 1x1 conv + BN). The
50-layer body stacks stages of 3, 4, 14 and 3 units of widths 64, 128, 256 and 512; the first
unit of each stage halves the resolution.
"""

from torch import Tensor, nn

IRSE50_STAGES = ((64, 64, 3), (64, 128, 4), (128, 256, 14), (256, 512, 3))


class SqueezeExcite(nn.Module):
    """x * sigmoid(fc2(relu(fc1(mean_hw x)))) with 1x1 convs (Hu et al. 2018)."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        return x * self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x)))))


class IRUnit(nn.Module):
    """One bottleneck IR unit (``squeeze_excite``: IR-SE): (B, C_in, H, W) -> (B, C, H/s, W/s)."""

    def __init__(
        self, in_channels: int, depth: int, stride: int, squeeze_excite: bool = True
    ) -> None:
        super().__init__()
        if in_channels == depth:
            self.shortcut_layer: nn.Module = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(
                nn.Conv2d(in_channels, depth, 1, stride, bias=False), nn.BatchNorm2d(depth)
            )
        layers = [
            nn.BatchNorm2d(in_channels),
            nn.Conv2d(in_channels, depth, 3, 1, 1, bias=False),
            nn.PReLU(depth),
            nn.Conv2d(depth, depth, 3, stride, 1, bias=False),
            nn.BatchNorm2d(depth),
        ]
        if squeeze_excite:
            layers.append(SqueezeExcite(depth, 16))
        self.res_layer = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


def ir_units(stages: tuple[tuple[int, int, int], ...], squeeze_excite: bool) -> list[IRUnit]:
    """Each stage (in, depth, units): a stride-2 unit, then stride-1 units of width depth."""
    units = []
    for in_channels, depth, count in stages:
        units.append(IRUnit(in_channels, depth, 2, squeeze_excite))
        units += [IRUnit(depth, depth, 1, squeeze_excite) for _ in range(count - 1)]
    return units


def input_layer(in_channels: int = 3, width: int = 64) -> nn.Sequential:
    """conv3x3 (no bias) -> BN -> PReLU, the stem of every IR body."""
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.PReLU(width)
    )


def stage_ends(stages: tuple[tuple[int, int, int], ...]) -> list[int]:
    """Body indices of the last unit of each stage (IR-SE50: 2, 6, 20, 23)."""
    ends, total = [], 0
    for _, _, count in stages:
        total += count
        ends.append(total - 1)
    return ends
