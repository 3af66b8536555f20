"""f-divergences and their variational (Fenchel) form, after Nowozin et al. 2016 (f-GAN).

D_f(P || Q) = E_Q[f(p/q)] with f convex, f(1) = 0 (Eq. 2). Its variational lower bound is

    D_f(P || Q) >= sup_T  E_P[T(x)] - E_Q[f*(T(x))]                         (Eq. 4)

where f* is the convex conjugate. A critic output v in R is mapped into dom f* by the
output activation g_f (Table 2), so T = g_f(V). ``conjugate_of_activation(v)`` is
f*(g_f(v)) simplified to a numerically stable closed form (softplus, no log(1 + exp)).

One registry serves f-GAN (``ganlab.methods.noise.fgan``) and UDA-Inversion's discrepancy d_st.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

LOG2 = math.log(2.0)
ElementwiseFn = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class FDivergence:
    """One row of Nowozin et al.'s Tables 1-2. All functions are elementwise on tensors.

    ``conjugate`` returns +inf outside dom f*, which is the interval (``domain_low``,
    ``domain_high``), closed where ``domain_closed`` says so.
    """

    name: str
    f: ElementwiseFn
    f_prime: ElementwiseFn
    _conjugate: ElementwiseFn  # f*(t), valid inside the domain only
    domain_low: float
    domain_high: float
    activation: ElementwiseFn  # g_f: R -> dom f*
    conjugate_of_activation: ElementwiseFn  # f*(g_f(v)), stable form
    domain_closed: bool = False

    def in_domain(self, t: Tensor) -> Tensor:
        if self.domain_closed:
            return (t >= self.domain_low) & (t <= self.domain_high)
        return (t > self.domain_low) & (t < self.domain_high)

    def conjugate(self, t: Tensor) -> Tensor:
        """f*(t), +inf outside dom f*."""
        inside = self.in_domain(t)
        safe = torch.where(inside, t, torch.zeros_like(t))
        return torch.where(inside, self._conjugate(safe), torch.full_like(t, math.inf))

    def variational_bound(self, critic_p: Tensor, critic_q: Tensor) -> Tensor:
        """E_P[g_f(V)] - E_Q[f*(g_f(V))] from raw critic outputs on P and Q samples (Eq. 6)."""
        return self.activation(critic_p).mean() - self.conjugate_of_activation(critic_q).mean()


INF = math.inf

_DIVERGENCES = [
    FDivergence(
        "kl",
        f=lambda u: u * torch.log(u),
        f_prime=lambda u: torch.log(u) + 1.0,
        _conjugate=lambda t: torch.exp(t - 1.0),
        domain_low=-INF,
        domain_high=INF,
        activation=lambda v: v,
        conjugate_of_activation=lambda v: torch.exp(v - 1.0),
    ),
    FDivergence(
        "reverse_kl",
        f=lambda u: -torch.log(u),
        f_prime=lambda u: -1.0 / u,
        _conjugate=lambda t: -1.0 - torch.log(-t),
        domain_low=-INF,
        domain_high=0.0,
        activation=lambda v: -torch.exp(v),
        conjugate_of_activation=lambda v: -1.0 - v,
    ),
    FDivergence(
        "pearson",
        f=lambda u: (u - 1.0) ** 2,
        f_prime=lambda u: 2.0 * (u - 1.0),
        _conjugate=lambda t: t**2 / 4.0 + t,
        domain_low=-INF,
        domain_high=INF,
        activation=lambda v: v,
        conjugate_of_activation=lambda v: v**2 / 4.0 + v,
    ),
    FDivergence(
        "neyman",
        f=lambda u: (1.0 - u) ** 2 / u,
        f_prime=lambda u: 1.0 - 1.0 / u**2,
        _conjugate=lambda t: 2.0 - 2.0 * torch.sqrt(1.0 - t),
        domain_low=-INF,
        domain_high=1.0,
        activation=lambda v: -torch.expm1(v),  # 1 - e^v
        conjugate_of_activation=lambda v: 2.0 - 2.0 * torch.exp(v / 2.0),
    ),
    FDivergence(
        "hellinger",  # squared Hellinger distance, without the 1/2
        f=lambda u: (torch.sqrt(u) - 1.0) ** 2,
        f_prime=lambda u: 1.0 - 1.0 / torch.sqrt(u),
        _conjugate=lambda t: t / (1.0 - t),
        domain_low=-INF,
        domain_high=1.0,
        activation=lambda v: -torch.expm1(v),  # 1 - e^v
        conjugate_of_activation=lambda v: torch.expm1(-v),  # e^-v - 1
    ),
    FDivergence(
        "js",  # with this f, D_f = KL(P||M) + KL(Q||M) = 2 JSD(P, Q), in [0, log 4]
        f=lambda u: -(u + 1.0) * torch.log((1.0 + u) / 2.0) + u * torch.log(u),
        f_prime=lambda u: torch.log(2.0 * u / (1.0 + u)),
        _conjugate=lambda t: -torch.log(2.0 - torch.exp(t)),
        domain_low=-INF,
        domain_high=LOG2,
        activation=lambda v: LOG2 - F.softplus(-v),
        conjugate_of_activation=lambda v: F.softplus(v) - LOG2,
    ),
    FDivergence(
        "gan",
        f=lambda u: u * torch.log(u) - (u + 1.0) * torch.log(u + 1.0),
        f_prime=lambda u: torch.log(u / (u + 1.0)),
        _conjugate=lambda t: -torch.log(-torch.expm1(t)),  # -log(1 - e^t)
        domain_low=-INF,
        domain_high=0.0,
        activation=lambda v: -F.softplus(-v),
        conjugate_of_activation=lambda v: F.softplus(v),
    ),
    FDivergence(
        "tv",
        f=lambda u: 0.5 * torch.abs(u - 1.0),
        f_prime=lambda u: 0.5 * torch.sign(u - 1.0),
        _conjugate=lambda t: t,
        domain_low=-0.5,
        domain_high=0.5,
        activation=lambda v: 0.5 * torch.tanh(v),
        conjugate_of_activation=lambda v: 0.5 * torch.tanh(v),
        domain_closed=True,
    ),
]

REGISTRY: dict[str, FDivergence] = {d.name: d for d in _DIVERGENCES}
NAMES: tuple[str, ...] = tuple(REGISTRY)


def get_divergence(name: str) -> FDivergence:
    """The registered f-divergence called ``name``; a ValueError lists the valid names."""
    if name not in REGISTRY:
        raise ValueError(f"unknown f-divergence {name!r}; valid names: {', '.join(NAMES)}")
    return REGISTRY[name]
