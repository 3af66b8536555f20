"""UNIT's nets (Liu, Breuel & Kautz, "Unsupervised Image-to-Image Translation Networks", NIPS
2017; the shared-weight layout of the authors' first code, ``COCOResGen2``): per domain an
encoder and a decoder whose high-level encoder layer and low-level decoder layer are shared
between the domains, so both domains' images meet in one latent space.

- encoders (one per domain): ``ganlab.nets.cyclegan.ResidualEncoder`` (conv7, ``n_down``
  stride-2 conv4 layers doubling the width, its private residual blocks).
- shared encoder / shared decoder: one residual block each (``shared_residual_block``).
- ``UNITDecoder`` (one per domain): ``n_private`` residual blocks, ``n_down`` x (nearest
  upsampling x2, conv5, instance norm, ReLU) halving the width, conv7 -> channels, tanh.
Residual blocks are CycleGAN's (reflection padding, instance norm).
"""

from torch import Tensor, nn

from ganlab.nets.cyclegan import ResidualBlock, norm


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
