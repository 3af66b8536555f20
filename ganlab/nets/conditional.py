"""A class-conditional critic around any DCGAN-style discriminator (``features``/``score``):

- ``concat`` (Mirza & Osindero 2014): the one-hot class y as K constant channels appended to
  the image, read by a body built with C + K input channels;
- ``projection`` (Miyato & Koyama 2018, eq. 3): D(x, y) = psi(phi(x)) + embed(y) . phi(x),
  phi(x) the body's features summed over positions, embed a learned class embedding.

y is a class id (B,) or a vector of K binary attributes (B, K) (IcGAN's conditioning); an
attribute vector's embedding is the sum of its attributes' embeddings.
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

CONDITIONINGS = ("concat", "projection")


def condition_vectors(labels: Tensor, n_classes: int) -> Tensor:
    """(B,) class ids -> (B, K) one-hot; (B, K) attribute vectors (IcGAN's y) pass as floats."""
    if labels.dim() == 2:
        if labels.shape[1] != n_classes:
            raise ValueError(f"expected {n_classes} attributes per image, got {labels.shape[1]}")
        return labels.float()
    return F.one_hot(labels.long(), n_classes).float()


def label_maps(labels: Tensor, n_classes: int, size: tuple[int, int]) -> Tensor:
    """(B,) class ids or (B, K) attributes -> (B, K, H, W): each map constant at y_k."""
    return condition_vectors(labels, n_classes)[:, :, None, None].expand(-1, -1, *size)


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
        self.net.input_noise.channels = channels  # instance noise: on the image, not on y
        self.feature_channels = self.net.feature_channels
        if conditioning == "projection":
            self.embed = nn.Embedding(n_classes, self.feature_channels)
            nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def add_minibatch_discrimination(self, kernels: int, kernel_dim: int) -> None:
        self.net.add_minibatch_discrimination(kernels, kernel_dim)

    def features(self, image: Tensor, labels: Tensor) -> Tensor:
        """The body's last maps for (image, class) pairs (for feature matching)."""
        if self.conditioning == "concat":
            maps = label_maps(labels, self.n_classes, image.shape[-2:]).to(image)
            return self.net.features(torch.cat([image, maps], 1))
        return self.net.features(image)

    def forward(self, image: Tensor, labels: Tensor) -> Tensor:
        """One raw score per (image, class) pair, (B,)."""
        if self.conditioning == "concat":
            return self.net.score(self.features(image, labels))
        features = self.net.features(image)
        embedded = condition_vectors(labels, self.n_classes).to(features) @ self.embed.weight
        projection = (embedded * features.sum((2, 3))).sum(1)
        return self.net.score(features) + projection
