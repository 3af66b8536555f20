"""StyleGAN2 generator and discriminator (Karras et al. 2020, "Analyzing and Improving the Image
Quality of StyleGAN"), in the checkpoint layout of rosinality/stylegan2-pytorch.

The state_dict names, shapes and forward computation match that layout exactly, so converted
checkpoints such as ``stylegan2-ffhq-config-f.pt`` (used by pSp, e4e and HFGI) load with
``load_stylegan2`` and compute what they compute there. Everything is plain PyTorch: the fused
bias + leaky ReLU and upfirdn2d kernels are written with ordinary tensor ops.

Conventions (tests/fixtures/stylegan2_rosinality/README.md lists them): equalized learning rate
(weights scaled at run time, Sec. 4.1 of Karras et al. 2018), activation sqrt(2) * lrelu(x + b),
weight modulation and demodulation (Eqs. 1-3), noise added after the conv and before the bias,
skip-connected to-RGB outputs summed through FIR up-sampling (Fig. 7b), and a discriminator of
residual blocks (Fig. 7c) with a minibatch-stddev feature.
"""

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from ganlab.errors import CheckpointError, MissingWeightsError
from ganlab.torch_files import load_tensor_file

ACT_GAIN = math.sqrt(2)
RECOMPUTE_FROM_SIZE = 512  # generators this large recompute activations in backward (inversion)
WEIGHTS_HINT = (
    "Standard checkpoints in this layout: stylegan2-ffhq-config-f.pt and the other converted "
    "NVIDIA models linked from the README of https://github.com/rosinality/stylegan2-pytorch, "
    "or the StyleGAN2 FFHQ file in pSp's pretrained models "
    "(https://github.com/eladrich/pixel2style2pixel#pretrained-models)."
)


def default_channels(channel_multiplier: int = 2) -> dict[int, int]:
    """Feature maps per resolution of the official configs (config-f: channel_multiplier=2)."""
    cm = channel_multiplier
    return {
        4: 512,
        8: 512,
        16: 512,
        32: 512,
        64: 256 * cm,
        128: 128 * cm,
        256: 64 * cm,
        512: 32 * cm,
        1024: 16 * cm,
    }


def resolve_channels(
    size: int, channel_multiplier: int, channels: dict | None
) -> tuple[int, dict[int, int]]:
    """``log2(size)`` and the channel table (int keys), checked to cover 4 .. size px."""
    log_size = math.log2(size) if size > 0 else 0.0
    if log_size < 2 or not log_size.is_integer():
        raise ValueError(f"StyleGAN2 needs a power-of-two image size >= 4, got {size}")
    table = default_channels(channel_multiplier) if channels is None else channels
    table = {int(res): int(ch) for res, ch in table.items()}
    missing = [2**i for i in range(2, int(log_size) + 1) if 2**i not in table]
    if missing:
        raise ValueError(f"channels table has no entry for resolutions {missing} (size {size})")
    return int(log_size), table


def make_kernel(taps: Sequence[float]) -> Tensor:
    """A separable 2-D FIR kernel from 1-D taps, normalised to sum 1."""
    k = torch.tensor(taps, dtype=torch.float32)
    if k.ndim == 1:
        k = k[None, :] * k[:, None]
    return k / k.sum()


def upfirdn2d(
    x: Tensor, kernel: Tensor, up: int = 1, down: int = 1, pad: tuple[int, int] = (0, 0)
) -> Tensor:
    """Upsample by zero insertion, pad (negative pads crop), FIR-filter, downsample.

    Same factor and padding on both spatial axes. x: (B, C, H, W); kernel: (kh, kw).
    Output side: (up * H + pad0 + pad1 - kh + down) // down.
    """
    b, c, h, w = x.shape
    out = x
    if up > 1:  # sample p lands at up * p, zeros in between and after the last one
        out = F.pad(out.reshape(b, c, h, 1, w, 1), (0, up - 1, 0, 0, 0, up - 1))
        out = out.view(b, c, h * up, w * up)
    p0, p1 = pad
    out = F.pad(out, (max(p0, 0), max(p1, 0), max(p0, 0), max(p1, 0)))
    height, width = out.shape[-2:]
    out = out[..., max(-p0, 0) : height - max(-p1, 0), max(-p0, 0) : width - max(-p1, 0)]
    # true convolution = correlation with the flipped kernel, one filter per channel
    # (a depthwise conv: 5-15x faster on a CPU than folding channels into the batch)
    weight = kernel.flip(0, 1).to(out.dtype).expand(c, 1, *kernel.shape)
    out = F.conv2d(out, weight, groups=c)
    return out[..., ::down, ::down]


