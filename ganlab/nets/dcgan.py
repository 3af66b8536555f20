"""DCGAN generator and discriminator/critic (Radford et al. 2016, Sec. 3 and Fig. 1).

Both nets work at any power-of-two size from 16 px (32 and 64 px are the configured ones),
with 1 or 3 image channels. Each resolution step is a stride-2 (transposed) 4x4 convolution;
the normalisation is configurable because WGAN-GP's critic must not use BatchNorm
(Gulrajani et al. 2017, Sec. 4), which makes the penalty's per-sample gradients depend on
the rest of the batch.
"""

import math

import torch
from torch import Tensor, nn

from ganlab.nets.tricks import InstanceNoise, MinibatchDiscrimination

NORMS = ("batch", "instance", "layer", "none")


def make_norm(kind: str, channels: int) -> nn.Module:
    """A normalisation layer over ``channels`` feature maps, chosen by name from ``NORMS``."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown normalisation {kind!r}; valid: {', '.join(NORMS)}")


def resolution_steps(size: int) -> int:
    """How many x2 steps lead from the 4x4 base to ``size`` (size must be a power of two >= 16)."""
    steps = math.log2(size) - 2 if size > 0 else -1
    if steps < 2 or not float(steps).is_integer():
        raise ValueError(f"DCGAN nets need a power-of-two image size >= 16, got {size}")
    return int(steps)


class DCGANGenerator(nn.Module):
    """z (B, latent_dim) -> image (B, channels, size, size) in [-1, 1]."""

    def __init__(
        self,
        latent_dim: int = 100,
        size: int = 32,
        channels: int = 1,
        width: int = 64,
        norm: str = "batch",
    ) -> None:
        super().__init__()
        steps = resolution_steps(size)
        self.latent_dim = latent_dim
        widths = [width * 2 ** (steps - 1 - i) for i in range(steps)]  # e.g. 256, 128, 64
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, widths[0], 4, 1, 0, bias=False),  # 1x1 -> 4x4
            make_norm(norm, widths[0]),
            nn.ReLU(inplace=True),
        ]
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [
                nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),
                make_norm(norm, c_out),
                nn.ReLU(inplace=True),
            ]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_dcgan_weights(self)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z.view(z.shape[0], self.latent_dim, 1, 1))


class DCGANDiscriminator(nn.Module):
    """image (B, channels, size, size) -> one raw score per image, shape (B,).

    The score is a logit for the GAN games and an unbounded critic value for WGAN.
    ``features`` exposes the body's (B, feature_channels, 4, 4) maps for heads that share
    it (InfoGAN's Q head) and for feature matching. ``input_noise`` (identity unless its std
    is set: instance noise) perturbs the image first; ``minibatch_kernels`` (or
    ``add_minibatch_discrimination``) puts Salimans et al.'s minibatch layer between the
    features and the score.
    """

    def __init__(
        self,
        size: int = 32,
        channels: int = 1,
        width: int = 64,
        norm: str = "batch",
        minibatch_kernels: int = 0,
        minibatch_kernel_dim: int = 5,
    ) -> None:
        super().__init__()
        steps = resolution_steps(size)
        widths = [width * 2**i for i in range(steps)]  # e.g. 64, 128, 256
        layers: list[nn.Module] = [
            nn.Conv2d(channels, widths[0], 4, 2, 1),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [
                nn.Conv2d(c_in, c_out, 4, 2, 1, bias=norm == "none"),
                make_norm(norm, c_out),
                nn.LeakyReLU(0.2, inplace=True),
            ]
        self.feature_channels = widths[-1]
        self.input_noise = InstanceNoise()
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(widths[-1], 1, 4, 1, 0)  # 4x4 -> 1x1
        self.minibatch: MinibatchDiscrimination | None = None
        init_dcgan_weights(self)
        if minibatch_kernels:
            self.add_minibatch_discrimination(minibatch_kernels, minibatch_kernel_dim)

    def add_minibatch_discrimination(self, kernels: int, kernel_dim: int) -> None:
        """Score [features, o(features)]: the B closeness values as constant 4x4 maps beside
        the features, read by a new head (Salimans et al. 2016, sec. 3.2)."""
        if self.minibatch is not None:
            raise ValueError(
                "the critic has a minibatch layer already (its minibatch_kernels); "
                "set tricks.minibatch_discrimination=0"
            )
        flat = self.feature_channels * 16
        self.minibatch = MinibatchDiscrimination(flat, kernels, kernel_dim)
        self.head = nn.Conv2d(self.feature_channels + kernels, 1, 4, 1, 0)
        init_dcgan_weights(self.head)

    def features(self, image: Tensor) -> Tensor:
        return self.body(self.input_noise(image))

    def score(self, features: Tensor) -> Tensor:
        if self.minibatch is not None:
            closeness = self.minibatch(features)[:, :, None, None]
            features = torch.cat([features, closeness.expand(-1, -1, *features.shape[-2:])], 1)
        return self.head(features).flatten()

    def forward(self, image: Tensor) -> Tensor:
        return self.score(self.features(image))


class DCGANEncoder(nn.Module):
    """image (B, channels, size, size) -> z (B, latent_dim): the discriminator's body with a
    4x4 convolution to the latent (BiGAN's E, a DCGAN discriminator with a latent output)."""

    def __init__(
        self,
        latent_dim: int = 100,
        size: int = 32,
        channels: int = 1,
        width: int = 64,
        norm: str = "batch",
    ) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.config = dict(
            latent_dim=latent_dim, size=size, channels=channels, width=width, norm=norm
        )
        body = DCGANDiscriminator(size, channels, width, norm)
        self.body = body.body
        self.head = nn.Conv2d(body.feature_channels, latent_dim, 4, 1, 0)
        init_dcgan_weights(self)

    def forward(self, image: Tensor) -> Tensor:
        return self.head(self.body(image)).flatten(1)


class JointCritic(nn.Module):
    """(image, z) -> one raw score per pair, (B,): BiGAN's D(x, z). The image passes a DCGAN
    discriminator body, z a linear layer; their concatenation an MLP (Donahue et al. 2017)."""

    def __init__(
        self,
        latent_dim: int = 100,
        size: int = 32,
        channels: int = 1,
        width: int = 64,
        norm: str = "batch",
        hidden: int = 512,
    ) -> None:
        super().__init__()
        body = DCGANDiscriminator(size, channels, width, norm)
        self.input_noise = InstanceNoise()
        self.body, flat = body.body, body.feature_channels * 16
        self.latent = nn.Sequential(nn.Linear(latent_dim, hidden), nn.LeakyReLU(0.2))
        self.joint = nn.Sequential(
            nn.Linear(flat + hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1)
        )
        init_dcgan_weights(self)

    def forward(self, image: Tensor, latent: Tensor) -> Tensor:
        features = self.body(self.input_noise(image)).flatten(1)
        return self.joint(torch.cat([features, self.latent(latent)], 1)).flatten()


@torch.no_grad()
def init_dcgan_weights(module: nn.Module) -> None:
    """N(0, 0.02) convolutions, N(1, 0.02) norm scales, zero biases (Radford et al., Sec. 4)."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(layer.weight, 0.0, 0.02)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d | nn.GroupNorm | nn.InstanceNorm2d) and layer.affine:
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)
