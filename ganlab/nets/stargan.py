"""StarGAN-style nets for multi-domain attribute translation (Choi et al., "StarGAN", CVPR 2018),
shared by ``model=stargan`` and ``model=init``.

- ``AttributeTranslator`` G(x, a): the attribute vector a (B, K) replicated into K constant
  maps and concatenated to the image; conv7 -> ``n_down`` stride-2 convs -> ``n_residual``
  residual blocks -> ``n_down`` transposed convs -> conv7 -> tanh. Instance norm with affine
  parameters and no biases, as StarGAN's G. Ours: no running statistics
  (``track_running_stats=False``), so eval() normalises each image by its own statistics
  as in training (StarGAN's running statistics make eval outputs differ, its issue #140).
- ``PatchTrunk``: ``n_layers`` conv4 stride-2 layers with LeakyReLU(0.01) and no
  normalisation (StarGAN's D), widths doubling from ``width``.
- ``StarGANDiscriminator``: the trunk with StarGAN's two heads: a conv3 patch map of
  real/fake scores and a conv over the whole remaining map to K attribute logits.
- ``ConditionalPatchDiscriminator`` D(x, a) of INIT, a conv3 patch map of logits over the
  trunk. ``conditioning="concat"`` (the paper's, sec. 3: "the inputs of G and D are the
  concatenation of an image and an attribute vector", spatially replicated): the trunk reads
  the image with the K attribute maps as extra channels. ``"projection"`` (ours, the
  pre-change default; Miyato & Koyama 2018): the trunk reads the image alone and each patch
  scores conv3(h) + <h, W a>.
"""

import torch
from torch import Tensor, nn


def attribute_maps(attributes: Tensor, size: tuple[int, int]) -> Tensor:
    """(B, K) attribute vectors -> (B, K, H, W), map k constant at a_k."""
    return attributes[:, :, None, None].expand(-1, -1, *size)


class ResidualBlock(nn.Module):
    """x + IN(conv3(ReLU(IN(conv3(x))))) at constant width (StarGAN's bottleneck block)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
            instance_norm(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
            instance_norm(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def instance_norm(channels: int) -> nn.InstanceNorm2d:
    return nn.InstanceNorm2d(channels, affine=True, track_running_stats=False)


class AttributeTranslator(nn.Module):
    def __init__(
        self,
        n_attributes: int,
        channels: int = 3,
        width: int = 64,
        n_down: int = 2,
        n_residual: int = 6,
    ) -> None:
        super().__init__()
        self.n_attributes = n_attributes
        layers: list[nn.Module] = [
            nn.Conv2d(channels + n_attributes, width, 7, 1, 3, bias=False),
            instance_norm(width),
            nn.ReLU(inplace=True),
        ]
        current = width
        for _ in range(n_down):
            layers += [
                nn.Conv2d(current, current * 2, 4, 2, 1, bias=False),
                instance_norm(current * 2),
                nn.ReLU(inplace=True),
            ]
            current *= 2
        layers += [ResidualBlock(current) for _ in range(n_residual)]
        for _ in range(n_down):
            layers += [
                nn.ConvTranspose2d(current, current // 2, 4, 2, 1, bias=False),
                instance_norm(current // 2),
                nn.ReLU(inplace=True),
            ]
            current //= 2
        layers += [nn.Conv2d(current, channels, 7, 1, 3, bias=False), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, images: Tensor, attributes: Tensor) -> Tensor:
        """(B, C, H, W) images in [-1, 1], (B, K) target attributes -> (B, C, H, W)."""
        if attributes.shape[1] != self.n_attributes:
            raise ValueError(
                f"the translator takes {self.n_attributes} attributes, got {attributes.shape[1]}"
            )
        maps = attribute_maps(attributes.to(images), images.shape[-2:])
        return self.body(torch.cat([images, maps], 1))


class PatchTrunk(nn.Sequential):
    """(B, C, S, S) -> (B, width * 2^(n_layers-1), S / 2^n_layers, S / 2^n_layers)."""

    def __init__(self, channels: int, width: int, n_layers: int) -> None:
        layers: list[nn.Module] = []
        current, out = channels, width
        for _ in range(n_layers):
            layers += [nn.Conv2d(current, out, 4, 2, 1), nn.LeakyReLU(0.01)]
            current, out = out, out * 2
        super().__init__(*layers)
        self.out_channels = current


def check_patch_size(size: int, n_layers: int) -> int:
    """The side of the trunk's output map, refusing sizes it does not divide."""
    if size % 2**n_layers:
        raise ValueError(f"image size {size} is not divisible by 2^{n_layers} (n_layers)")
    return size // 2**n_layers