def fused_leaky_relu(x: Tensor, bias: Tensor | None = None) -> Tensor:
    """sqrt(2) * lrelu(x + b, 0.2), the bias broadcast over every dim after the channel dim."""
    if bias is not None:
        x = x + bias.view(1, -1, *([1] * (x.ndim - 2)))
    return F.leaky_relu(x, 0.2) * ACT_GAIN


class BiasedLeakyReLU(nn.Module):
    """Per-channel bias, leaky ReLU and sqrt(2) gain (rosinality's FusedLeakyReLU)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        return fused_leaky_relu(x, self.bias)


class PixelNorm(nn.Module):
    """x / sqrt(mean(x^2) + 1e-8) over the feature dim (Karras et al. 2018, Eq. 2)."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class Blur(nn.Module):
    """FIR low-pass by ``upfirdn2d`` with a fixed (stored) kernel and padding.

    After a x``upsample_factor`` transposed conv the kernel is scaled by factor**2 to keep the
    signal's gain.
    """

    def __init__(
        self, taps: Sequence[float], pad: tuple[int, int], upsample_factor: int = 1
    ) -> None:
        super().__init__()
        self.register_buffer("kernel", make_kernel(taps) * upsample_factor**2)
        self.pad = pad

    def forward(self, x: Tensor) -> Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """FIR up-sampling of the to-RGB skip path, x``factor``: (B, C, H, W) -> (B, C, 2H, 2W)."""

    def __init__(self, taps: Sequence[float], factor: int = 2) -> None:
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_kernel(taps) * factor**2)
        p = len(taps) - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: Tensor) -> Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class EqualLinear(nn.Module):
    """Linear layer with equalized lr: W_eff = W * lr_mul / sqrt(fan_in), b_eff = b * lr_mul.

    With ``activate`` the bias goes into the sqrt(2)-gain leaky ReLU instead of the product.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        bias: bool = True,
        bias_init: float = 0.0,
        lr_mul: float = 1.0,
        activate: bool = False,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activate = activate

    def forward(self, x: Tensor) -> Tensor:
        bias = None if self.bias is None else self.bias * self.lr_mul
        if self.activate:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), bias)
        return F.linear(x, self.weight * self.scale, bias)


class EqualConv2d(nn.Module):
    """Conv2d with equalized lr: W_eff = W / sqrt(C_in * k^2)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = 1 / math.sqrt(in_channels * kernel_size**2)
        self.stride = stride
        self.padding = padding

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(
            x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding
        )


