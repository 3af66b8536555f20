"""UNIT's nets (Liu, Breuel & Kautz, "Unsupervised Image-to-Image Translation Networks", NIPS
2017; the shared-weight layout of the authors' first code, ``COCOResGen2``): per domain an
encoder and a decoder whose high-level encoder layer and low-level decoder layer are shared
between the domains, so both domains' images meet in one latent space.

- encoders (one per domain): ``ganlab.nets.cyclegan.ResidualEncoder`` (conv7, ``n_down``
  stride-2 conv4 layers doubling the width, its private residual blocks).
- shared encoder / shared decoder: one residual block each (``shared_residual_block``).
- ``UNITDecoder`` (one per domain): ``n_private`` residual blocks, ``n_down`` x (nearest
  upsampling x2, conv5, instance norm, ReLU) halving the width, conv7 -> channels, tanh.
- ``DomainDiscriminator`` (domain adaptation, the paper's Sec. 5): CycleGAN's PatchGAN split
  into low-level layers private to a domain and high-level layers, a real/fake head and a
  class head that both domains' discriminators share (``share_high_level_layers``).
Residual blocks are CycleGAN's (reflection padding, instance norm).
"""

from torch import Tensor, nn

from ganlab.errors import ConfigError
from ganlab.nets.cyclegan import ResidualBlock, norm, patch_blocks


def shared_residual_block(channels: int) -> ResidualBlock:
    """The layer both domains share (the encoders' last, or the decoders' first)."""
    return ResidualBlock(channels)


class UNITDecoder(nn.Module):
    def __init__(
        self, channels: int = 3, width: int = 64, n_down: int = 2, n_private: int = 3
    ) -> None:
        super().__init__()
        current = width * 2**n_down
        layers: list[nn.Module] = [ResidualBlock(current) for _ in range(n_private)]
        for _ in range(n_down):
            layers += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(current, current // 2, 5, 1, 2),
                norm(current // 2),
                nn.ReLU(inplace=True),
            ]
            current //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(current, channels, 7), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, latent: Tensor) -> Tensor:
        return self.body(latent)


class DomainDiscriminator(nn.Module):
    """CycleGAN's PatchGAN discriminator (``patch_blocks``) whose last ``n_shared`` blocks are
    its high-level layers; the real/fake head (conv4 -> 1 channel, one score per patch) and
    the class head (global average, linear -> ``n_classes`` logits) read their features.
    After ``share_high_level_layers`` two domains' discriminators hold one copy of them."""

    def __init__(
        self,
        channels: int = 3,
        width: int = 64,
        n_layers: int = 3,
        n_shared: int = 2,
        n_classes: int = 10,
    ) -> None:
        super().__init__()
        if not 1 <= n_shared <= n_layers:
            raise ConfigError(f"n_shared is between 1 and n_layers={n_layers}, got {n_shared}")
        blocks = [nn.Sequential(*block) for block in patch_blocks(channels, width, n_layers)]
        current = blocks[-1][0].out_channels
        self.n_classes = n_classes
        self.low = nn.Sequential(*blocks[: len(blocks) - n_shared])
        self.high = nn.Sequential(*blocks[len(blocks) - n_shared :])
        self.real_fake = nn.Conv2d(current, 1, 4, 1, 1)
        self.classes = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(current, n_classes)
        )

    def features(self, images: Tensor) -> Tensor:
        """The high-level layers' maps (B, C, h, w): what the two heads read."""
        return self.high(self.low(images))

    def forward(self, images: Tensor) -> Tensor:
        """(B, 1, h, w) real/fake scores, one per overlapping patch."""
        return self.real_fake(self.features(images))

    def classify(self, images: Tensor) -> Tensor:
        """(B, n_classes) class logits."""
        return self.classes(self.features(images))

    def share_high_level_layers(self, other: "DomainDiscriminator") -> None:
        """Use ``other``'s high-level layers and heads from now on (one copy, two users)."""
        if len(self.high) != len(other.high) or self.n_classes != other.n_classes:
            raise ConfigError(
                "the two domains' discriminators must agree on n_shared and n_classes to "
                f"share layers: {len(self.high)}/{self.n_classes} vs "
                f"{len(other.high)}/{other.n_classes}"
            )
        self.high, self.real_fake, self.classes = other.high, other.real_fake, other.classes