class StarGANDiscriminator(nn.Module):
    def __init__(
        self,
        n_attributes: int,
        size: int = 128,
        channels: int = 3,
        width: int = 64,
        n_layers: int = 6,
    ) -> None:
        super().__init__()
        final = check_patch_size(size, n_layers)
        self.trunk = PatchTrunk(channels, width, n_layers)
        self.source_head = nn.Conv2d(self.trunk.out_channels, 1, 3, 1, 1, bias=False)
        self.class_head = nn.Conv2d(self.trunk.out_channels, n_attributes, final, bias=False)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """(patch scores (B, 1, h, w), attribute logits (B, K))."""
        h = self.trunk(images)
        return self.source_head(h), self.class_head(h).flatten(1)


CONDITIONINGS = ("concat", "projection")


class ConditionalPatchDiscriminator(nn.Module):
    def __init__(
        self,
        n_attributes: int,
        size: int = 128,
        channels: int = 3,
        width: int = 64,
        n_layers: int = 6,
        conditioning: str = "concat",
    ) -> None:
        super().__init__()
        if conditioning not in CONDITIONINGS:
            raise ValueError(
                f"conditioning must be 'concat' (the paper's: attribute maps as input channels) "
                f"or 'projection' (ours: <h, W a> per patch), got {conditioning!r}"
            )
        check_patch_size(size, n_layers)
        self.n_attributes, self.conditioning = n_attributes, conditioning
        concat = conditioning == "concat"
        in_channels = channels + (n_attributes if concat else 0)
        self.trunk = PatchTrunk(in_channels, width, n_layers)
        self.source_head = nn.Conv2d(self.trunk.out_channels, 1, 3, 1, 1)
        if not concat:
            self.attribute_embedding = nn.Linear(n_attributes, self.trunk.out_channels, bias=False)

    def forward(self, images: Tensor, attributes: Tensor) -> Tensor:
        """(B, C, S, S) images, (B, K) attributes -> (B, 1, h, w) patch logits of D(x, a)."""
        if attributes.shape[1] != self.n_attributes:
            raise ValueError(
                f"the discriminator takes {self.n_attributes} attributes, got {attributes.shape[1]}"
            )
        attributes = attributes.to(images)
        if self.conditioning == "concat":
            maps = attribute_maps(attributes, images.shape[-2:])
            return self.source_head(self.trunk(torch.cat([images, maps], 1)))
        h = self.trunk(images)
        projection = (h * self.attribute_embedding(attributes)[:, :, None, None]).sum(1)
        return self.source_head(h) + projection[:, None]


class AttributeReader(nn.Module):
    """x -> (B, K) attribute logits: the trunk and StarGAN's classification head alone. INIT's
    discriminator does not classify, so INIT trains this beside it to read a user's image's
    own attributes at ``task=translate`` (it takes no part in the game)."""

    def __init__(
        self,
        n_attributes: int,
        size: int = 128,
        channels: int = 3,
        width: int = 32,
        n_layers: int = 5,
    ) -> None:
        super().__init__()
        final = check_patch_size(size, n_layers)
        self.trunk = PatchTrunk(channels, width, n_layers)
        self.class_head = nn.Conv2d(self.trunk.out_channels, n_attributes, final)

    def forward(self, images: Tensor) -> Tensor:
        return self.class_head(self.trunk(images)).flatten(1)