class ModulatedConv2d(nn.Module):
    """Style-modulated conv (Eqs. 1-3 of Karras et al. 2020), optionally x2 up-sampling.

    Up-sampling is a stride-2 transposed conv ((2H+1) x (2W+1)) followed by a FIR blur back to
    2H x 2W. ``grouped=True`` (the reference's way) convolves each sample with its own weights
    through a grouped conv; ``grouped=False`` scales the input by the style, convolves with the
    shared weights and scales the output by the demodulation factor: the same function,
    several times faster to train on a CPU (equal to the grouped one up to rounding).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        style_dim: int,
        demodulate: bool = True,
        upsample: bool = False,
        blur_kernel: Sequence[float] = (1, 3, 3, 1),
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.demodulate = demodulate
        self.upsample = upsample
        if upsample:
            factor = 2
            p = (len(blur_kernel) - factor) - (kernel_size - 1)
            pad = ((p + 1) // 2 + factor - 1, p // 2 + 1)
            self.blur = Blur(blur_kernel, pad, upsample_factor=factor)
        self.weight = nn.Parameter(
            torch.randn(1, out_channels, in_channels, kernel_size, kernel_size)
        )
        self.scale = 1 / math.sqrt(in_channels * kernel_size**2)
        self.padding = kernel_size // 2
        self.modulation = EqualLinear(style_dim, in_channels, bias_init=1.0)
        self.grouped = True

    def forward(self, x: Tensor, style: Tensor) -> Tensor:
        """x: (B, C_in, H, W), style: (B, D) -> (B, C_out, H', W')."""
        b, c_in, h, w = x.shape
        c_out, k = self.out_channels, self.kernel_size
        s = self.modulation(style)  # (B, C_in)
        if not self.grouped:
            return self.forward_shared_weights(x, s)
        weight = (
            self.scale * self.weight * s.view(b, 1, c_in, 1, 1)
        )  # Eq. 1: (B, C_out, C_in, k, k)
        if self.demodulate:  # Eqs. 2-3
            demod = torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4)) + 1e-8)  # (B, C_out)
            weight = weight * demod.view(b, c_out, 1, 1, 1)
        x = x.reshape(1, b * c_in, h, w)
        if self.upsample:
            # conv_transpose2d wants (groups * C_in, C_out, k, k)
            weight = weight.transpose(1, 2).reshape(b * c_in, c_out, k, k)
            out = F.conv_transpose2d(x, weight, stride=2, groups=b)  # (1, B*C_out, 2H+1, 2W+1)
            out = self.blur(out.view(b, c_out, out.shape[-2], out.shape[-1]))
        else:
            weight = weight.reshape(b * c_out, c_in, k, k)
            out = F.conv2d(x, weight, padding=self.padding, groups=b)
            out = out.view(b, c_out, h, w)
        return out

    def forward_shared_weights(self, x: Tensor, s: Tensor) -> Tensor:
        """Eqs. 1-3 moved onto the activations: conv(x * s, w) * demod, with (B, C_in) styles s."""
        weight = self.scale * self.weight[0]  # (C_out, C_in, k, k)
        x = x * s[:, :, None, None]
        if self.upsample:
            out = self.blur(F.conv_transpose2d(x, weight.transpose(0, 1), stride=2))
        else:
            out = F.conv2d(x, weight, padding=self.padding)
        if self.demodulate:  # Eq. 3: rsqrt(sum_{i,k} (s_i w_ijk)^2) = rsqrt(s^2 @ sum_k w^2)
            demod = torch.rsqrt(s.pow(2) @ weight.pow(2).sum(dim=(2, 3)).t() + 1e-8)
            out = out * demod[:, :, None, None]
        return out


class NoiseInjection(nn.Module):
    """x + strength * noise, one scalar strength per layer, noise (1 or B, 1, H, W)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor, noise: Tensor | None = None) -> Tensor:
        if noise is None:
            b, _, h, w = x.shape
            noise = x.new_empty(b, 1, h, w).normal_()
        return x + self.weight * noise


class ConstantInput(nn.Module):
    """The learned 4x4 constant the synthesis network starts from, repeated over the batch."""

    def __init__(self, channels: int, size: int = 4) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch_size: int) -> Tensor:
        return self.input.repeat(batch_size, 1, 1, 1)


