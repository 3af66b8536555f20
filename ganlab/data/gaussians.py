"""Two fixed Gaussians P and Q (1-D or 2-D, diagonal) with their true f-divergences.

For checking a divergence before training a GAN with it: ``true_divergence`` gives
D_f(P || Q) = E_Q[f(p/q)] in closed form for kl, reverse_kl, pearson, neyman and
hellinger, and by quadrature on a fine grid for the others (js, gan, tv).
The DataModule yields batches ``{"p": (B, d), "q": (B, d)}`` of independent samples.
"""

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from ganlab.data.base import DataModule
from ganlab.data.samplers import EpochShuffleBatches
from ganlab.objectives.divergences import FDivergence, get_divergence


@dataclass(frozen=True)
class DiagonalGaussian:
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.std) or not 1 <= len(self.mean) <= 2:
            raise ValueError(f"need 1-D or 2-D mean and std of equal length, got {self}")
        if min(self.std) <= 0:
            raise ValueError(f"standard deviations must be positive, got {self.std}")

    @property
    def dim(self) -> int:
        return len(self.mean)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        noise = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        return (torch.tensor(self.mean) + torch.tensor(self.std) * noise).float()

    def log_prob(self, x: Tensor) -> Tensor:
        """(N, d) -> (N,) log densities, in float64."""
        mean = torch.tensor(self.mean, dtype=torch.float64)
        std = torch.tensor(self.std, dtype=torch.float64)
        z = (x.double() - mean) / std
        return (-0.5 * z**2 - torch.log(std) - 0.5 * math.log(2 * math.pi)).sum(-1)


def kl_gaussians(p: DiagonalGaussian, q: DiagonalGaussian) -> float:
    """KL(P || Q) = sum_i log(s_q/s_p) + (s_p^2 + (m_p - m_q)^2) / (2 s_q^2) - 1/2."""
    return sum(
        math.log(sq / sp) + (sp**2 + (mp - mq) ** 2) / (2 * sq**2) - 0.5
        for mp, sp, mq, sq in zip(p.mean, p.std, q.mean, q.std, strict=True)
    )


def bhattacharyya_coefficient(p: DiagonalGaussian, q: DiagonalGaussian) -> float:
    """BC = int sqrt(p q) = prod_i sqrt(2 s_p s_q / (s_p^2 + s_q^2))
    * exp(-(m_p - m_q)^2 / (4 (s_p^2 + s_q^2)))."""
    return math.prod(
        math.sqrt(2 * sp * sq / (sp**2 + sq**2))
        * math.exp(-((mp - mq) ** 2) / (4 * (sp**2 + sq**2)))
        for mp, sp, mq, sq in zip(p.mean, p.std, q.mean, q.std, strict=True)
    )


def pearson_gaussians(p: DiagonalGaussian, q: DiagonalGaussian) -> float:
    """chi^2(P || Q) = int p^2 / q - 1 = prod_i I_i - 1; infinite unless 2 s_q^2 > s_p^2."""
    product = 1.0
    for mp, sp, mq, sq in zip(p.mean, p.std, q.mean, q.std, strict=True):
        a, b = 1 / sp**2, 1 / sq**2
        k = a - b / 2  # p^2/q = C exp(-k x^2 + l x + m)
        if k <= 0:
            return math.inf
        l, m = 2 * a * mp - b * mq, -a * mp**2 + b * mq**2 / 2
        product *= (
            sq
            / (math.sqrt(2 * math.pi) * sp**2)
            * math.sqrt(math.pi / k)
            * math.exp(l**2 / (4 * k) + m)
        )
    return product - 1.0


CLOSED_FORMS = {
    "kl": kl_gaussians,
    "reverse_kl": lambda p, q: kl_gaussians(q, p),
    "pearson": pearson_gaussians,
    "neyman": lambda p, q: pearson_gaussians(q, p),
    "hellinger": lambda p, q: 2.0 - 2.0 * bhattacharyya_coefficient(p, q),
}


def divergence_by_quadrature(
    divergence: FDivergence, p: DiagonalGaussian, q: DiagonalGaussian, points: int | None = None
) -> float:
    """int q f(p/q) by the trapezoid rule on a grid covering +-14 std of both Gaussians."""
    points = points or (200_001 if p.dim == 1 else 2_001)
    axes = []
    for mp, sp, mq, sq in zip(p.mean, p.std, q.mean, q.std, strict=True):
        low, high = min(mp - 14 * sp, mq - 14 * sq), max(mp + 14 * sp, mq + 14 * sq)
        axes.append(torch.linspace(low, high, points, dtype=torch.float64))
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)  # (points, ..., d)
    log_p, log_q = p.log_prob(grid), q.log_prob(grid)
    integrand = torch.exp(log_q) * divergence.f(torch.exp(log_p - log_q))
    integrand = torch.nan_to_num(integrand, nan=0.0)  # 0 * f(0) at the far tails
    for axis in reversed(axes):
        integrand = torch.trapezoid(integrand, axis, dim=-1)
    return integrand.item()


def true_divergence(name: str, p: DiagonalGaussian, q: DiagonalGaussian) -> float:
    """D_f(P || Q): closed form where one exists, else quadrature."""
    if name in CLOSED_FORMS:
        return CLOSED_FORMS[name](p, q)
    return divergence_by_quadrature(get_divergence(name), p, q)


class GaussianPairs(Dataset):
    """A fixed pool of independent samples of P and Q, paired only by index.

    Indexed by a list of indices, it returns the whole batch at once (no per-item collate).
    """

    def __init__(self, p: DiagonalGaussian, q: DiagonalGaussian, size: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.p_samples, self.q_samples = p.sample(size, generator), q.sample(size, generator)

    def __len__(self) -> int:
        return len(self.p_samples)

    def __getitem__(self, index: int | list[int]) -> dict[str, Tensor]:
        return {"p": self.p_samples[index], "q": self.q_samples[index]}


class GaussiansDataModule(DataModule):
    name = "gaussians"

    def __init__(
        self,
        p_mean: tuple[float, ...] = (0.0,),
        p_std: tuple[float, ...] = (1.0,),
        q_mean: tuple[float, ...] = (1.0,),
        q_std: tuple[float, ...] = (1.5,),
        train_size: int = 200_000,
        batch_size: int = 512,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.p = DiagonalGaussian(tuple(p_mean), tuple(p_std))
        self.q = DiagonalGaussian(tuple(q_mean), tuple(q_std))
        if self.p.dim != self.q.dim:
            raise ValueError(f"P is {self.p.dim}-D but Q is {self.q.dim}-D")
        self.train_size, self.batch_size, self.seed = train_size, batch_size, seed
        self.train_set: GaussianPairs | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            self.train_set = GaussianPairs(self.p, self.q, self.train_size, self.seed)

    def describe(self) -> str:
        return (
            f"gaussians: P = N({self.p.mean}, {self.p.std}^2), Q = N({self.q.mean}, {self.q.std}^2)"
        )

    def content_key(self) -> dict[str, Any]:
        return {"p": [self.p.mean, self.p.std], "q": [self.q.mean, self.q.std], "seed": self.seed}

    def train_dataloader(self) -> DataLoader:
        self.setup()
        batches = EpochShuffleBatches(len(self.train_set), self.batch_size, self.seed)
        return DataLoader(self.train_set, batch_size=None, sampler=batches)
