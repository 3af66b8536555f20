"""Heads that sit on a shared discriminator body."""

from torch import Tensor, nn


class InfoGANQHead(nn.Module):
    """Body features (B, C, 4, 4) -> categorical logits (B, K) and continuous means (B, L).

    Chen et al. 2016, Sec. 6 / App. C: Q shares all conv layers with D and adds one
    fully-connected layer (128 units, BN, LeakyReLU) before the code parameters.
    """

    def __init__(
        self,
        in_channels: int,
        n_categories: int = 10,
        n_continuous: int = 2,
        hidden: int = 128,
        norm: str = "batch",
    ) -> None:
        super().__init__()
        norms = {"batch": nn.BatchNorm1d, "layer": nn.LayerNorm, "none": lambda _: nn.Identity()}
        if norm not in norms:
            raise ValueError(f"unknown normalisation {norm!r}; valid: {', '.join(norms)}")
        self.n_categories, self.n_continuous = n_categories, n_continuous
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 4, 1, 0, bias=False),  # 4x4 -> 1x1
            nn.Flatten(),
            norms[norm](hidden),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(hidden, n_categories + n_continuous),
        )

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        out = self.net(features)
        return out[:, : self.n_categories], out[:, self.n_categories :]