class StyledConv(nn.Module):
    """Modulated conv -> add noise -> bias, leaky ReLU, sqrt(2) gain."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        style_dim: int,
        upsample: bool = False,
        blur_kernel: Sequence[float] = (1, 3, 3, 1),
    ) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(
            in_channels,
            out_channels,
            kernel_size,
            style_dim,
            upsample=upsample,
            blur_kernel=blur_kernel,
        )
        self.noise = NoiseInjection()
        self.activate = BiasedLeakyReLU(out_channels)

    def forward(self, x: Tensor, style: Tensor, noise: Tensor | None = None) -> Tensor:
        return self.activate(self.noise(self.conv(x, style), noise=noise))


class ToRGB(nn.Module):
    """Modulated 1x1 conv to RGB (no demodulation) + bias + up-sampled previous RGB (Fig. 7b)."""

    def __init__(
        self,
        in_channels: int,
        style_dim: int,
        upsample: bool = True,
        blur_kernel: Sequence[float] = (1, 3, 3, 1),
    ) -> None:
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_channels, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: Tensor, style: Tensor, skip: Tensor | None = None) -> Tensor:
        rgb = self.conv(x, style) + self.bias
        if skip is not None:
            rgb = rgb + self.upsample(skip)
        return rgb


class Generator(nn.Module):
    """Mapping network z -> w and synthesis network w (or W+) -> image (B, 3, size, size).

    ``n_latent = 2 * log2(size) - 2`` style inputs: index 0 feeds ``conv1``, 1 ``to_rgb1``; block b
    feeds ``convs.2b`` with 1 + 2b, ``convs.(2b+1)`` with 2 + 2b and ``to_rgbs.b`` with 3 + 2b.
    """

    def __init__(
        self,
        size: int,
        style_dim: int,
        n_mlp: int,
        channel_multiplier: int = 2,
        channels: dict | None = None,
        lr_mlp: float = 0.01,
        blur_kernel: Sequence[float] = (1, 3, 3, 1),
        grouped_conv: bool = True,
    ) -> None:
        super().__init__()
        log_size, self.channels = resolve_channels(size, channel_multiplier, channels)
        self.size = size
        self.style_dim = style_dim
        self.latent_dim = style_dim
        self.n_mlp, self.lr_mlp = n_mlp, lr_mlp
        self.log_size = log_size
        self.num_layers = (log_size - 2) * 2 + 1
        self.n_latent = log_size * 2 - 2

        mapping = [
            EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activate=True) for _ in range(n_mlp)
        ]
        self.style = nn.Sequential(PixelNorm(), *mapping)

        ch = self.channels
        self.input = ConstantInput(ch[4])
        self.conv1 = StyledConv(ch[4], ch[4], 3, style_dim, blur_kernel=blur_kernel)
        self.to_rgb1 = ToRGB(ch[4], style_dim, upsample=False)

        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        in_channels = ch[4]
        for i in range(3, log_size + 1):
            out_channels = ch[2**i]
            self.convs.append(
                StyledConv(
                    in_channels, out_channels, 3, style_dim, upsample=True, blur_kernel=blur_kernel
                )
            )
            self.convs.append(
                StyledConv(out_channels, out_channels, 3, style_dim, blur_kernel=blur_kernel)
            )
            self.to_rgbs.append(ToRGB(out_channels, style_dim, blur_kernel=blur_kernel))
            in_channels = out_channels

        self.noises = nn.Module()  # fixed maps used with randomize_noise=False
        for j in range(self.num_layers):
            res = 2 ** ((j + 5) // 2)  # 4, 8, 8, 16, 16, ...
            self.noises.register_buffer(f"noise_{j}", torch.randn(1, 1, res, res))
        self.use_grouped_conv(grouped_conv)
        self.recompute_activations = False

    def make_noise(self) -> list[Tensor]:
        """Fresh N(0, 1) noise maps, one per layer: (1, 1, 4, 4), (1, 1, 8, 8) x 2, ..."""
        device = self.input.input.device
        noises = [torch.randn(1, 1, 4, 4, device=device)]
        for i in range(3, self.log_size + 1):
            noises += [torch.randn(1, 1, 2**i, 2**i, device=device) for _ in range(2)]
        return noises

    def get_latent(self, z: Tensor) -> Tensor:
        """The mapping network: z (B, D) -> w (B, D)."""
        return self.style(z)

    @torch.no_grad()
    def use_grouped_conv(self, grouped: bool) -> "Generator":
        """Modulated convs as per-sample grouped convs (the reference) or on shared weights."""
        for module in self.modules():
            if isinstance(module, ModulatedConv2d):
                module.grouped = grouped
        return self

    def use_recomputation(self, on: bool | None = None) -> "Generator":
        """Keep only each synthesis layer's input for backward and recompute the rest there
        (torch.utils.checkpoint): the same gradients for one more forward pass, about half the
        memory of a 1024 px inversion. None: on from ``RECOMPUTE_FROM_SIZE`` px."""
        self.recompute_activations = self.size >= RECOMPUTE_FROM_SIZE if on is None else on
        return self

    def _layer(self, layer: nn.Module, *args: Any, **kwargs: Any) -> Tensor:
        """``layer(*args, **kwargs)``, recomputed in backward with ``recompute_activations``."""
        if self.recompute_activations and torch.is_grad_enabled():
            return checkpoint(layer, *args, use_reentrant=False, **kwargs)
        return layer(*args, **kwargs)

    def mean_latent(self, n: int, rng: torch.Generator | None = None) -> Tensor:
        """Mean of w over ``n`` random z, shape (1, D) (the truncation centre)."""
        z = torch.randn(n, self.style_dim, generator=rng)
        return self.style(z.to(self.input.input.device)).mean(0, keepdim=True)

    def forward(
        self,
        styles: list[Tensor],
        return_latents: bool = False,
        inject_index: int | None = None,
        truncation: float = 1,
        truncation_latent: Tensor | None = None,
        input_is_latent: bool = False,
        noise: list[Tensor | None] | None = None,
        randomize_noise: bool = True,
        conditions: tuple[Tensor, Tensor] | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """Image (B, 3, size, size) and, with ``return_latents``, the W+ code (B, n_latent, D).

        ``styles``: one or two z (B, D), or with ``input_is_latent`` w (B, D) / W+ codes
        (B, n_latent, D). Two styles mix: indices < ``inject_index`` take the first.
        ``conditions``: HFGI's (scale, shift), each (B, C, r, r), fused as
        features * (1 + scale) + shift after the up-sampling conv of the r x r block (Wang et
        al. 2022, the consultation fusion; at 1024 px HFGI uses r = 64).
        """
        if isinstance(styles, Tensor):
            raise TypeError("styles must be a list of tensors, e.g. generator([z])")
        if not input_is_latent:
            styles = [self.style(s) for s in styles]
        if noise is None:
            noise = [None] * self.num_layers if randomize_noise else self.fixed_noise()
        elif len(noise) != self.num_layers:
            raise ValueError(f"noise must hold {self.num_layers} maps, got {len(noise)}")
        if truncation < 1:
            if truncation_latent is None:
                raise ValueError("truncation < 1 needs truncation_latent (e.g. mean_latent(4096))")
            styles = [truncate(s, truncation_latent, truncation) for s in styles]

        if len(styles) == 1:
            latent = to_w_plus(styles[0], self.n_latent)
        elif len(styles) == 2:
            if inject_index is None:
                inject_index = int(torch.randint(1, self.n_latent, ()))
            first, second = (to_w_plus(s, self.n_latent) for s in styles)
            latent = torch.cat([first[:, :inject_index], second[:, inject_index:]], dim=1)
        else:
            raise ValueError(f"styles must hold 1 or 2 codes, got {len(styles)}")

        fuse_at = None if conditions is None else conditions[0].shape[-1]
        if fuse_at is not None and fuse_at not in {2 ** (b + 3) for b in range(len(self.to_rgbs))}:
            raise ValueError(f"conditions of size {fuse_at} match no block of a {self.size} px G")
        last = len(self.to_rgbs)
        out, skip = self.synthesis_head(latent[:, : 2 * last + 1], last, noise, conditions)
        skip = self.synthesis_tail(out, skip, latent[:, 2 * last + 1 :], last, noise)
        return skip, (latent if return_latents else None)

    # ---- the synthesis network cut at a block (mGANprior's composing layer) -----------------
    # Block 0 is the 4 x 4 const + conv1; block b >= 1 is the up-sampling conv pair at
    # 4 * 2^b px. The head runs blocks 0..l without block l's to_rgb and takes W+ rows
    # 0..2l; the tail runs block l's to_rgb and blocks l+1.. with rows 2l+1..n_latent-1.

    def head_rows(self, block: int) -> int:
        """How many W+ rows ``synthesis_head`` up to ``block`` takes (2 * block + 1)."""
        if not 0 <= block <= len(self.to_rgbs):
            raise ValueError(f"block must lie in 0..{len(self.to_rgbs)}, got {block}")
        return 2 * block + 1

    def synthesis_head(
        self,
        latent: Tensor,
        block: int,
        noise: list[Tensor | None],
        conditions: tuple[Tensor, Tensor] | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """Features (B, C, r, r) after ``block``'s convs and the RGB skip of the blocks before
        it (None for block 0), from W+ rows ``latent`` (B, 2 * block + 1, D)."""
        if latent.shape[1] != self.head_rows(block):
            raise ValueError(f"the head up to block {block} takes {self.head_rows(block)} rows")
        out = self._layer(self.conv1, self.input(latent.shape[0]), latent[:, 0], noise=noise[0])
        skip = None
        for b in range(1, block + 1):
            i = 2 * b - 1
            to_rgb = self.to_rgb1 if b == 1 else self.to_rgbs[b - 2]
            skip = self._layer(to_rgb, out, latent[:, i], skip)
            out = self._layer(self.convs[2 * b - 2], out, latent[:, i], noise=noise[i])
            out = with_conditions(out, conditions)
            out = self._layer(self.convs[2 * b - 1], out, latent[:, i + 1], noise=noise[i + 1])
        return out, skip

    def synthesis_tail(
        self,
        out: Tensor,
        skip: Tensor | None,
        latent: Tensor,
        block: int,
        noise: list,
        conditions: tuple[Tensor, Tensor] | None = None,
    ) -> Tensor:
        """The image from ``synthesis_head``'s (features, skip) at ``block`` and the remaining
        W+ rows ``latent`` (B, n_latent - 2 * block - 1, D); ``conditions`` as in ``forward``,
        for a block after ``block``."""
        if latent.shape[1] != self.n_latent - self.head_rows(block):
            raise ValueError(
                f"the tail from block {block} takes {self.n_latent - self.head_rows(block)} rows"
            )
        to_rgb = self.to_rgb1 if block == 0 else self.to_rgbs[block - 1]
        skip = self._layer(to_rgb, out, latent[:, 0], skip)
        for b in range(block + 1, len(self.to_rgbs) + 1):
            i = 2 * b - 1
            j = i - self.head_rows(block)  # the same rows, counted in ``latent``
            out = self._layer(self.convs[2 * b - 2], out, latent[:, j], noise=noise[i])
            out = with_conditions(out, conditions)
            out = self._layer(self.convs[2 * b - 1], out, latent[:, j + 1], noise=noise[i + 1])
            skip = self._layer(self.to_rgbs[b - 1], out, latent[:, j + 2], skip)
        return skip

    def fixed_noise(self) -> list[Tensor]:
        """The fixed noise maps (``randomize_noise=False``), one per synthesis layer."""
        return [getattr(self.noises, f"noise_{j}") for j in range(self.num_layers)]


def with_conditions(features: Tensor, conditions: tuple[Tensor, Tensor] | None) -> Tensor:
    """HFGI's consultation fusion, features * (1 + scale) + shift, where the conditions'
    size is the features'; the features unchanged elsewhere or without conditions."""
    if conditions is None or conditions[0].shape[-1] != features.shape[-1]:
        return features
    scale, shift = conditions
    return features * (1 + scale) + shift


