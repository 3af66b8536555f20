"""A class-conditional critic around any DCGAN-style discriminator (``features``/``score``):

- ``concat`` (Mirza & Osindero 2014): the one-hot class y as K constant channels appended to
  the image, read by a body built with C + K input channels;
- ``projection`` (Miyato & Koyama 2018, eq. 3): D(x, y) = psi(phi(x)) + embed(y) . phi(x),
  phi(x) the body's features summed over positions, embed a learned class embedding.
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

CONDITIONINGS = ("concat", "projection")


def label_maps(labels: Tensor, n_classes: int, size: tuple[int, int]) -> Tensor:
    """(B,) class ids -> (B, K, H, W): channel y is all ones, the others zero."""
    one_hot = F.one_hot(labels.long(), n_classes).float()
    return one_hot[:, :, None, None].expand(-1, -1, *size)


class ConditionalCritic(nn.Module):
    def __init__(
        self,
        body: Callable[..., nn.Module],
        channels: int,
        n_classes: int,
        conditioning: str = "projection",
    ) -> None:
        super().__init__()
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"conditioning must be one of {CONDITIONINGS}, got {conditioning!r}")
        self.n_classes, self.conditioning = n_classes, conditioning
        extra = n_classes if conditioning == "concat" else 0
        self.net = body(channels=channels + extra)
        self.feature_channels = self.net.feature_channels
        if conditioning == "projection":
            self.embed = nn.Embedding(n_classes, self.feature_channels)
            nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, image: Tensor, labels: Tensor) -> Tensor:
        """One raw score per (image, class) pair, (B,)."""
        if self.conditioning == "concat":
            maps = label_maps(labels, self.n_classes, image.shape[-2:]).to(image)
            return self.net(torch.cat([image, maps], 1))
        features = self.net.features(image)
        projection = (self.embed(labels.long()) * features.sum((2, 3))).sum(1)
        return self.net.score(features) + projection
