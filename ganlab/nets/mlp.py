"""A plain multilayer perceptron: critics on low-dimensional toy data."""

from torch import Tensor, nn


class MLP(nn.Module):
    """(B, in_features) -> (B,) when out_features == 1, else (B, out_features)."""

    def __init__(
        self, in_features: int = 1, hidden: int = 64, depth: int = 2, out_features: int = 1
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
            width = hidden
        layers.append(nn.Linear(width, out_features))
        self.net = nn.Sequential(*layers)
        self.out_features = out_features

    def forward(self, x: Tensor) -> Tensor:
        out = self.net(x)
        return out.squeeze(-1) if self.out_features == 1 else out