class ConvLayer(nn.Sequential):
    """[Blur ->] equalized conv [-> bias + leaky ReLU]; ``downsample`` makes the conv stride 2."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        downsample: bool = False,
        blur_kernel: Sequence[float] = (1, 3, 3, 1),
        bias: bool = True,
        activate: bool = True,
    ) -> None:
        layers: list[nn.Module] = []
        if downsample:
            p = (len(blur_kernel) - 2) + (kernel_size - 1)
            layers.append(Blur(blur_kernel, ((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(
            EqualConv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride=stride,
                padding=padding,
                bias=bias and not activate,
            )
        )
        if activate:
            layers.append(BiasedLeakyReLU(out_channels))
        super().__init__(*layers)


class ResBlock(nn.Module):
    """Residual down-sampling block: (conv3x3 -> down conv3x3 + down 1x1 skip) / sqrt(2)."""

    def __init__(
        self, in_channels: int, out_channels: int, blur_kernel: Sequence[float] = (1, 3, 3, 1)
    ) -> None:
        super().__init__()
        self.conv1 = ConvLayer(in_channels, in_channels, 3)
        self.conv2 = ConvLayer(
            in_channels, out_channels, 3, downsample=True, blur_kernel=blur_kernel
        )
        self.skip = ConvLayer(
            in_channels, out_channels, 1, downsample=True, bias=False, activate=False
        )

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, H, W) -> (B, C_out, H/2, W/2)."""
        return (self.conv2(self.conv1(x)) + self.skip(x)) / ACT_GAIN


