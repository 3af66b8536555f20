"""AttGAN nets (He et al., "AttGAN: Facial Attribute Editing by Only Changing What You Want",
TIP 2019), after the PyTorch port's layout (elvisyjlin/AttGAN-PyTorch).

- ``AttGANGenerator`` G(x, b): an encoder of ``n_layers`` conv4 stride-2 layers (BatchNorm,
  LeakyReLU 0.2), widths doubling from ``width`` up to ``max_width``; the attribute code
  tiled over the bottleneck map and concatenated to it; a decoder of transposed conv4
  stride-2 layers (BatchNorm, ReLU; the last one to the image channels with tanh). The
  first ``shortcut_layers`` decoder outputs are concatenated with the encoder map of the
  same size (1 in the paper's default model).
- ``AttGANDiscriminator``: ``n_layers`` conv4 stride-2 layers with instance norm and
  LeakyReLU 0.2, then two fully connected heads on the flattened map: an adversarial score
  (fc_dim -> 1) and K attribute logits (fc_dim -> K).
"""

import torch
from torch import Tensor, nn

from ganlab.nets.stargan import attribute_maps, check_patch_size


def widths(width: int, n_layers: int, max_width: int) -> list[int]:
    return [min(width * 2**i, max_width) for i in range(n_layers)]


class AttGANGenerator(nn.Module):
    def __init__(
        self,
        n_attributes: int,
        channels: int = 3,
        width: int = 64,
        max_width: int = 1024,
        n_layers: int = 5,
        shortcut_layers: int = 1,
    ) -> None:
        super().__init__()
        if not 0 <= shortcut_layers < n_layers:
            raise ValueError(
                f"shortcut_layers must be in [0, {n_layers - 1}], got {shortcut_layers}"
            )
        self.n_attributes, self.shortcut_layers = n_attributes, shortcut_layers
        sizes = widths(width, n_layers, max_width)
        self.encoder = nn.ModuleList()
        current = channels
        for out in sizes:
            self.encoder.append(
                nn.Sequential(
                    nn.Conv2d(current, out, 4, 2, 1, bias=False),
                    nn.BatchNorm2d(out),
                    nn.LeakyReLU(0.2, inplace=True),
                )
            )
            current = out
        self.decoder = nn.ModuleList()
        current = sizes[-1] + n_attributes
        for i in range(n_layers - 1):
            out = sizes[-2 - i]
            self.decoder.append(
                nn.Sequential(
                    nn.ConvTranspose2d(current, out, 4, 2, 1, bias=False),
                    nn.BatchNorm2d(out),
                    nn.ReLU(inplace=True),
                )
            )
            current = out * 2 if i < shortcut_layers else out
        self.decoder.append(
            nn.Sequential(nn.ConvTranspose2d(current, channels, 4, 2, 1), nn.Tanh())
        )

    def encode(self, images: Tensor) -> list[Tensor]:
        """The encoder's maps, finest first (the last one is the bottleneck)."""
        maps, h = [], images
        for layer in self.encoder:
            h = layer(h)
            maps.append(h)
        return maps

    def decode(self, maps: list[Tensor], code: Tensor) -> Tensor:
        h = torch.cat([maps[-1], attribute_maps(code.to(maps[-1]), maps[-1].shape[-2:])], 1)
        for i, layer in enumerate(self.decoder):
            h = layer(h)
            if i < self.shortcut_layers:
                h = torch.cat([h, maps[-2 - i]], 1)
        return h

    def forward(self, images: Tensor, code: Tensor) -> Tensor:
        """(B, C, H, W) images, (B, K) attribute code (+-0.5 in AttGAN) -> (B, C, H, W)."""
        if code.shape[1] != self.n_attributes:
            raise ValueError(
                f"the generator takes {self.n_attributes} attributes, got {code.shape[1]}"
            )
        return self.decode(self.encode(images), code)


class AttGANDiscriminator(nn.Module):
    def __init__(
        self,
        n_attributes: int,
        size: int = 128,
        channels: int = 3,
        width: int = 64,
        max_width: int = 1024,
        n_layers: int = 5,
        fc_dim: int = 1024,
    ) -> None:
        super().__init__()
        final = check_patch_size(size, n_layers)
        layers: list[nn.Module] = []
        current = channels
        for out in widths(width, n_layers, max_width):
            layers += [
                nn.Conv2d(current, out, 4, 2, 1),
                nn.InstanceNorm2d(out, affine=True),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            current = out
        self.trunk = nn.Sequential(*layers, nn.Flatten())
        flat = current * final * final
        self.adversarial_head = nn.Sequential(
            nn.Linear(flat, fc_dim), nn.LeakyReLU(0.2, inplace=True), nn.Linear(fc_dim, 1)
        )
        self.class_head = nn.Sequential(
            nn.Linear(flat, fc_dim),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(fc_dim, n_attributes),
        )

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """(adversarial scores (B, 1), attribute logits (B, K))."""
        h = self.trunk(images)
        return self.adversarial_head(h), self.class_head(h)
