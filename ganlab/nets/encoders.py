"""Encoders that invert a StyleGAN2: pSp/e4e's W+ encoder and HFGI's high-fidelity parts.

- :class:`GradualStyleEncoder` (Richardson et al. 2021, pSp, Sec. 3; Tov et al. 2021, e4e):
  a feature pyramid over the three deepest stages of a backbone (strides 4, 8, 16) and one
  map2style block per W+ entry: the first ``coarse`` entries read the stride-16 map c3, the
  entries up to ``middle`` the FPN map p2 = up(c3) + lat(c2), the rest p1 = up(p2) +
  lat(c1). ``mode="e4e"``: entry 0 is predicted once and repeated, the others add deltas.
  The backbone is pSp's IR-SE50 (``backbone="irse50"``, the layout whose checkpoints load),
  any timm model with ``features_only`` (e.g. ``resnet10t``), or ``conv``: four plain
  stride-2 convs without normalisation (small images on a CPU; exact under DDP on CPUs,
  where BatchNorm statistics are per process).
- :class:`ConsultationEncoder` (Wang et al. 2022, HFGI's consultation branch): from the
  distortion map x - G(E(x)) to per-pixel (scale, shift) conditions that the generator
  fuses into one block's features (``Generator(..., conditions=...)``).
- :class:`ResidualAligner` (HFGI's ADA): a small U-Net over [distortion, coarse image] that
  aligns the distortion map with the image the generator will draw.

Module names follow pSp/e4e/HFGI (``input_layer``, ``body``, ``styles``, ``latlayer1``,
``conv_layer1``, ``condition_scale3``, ...), so their ``encoder.*``, ``residue.*`` and
``grid_align.*`` weights load with :func:`load_net_weights`.
"""

import math
from pathlib import Path

import timm
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlab.checkpoints import state_dict_mismatches
from ganlab.errors import CheckpointError, MissingWeightsError
from ganlab.nets.irse import IRSE50_STAGES, IRUnit, input_layer, ir_units, stage_ends
from ganlab.nets.stylegan2 import EqualConv2d, EqualLinear
from ganlab.torch_files import load_tensor_file

ENCODER_MODES = ("psp", "e4e")


def upsample_add(coarse: Tensor, lateral: Tensor) -> Tensor:
    """FPN merge: ``coarse`` up-sampled (bilinear, align_corners) to ``lateral``, plus it."""
    size = lateral.shape[-2:]
    return F.interpolate(coarse, size=size, mode="bilinear", align_corners=True) + lateral


class GradualStyleBlock(nn.Module):
    """map2style: stride-2 conv3x3 + LeakyReLU(0.01) down to 1x1, then an equalized linear:
    (B, C, S, S) -> (B, out_channels)."""

    def __init__(self, in_channels: int, out_channels: int, spatial: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 3, 2, 1), nn.LeakyReLU()]
        for _ in range(int(math.log2(spatial)) - 1):
            layers += [nn.Conv2d(out_channels, out_channels, 3, 2, 1), nn.LeakyReLU()]
        self.convs = nn.Sequential(*layers)
        self.linear = EqualLinear(out_channels, out_channels, lr_mul=1)
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> Tensor:
        pooled = self.convs(x)
        if pooled.shape[-2:] != (1, 1):
            raise ValueError(
                f"map2style ended at {tuple(pooled.shape[-2:])}, not 1 x 1: the encoder's "
                "image_size does not match its input images"
            )
        return self.linear(pooled.flatten(1))