class Discriminator(nn.Module):
    """Residual discriminator (Fig. 7c): image (B, 3, size, size) -> logit (B, 1).

    The minibatch-stddev layer (Karras et al. 2018, Sec. 3) appends one feature map: the mean
    std over groups of ``stddev_group`` samples; the batch must divide into such groups.
    """

    def __init__(
        self,
        size: int,
        channel_multiplier: int = 2,
        channels: dict | None = None,
        blur_kernel: Sequence[float] = (1, 3, 3, 1),
    ) -> None:
        super().__init__()
        log_size, self.channels = resolve_channels(size, channel_multiplier, channels)
        ch = self.channels
        blocks: list[nn.Module] = [ConvLayer(3, ch[size], 1)]
        in_channels = ch[size]
        for i in range(log_size, 2, -1):
            blocks.append(ResBlock(in_channels, ch[2 ** (i - 1)], blur_kernel))
            in_channels = ch[2 ** (i - 1)]
        self.convs = nn.Sequential(*blocks)
        self.stddev_group = 4
        self.stddev_feat = 1
        self.final_conv = ConvLayer(in_channels + 1, ch[4], 3)
        self.final_linear = nn.Sequential(
            EqualLinear(ch[4] * 4 * 4, ch[4], activate=True),
            EqualLinear(ch[4], 1),
        )

    def minibatch_stddev(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C + stddev_feat, H, W)."""
        b, c, h, w = x.shape
        group = min(b, self.stddev_group)
        if b % group:
            raise ValueError(f"batch size {b} is not a multiple of the stddev group size {group}")
        feat = self.stddev_feat
        # sample n = g * (B / G) + m belongs to group m
        y = x.view(group, b // group, feat, c // feat, h, w)
        std = torch.sqrt(y.var(dim=0, unbiased=False) + 1e-8)  # (B/G, F, C/F, H, W)
        std = std.mean(dim=(2, 3, 4)).view(b // group, feat, 1, 1)
        return torch.cat([x, std.repeat(group, 1, h, w)], dim=1)

    def forward(self, x: Tensor) -> Tensor:
        out = self.minibatch_stddev(self.convs(x))  # (B, C_4 + 1, 4, 4)
        out = self.final_conv(out)
        return self.final_linear(out.flatten(1))


def to_w_plus(w: Tensor, n_latent: int) -> Tensor:
    """w (B, D) repeated to W+ (B, n_latent, D); a W+ code is returned as is."""
    if w.ndim == 3:
        if w.shape[1] != n_latent:
            raise ValueError(f"W+ code has {w.shape[1]} layers, the generator needs {n_latent}")
        return w
    if w.ndim != 2:
        raise ValueError(f"expected w (B, D) or W+ (B, n_latent, D), got shape {tuple(w.shape)}")
    return w.unsqueeze(1).repeat(1, n_latent, 1)


def truncate(w: Tensor, latent_avg: Tensor, psi: float) -> Tensor:
    """Truncation trick: avg + psi * (w - avg), for w (B, D) or W+ (B, n_latent, D).

    psi = 1 returns ``w`` itself (the formula would round).
    """
    if psi == 1:
        return w
    return latent_avg + psi * (w - latent_avg)


def sample_w(
    generator: Generator,
    n: int,
    truncation: float = 1,
    truncation_latent: Tensor | None = None,
    rng: torch.Generator | None = None,
) -> Tensor:
    """``n`` w codes (n, D): z ~ N(0, I) drawn with ``rng`` through the mapping, truncated."""
    z = torch.randn(n, generator.style_dim, generator=rng)
    w = generator.get_latent(z.to(generator.input.input.device))
    if truncation < 1:
        if truncation_latent is None:
            raise ValueError("truncation < 1 needs truncation_latent (e.g. mean_latent(4096))")
        w = truncate(w, truncation_latent, truncation)
    return w


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation along the last dim; a, b (..., D), t (T,) -> (T, ..., D)."""
    cos = F.cosine_similarity(a, b, dim=-1).clamp(-1, 1).unsqueeze(-1)  # (..., 1)
    omega = torch.acos(cos)
    t = t.view(-1, *([1] * a.ndim))
    sin = torch.sin(omega)
    on_arc = sin.abs() > 1e-6  # (anti)parallel codes have no defined arc: lerp those
    arc = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.where(on_arc, sin, 1)
    return torch.where(on_arc, arc, torch.lerp(a, b, t))


