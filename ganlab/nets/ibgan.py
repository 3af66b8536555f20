"""IB-GAN's generator: a stochastic representation encoder e(r|z) in front of a DCGAN
generator G(r) (Jeon et al. 2021), as one net from the input noise to the image.

The net reads ``latent = [z, eps]``: z is IB-GAN's input (input_dim dims) and eps ~ N(0, I)
(representation_dim dims) the noise of the reparameterisation trick, r = mean(z) +
exp(log_var(z) / 2) * eps. Drawing eps with z, outside the net, keeps the net deterministic
for a given latent: seeded samples (evaluation, grids) and the engine's per-sample draws
under many processes then fix r too, and the EMA copy of this one net averages encoder and
generator together.
"""

from torch import Tensor, nn

from ganlab.nets.dcgan import DCGANGenerator
from ganlab.nets.mlp import MLP


class IBGANGenerator(nn.Module):
    """latent [z, eps] (B, input_dim + representation_dim) -> image (B, channels, size, size).

    ``representation``: an MLP z -> (mean, log_var) of e(r|z) = N(mean, diag exp(log_var));
    ``image``: a DCGAN generator r -> image. ``latent_dim`` is the width of [z, eps], what
    the sampling engine draws.
    """

    def __init__(
        self,
        input_dim: int = 26,
        representation_dim: int = 16,
        size: int = 32,
        channels: int = 1,
        width: int = 64,
        norm: str = "batch",
        hidden: int = 256,
        depth: int = 2,
    ) -> None:
        super().__init__()
        self.input_dim, self.representation_dim = input_dim, representation_dim
        self.latent_dim = input_dim + representation_dim
        self.representation = MLP(input_dim, hidden, depth, 2 * representation_dim)
        self.image = DCGANGenerator(representation_dim, size, channels, width, norm)

    def split(self, latent: Tensor) -> tuple[Tensor, Tensor]:
        """latent (B, input_dim + representation_dim) -> z (B, input_dim), eps (B, r_dim)."""
        return latent[:, : self.input_dim], latent[:, self.input_dim :]

    def encode(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """z -> mean and log-variance of e(r|z), each (B, representation_dim)."""
        mean, log_var = self.representation(z).chunk(2, dim=1)
        return mean, log_var

    def represent(self, latent: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """r = mean + sigma * eps (the reparameterisation trick), with mean and log_var."""
        z, eps = self.split(latent)
        mean, log_var = self.encode(z)
        return mean + (0.5 * log_var).exp() * eps, mean, log_var

    def forward(self, latent: Tensor) -> Tensor:
        return self.image(self.represent(latent)[0])