class GradualStyleEncoder(nn.Module):
    """(B, C, S, S) images -> (B, n_styles, style_dim) W+ offsets (add the generator's mean w).

    ``width``: channels of the pyramid maps (pSp: 512 = style_dim); the map2style blocks map
    them to ``style_dim``.
    """

    def __init__(
        self,
        n_styles: int,
        image_size: int,
        style_dim: int = 512,
        backbone: str = "irse50",
        in_channels: int = 3,
        width: int = 512,
        coarse: int = 3,
        middle: int = 7,
        mode: str = "psp",
    ) -> None:
        super().__init__()
        if mode not in ENCODER_MODES:
            raise ValueError(f"encoder mode must be one of {ENCODER_MODES}, got {mode!r}")
        if not 0 < coarse <= middle <= n_styles:
            raise ValueError(f"need 0 < coarse <= middle <= n_styles, got {coarse}, {middle}")
        self.n_styles, self.coarse, self.middle, self.mode = n_styles, coarse, middle, mode
        self.backbone_name = backbone
        if backbone == "irse50":
            self.input_layer = input_layer(in_channels, 64)
            self.body = nn.Sequential(*ir_units(IRSE50_STAGES, squeeze_excite=True))
            self.taps = stage_ends(IRSE50_STAGES)[1:]  # 6, 20, 23: strides 4, 8, 16
            tap_channels = [depth for _, depth, _ in IRSE50_STAGES[1:]]
        elif backbone == "conv":
            self.input_layer = nn.Identity()
            tap_channels = [max(width // 4, 8), max(width // 2, 8), width]
            widths = [in_channels, tap_channels[0], *tap_channels]
            self.body = nn.Sequential(
                *[
                    nn.Sequential(nn.Conv2d(a, b, 3, 2, 1), nn.LeakyReLU(0.2))
                    for a, b in zip(widths, widths[1:], strict=False)
                ]
            )
            self.taps = [1, 2, 3]  # strides 4, 8, 16
        else:
            self.backbone = timm.create_model(
                backbone, pretrained=False, features_only=True, in_chans=in_channels
            )
            reductions = self.backbone.feature_info.reduction()
            missing = [r for r in (4, 8, 16) if r not in reductions]
            if missing:
                raise ValueError(f"backbone {backbone} has no feature maps at strides {missing}")
            self.taps = [reductions.index(r) for r in (4, 8, 16)]
            tap_channels = [self.backbone.feature_info.channels()[i] for i in self.taps]
        c1, c2, c3 = tap_channels
        self.latlayer1 = nn.Conv2d(c2, width, 1)
        self.latlayer2 = nn.Conv2d(c1, width, 1)
        # pSp's c3 already has the pyramid's width (512): no layer (and no weights) there
        self.latlayer3 = nn.Conv2d(c3, width, 1) if c3 != width else nn.Identity()
        spatial = {"coarse": image_size // 16, "middle": image_size // 8, "fine": image_size // 4}
        self.styles = nn.ModuleList(
            GradualStyleBlock(width, style_dim, spatial[self.level(i)]) for i in range(n_styles)
        )

    def level(self, index: int) -> str:
        """Which pyramid map W+ entry ``index`` reads."""
        return "coarse" if index < self.coarse else "middle" if index < self.middle else "fine"

    def features(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The backbone's maps at strides 4, 8 and 16."""
        if self.backbone_name in ("irse50", "conv"):
            x, taps = self.input_layer(images), []
            for index, unit in enumerate(self.body):
                x = unit(x)
                if index in self.taps:
                    taps.append(x)
            return tuple(taps)
        maps = self.backbone(images)
        return tuple(maps[i] for i in self.taps)

    def forward(self, images: Tensor) -> Tensor:
        c1, c2, c3 = self.features(images)
        c3 = self.latlayer3(c3)
        p2 = upsample_add(c3, self.latlayer1(c2))
        p1 = upsample_add(p2, self.latlayer2(c1))
        maps = {"coarse": c3, "middle": p2, "fine": p1}
        styles = [self.styles[i](maps[self.level(i)]) for i in range(self.n_styles)]
        if self.mode == "e4e":  # w0 repeated, plus a delta per entry (e4e, Sec. 3.2)
            first = styles[0]
            return torch.stack([first] + [first + delta for delta in styles[1:]], dim=1)
        return torch.stack(styles, dim=1)


class ScaledLeakyReLU(nn.Module):
    """sqrt(2) * leaky_relu(x, slope): StyleGAN2's activation without a bias."""

    def __init__(self, negative_slope: float = 0.2) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope) * math.sqrt(2)


def condition_head(in_channels: int, channels: int) -> nn.Sequential:
    """EqualConv3x3 -> scaled LeakyReLU -> EqualConv3x3, HFGI's scale / shift head."""
    return nn.Sequential(
        EqualConv2d(in_channels, channels, 3, padding=1),
        ScaledLeakyReLU(0.2),
        EqualConv2d(channels, channels, 3, padding=1),
    )


class ConsultationEncoder(nn.Module):
    """HFGI's consultation encoder: distortion map (B, C, S, S) -> (scale, shift), each
    (B, condition_channels, condition_size, condition_size) for the generator's fusion.
    ``widths``: the three stages' channels (HFGI: 32, 48, 64). ``zero_init``: the heads'
    last convs start at zero, so the fused generator starts as the plain one and training
    starts from E0's reconstructions (HFGI initialises them randomly and trains 100k steps;
    short CPU runs need the quiet start)."""

    def __init__(
        self,
        condition_channels: int = 512,
        condition_size: int = 64,
        in_channels: int = 3,
        widths: tuple[int, int, int] = (32, 48, 64),
        zero_init: bool = False,
    ) -> None:
        super().__init__()
        w1, w2, w3 = widths
        self.conv_layer1 = input_layer(in_channels, w1)
        self.conv_layer2 = nn.Sequential(*ir_units(((w1, w2, 3),), squeeze_excite=False))
        self.conv_layer3 = nn.Sequential(*ir_units(((w2, w3, 3),), squeeze_excite=False))
        self.condition_scale3 = condition_head(w3, condition_channels)
        self.condition_shift3 = condition_head(w3, condition_channels)
        self.condition_size = condition_size
        if zero_init:
            with torch.no_grad():
                for head in (self.condition_scale3, self.condition_shift3):
                    head[-1].weight.zero_()
                    head[-1].bias.zero_()

    def forward(self, distortion: Tensor) -> tuple[Tensor, Tensor]:
        features = self.conv_layer3(self.conv_layer2(self.conv_layer1(distortion)))
        size = (self.condition_size, self.condition_size)
        scale = F.interpolate(self.condition_scale3(features), size=size, mode="bilinear")
        shift = F.interpolate(self.condition_shift3(features), size=size, mode="bilinear")
        return scale, shift


class ResidualAligner(nn.Module):
    """HFGI's ADA: [distortion, coarse image] (B, 2C, S, S) -> an aligned distortion map
    (B, C, S, S), a U-Net of IR units (encoder widths ``widths``, skips concatenated, bilinear
    up-sampling, no output activation)."""

    def __init__(
        self, in_channels: int = 3, widths: tuple[int, int, int, int] = (16, 32, 48, 64)
    ) -> None:
        super().__init__()
        w1, w2, w3, w4 = widths
        stage = lambda a, b: nn.Sequential(  # noqa: E731
            IRUnit(a, b, 2, False), IRUnit(b, b, 1, False), IRUnit(b, b, 1, False)
        )
        plain = lambda a, b, c: nn.Sequential(  # noqa: E731
            IRUnit(a, b, 1, False), IRUnit(b, c, 1, False), IRUnit(c, c, 1, False)
        )
        self.conv_layer1 = input_layer(2 * in_channels, w1)
        self.conv_layer2, self.conv_layer3, self.conv_layer4 = (
            stage(w1, w2),
            stage(w2, w3),
            stage(w3, w4),
        )
        self.dconv_layer1 = plain(w4 + w3, w4, w2)
        self.dconv_layer2 = plain(2 * w2, w2, w1)
        self.dconv_layer3 = plain(2 * w1, w1, in_channels)

    def forward(self, stacked: Tensor) -> Tensor:
        feat1 = self.conv_layer1(stacked)
        feat2 = self.conv_layer2(feat1)
        feat3 = self.conv_layer3(feat2)
        feat4 = self.conv_layer4(feat3)
        up = lambda x, like: F.interpolate(x, size=like.shape[-2:], mode="bilinear")  # noqa: E731
        decoded = self.dconv_layer1(torch.cat([up(feat4, feat3), feat3], 1))
        decoded = self.dconv_layer2(torch.cat([up(decoded, feat2), feat2], 1))
        return self.dconv_layer3(torch.cat([up(decoded, feat1), feat1], 1))


def load_net_weights(net: nn.Module, path: str | Path, prefix: str, what: str) -> None:
    """Load the ``prefix``-ed entries of a checkpoint's state dict (pSp/e4e/HFGI files and
    ganlab's: ``{"state_dict": {...}}`` or a bare state dict) into ``net``; a missing file
    or any missing, extra or mis-shaped key stops with one message naming them."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise MissingWeightsError(f"{what} weights not found: {path} does not exist")
    saved = load_tensor_file(path, f"{what} weights")
    state = saved.get("state_dict", saved) if isinstance(saved, dict) else {}
    entries = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    if not entries:
        raise CheckpointError(f"{path} holds no '{prefix}*' weights for the {what}")
    problems = state_dict_mismatches(entries, net.state_dict())
    if problems:
        raise CheckpointError(
            f"{path} does not fit the {what} ('{prefix}*' entries): {'; '.join(problems)}"
        )
    net.load_state_dict(entries)