def interpolate_latents(a: Tensor, b: Tensor, steps: int, space: str = "w") -> Tensor:
    """``steps`` codes from a to b (both (..., D)) -> (steps, ..., D).

    Slerp in z (Gaussian samples live near a sphere), lerp in w (Karras et al. 2019, Sec. 4.1).
    """
    if a.shape != b.shape:
        raise ValueError(f"endpoints differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    t = torch.linspace(0, 1, steps, dtype=a.dtype, device=a.device)
    if space == "z":
        return slerp(a, b, t)
    if space == "w":
        return torch.lerp(a, b, t.view(-1, *([1] * a.ndim)))
    raise ValueError(f"unknown latent space {space!r}; valid: 'w', 'z'")


def fit_to_input(images: Tensor, like: Tensor, mode: str = "pool") -> Tensor:
    """The generator's square output brought to the input images' (H, W): average-pooled
    (``mode="pool"``) or bilinearly resized to W x W, then the middle H rows (pSp / HFGI
    pool 1024 px faces to 256; cars' 512 x 512 to 256 x 256, rows 32:224)."""
    height, width = like.shape[-2:]
    if images.shape[-1] != width:
        square = (width, width)
        if mode == "pool":
            images = F.adaptive_avg_pool2d(images, square)
        else:
            images = F.interpolate(images, size=square, mode="bilinear")
    top = (images.shape[-2] - height) // 2
    return images[..., top : top + height, :]


def infer_config(state: dict[str, Tensor]) -> dict:
    """Generator arguments read off a rosinality-layout state_dict's key names and shapes."""
    try:
        n_rgb = len({k.split(".")[1] for k in state if k.startswith("to_rgbs.")})
        n_mlp = sum(1 for k in state if k.startswith("style.") and k.endswith(".weight"))
        channels = {4: state["input.input"].shape[1]}
        for b in range(n_rgb):
            channels[2 ** (b + 3)] = state[f"convs.{2 * b}.conv.weight"].shape[1]
        return {
            "size": 2 ** (n_rgb + 2),
            "style_dim": state["style.1.weight"].shape[1],
            "n_mlp": n_mlp,
            "channels": channels,
        }
    except (KeyError, IndexError) as err:
        raise CheckpointError(
            f"cannot infer the StyleGAN2 config from the checkpoint: key {err} is missing or "
            "malformed; pass size, style_dim, n_mlp and channels to load_stylegan2"
        ) from err


def check_state_dict(model: nn.Module, state: dict[str, Tensor], source: str) -> None:
    """Raise one CheckpointError naming every missing, unexpected and mis-shaped key."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or mismatched:
        parts = [f"{source} does not fit the StyleGAN2 generator"]
        if missing:
            parts.append(f"missing keys: {', '.join(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {', '.join(unexpected)}")
        if mismatched:
            parts.append(f"wrong shapes: {'; '.join(mismatched)}")
        parts.append("check size/style_dim/n_mlp/channels against the file")
        raise CheckpointError("\n  ".join(parts))


def load_stylegan2(path: str | Path, **config_overrides) -> tuple[Generator, Tensor]:
    """A Generator with a rosinality-layout checkpoint's ``g_ema`` weights, and latent_avg (D,).

    The config comes from the file's ``config`` entry if present, else from the key shapes
    (lr_mlp defaults to 0.01); ``config_overrides`` win. Without a stored ``latent_avg`` the
    mean of 4096 mapped z (seed 0) is used.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(f"StyleGAN2 checkpoint not found: {path}. {WEIGHTS_HINT}")
    ckpt = load_tensor_file(path, "StyleGAN2 checkpoint")
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path} holds a {type(ckpt).__name__}, not a checkpoint dict")
    if "g_ema" in ckpt:
        state = ckpt["g_ema"]
    elif all(isinstance(v, Tensor) for v in ckpt.values()):
        state = ckpt
    else:
        raise CheckpointError(
            f"{path} has neither a 'g_ema' entry nor a bare state_dict; top-level keys: "
            f"{', '.join(map(str, ckpt))}"
        )
    config = dict(ckpt["config"]) if isinstance(ckpt.get("config"), dict) else infer_config(state)
    config.update(config_overrides)
    generator = Generator(**config)
    check_state_dict(generator, state, str(path))
    generator.load_state_dict(state)
    if isinstance(ckpt.get("latent_avg"), Tensor):
        latent_avg = ckpt["latent_avg"].float().reshape(-1)
        if latent_avg.numel() != generator.style_dim:
            raise CheckpointError(
                f"{path}: latent_avg has {latent_avg.numel()} numbers, "
                f"style_dim is {generator.style_dim}"
            )
    else:
        latent_avg = generator.mean_latent(4096, rng=torch.Generator().manual_seed(0))[0]
    return generator, latent_avg
