"""PULSE (Menon, Damian, Hu, Ravi & Rudin, "PULSE: Self-Supervised Photo Upsampling via
Latent Space Exploration of Generative Models", CVPR 2020): super-resolution by searching a
frozen generator's latent space for images that downscale to the low-resolution input,
instead of fitting the input's pixels.

- The search space (sec. 3.3): high-dimensional Gaussians concentrate on the sphere of
  radius sqrt(d), so each latent is kept on it: projected gradient descent, an optimizer
  step followed by a projection (``project_to_sphere``). As the authors' code, the sphere
  lives in a Gaussianised W: one d-vector per style input of the generator (W+), mapped to a
  style by ``leaky_relu_0.2(x * std + mean)``, where mean and std fit leaky_relu_5(w) of the
  mapping network's outputs (``gaussian_fit``: the inverse of its last activation). The first
  ``trainable_noise_layers`` noise maps are searched too, each on its own sphere; the last
  map is zero (the code's "bad noise layer"), the others fixed draws.
- The objective (eq. 5 and sec. 3.4): the downscaling loss, the mean squared error of
  DS(G(x)) against the input (``downscaling_loss``), plus the geodesic cross loss that keeps
  the per-layer latents close in angle (``geocross_loss``), 100 * L2 + 0.05 * GEOCROSS in the
  code's default; Adam at lr 0.4 with the code's one-cycle schedule, 100 steps. Each image
  keeps its output of lowest loss over the steps; it is "downscale-consistent" when its
  downscaling loss is at most ``eps``.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

Downscale = Callable[[Tensor], Tensor]  # (B, C, H, W) -> (B, C, h, w)


@dataclass(frozen=True)
class PulseSettings:
    steps: int = 100
    lr: float = 0.4
    lambda_l2: float = 100.0
    lambda_geocross: float = 0.05
    trainable_noise_layers: int = 5
    eps: float = 2e-3  # downscaling loss at which an output counts as consistent
    fit_samples: int = 100_000  # z drawn to fit the Gaussianised W (the code: 1,000,000)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.lr <= 0:
            raise ValueError(f"PULSE needs steps >= 1 and lr > 0, got {self.steps}, {self.lr}")


@dataclass(frozen=True)
class PulseResult:
    images: Tensor  # (B, C, H, W): each image's output of lowest loss
    latents: Tensor  # (B, n_latent, D): the Gaussianised latents of those outputs
    downscaling_loss: Tensor  # (B,) of those outputs
    consistent: Tensor  # (B,) bool: downscaling_loss <= eps


def vector_norms(x: Tensor) -> Tensor:
    """The norm of each vector over the dims after the first two (kept as size-1 dims)."""
    return (x.pow(2).sum(tuple(range(2, x.ndim)), keepdim=True) + 1e-9).sqrt()


def project_to_sphere(x: Tensor, radius: Tensor | float) -> Tensor:
    """Each vector over the dims after the first two, scaled to norm ``radius`` (sec. 3.3)."""
    return x * (radius / vector_norms(x))


def geocross_loss(latents: Tensor) -> Tensor:
    """(B,) geodesic cross loss of (B, L, D) latents: the mean over ordered pairs of layers of
    d x (the angle between them)^2, over 8 (the code's scale; sec. 3.4)."""
    d = latents.shape[-1]
    first, second = latents[:, None], latents[:, :, None]
    chord = (first - second).pow(2).sum(-1).add(1e-9).sqrt()
    opposite = (first + second).pow(2).sum(-1).add(1e-9).sqrt()
    angles = 2 * torch.atan2(chord, opposite)
    return (angles.pow(2) * d).mean((1, 2)) / 8


def downscaling_loss(outputs_low: Tensor, low: Tensor) -> Tensor:
    """(B,) mean squared error of the downscaled outputs against the inputs, on [0, 1]
    images as the code measures it (eq. 5's ||DS(G(z)) - I_LR||^2, per pixel)."""
    return ((outputs_low - low) / 2).pow(2).flatten(1).mean(1)


def bicubic_downscale(size: int) -> Downscale:
    """PULSE's DS: antialiased bicubic resizing to ``size`` px."""
    return lambda images: F.interpolate(
        images, size=(size, size), mode="bicubic", antialias=True, align_corners=False
    )


def one_cycle_drop(step: int, steps: int) -> float:
    """The code's ``linear1cycledrop`` lr factor: 0.1 -> 1 -> 0.1 over 90 % of the run, then
    down to 0.001."""
    if step < 0.9 * steps:
        return (9 * (1 - abs(step / (0.9 * steps) - 0.5) * 2) + 1) / 10
    return 0.1 + (step - 0.9 * steps) / (0.1 * steps) * (0.001 - 0.1)


@torch.no_grad()
def gaussian_fit(generator: nn.Module, n: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """(mean, std) of leaky_relu_5(w), w = mapping(z) for ``n`` seeded z: the affine map that
    makes the mapping network's outputs before its last activation look standard normal."""
    rng = torch.Generator().manual_seed(seed)
    device = generator.input.input.device
    total, square = 0.0, 0.0
    for start in range(0, n, 10_000):
        z = torch.randn(min(10_000, n - start), generator.style_dim, generator=rng)
        pre = F.leaky_relu(generator.get_latent(z.to(device)), 5.0).double()
        total, square = total + pre.sum(0), square + pre.pow(2).sum(0)
    mean = total / n
    std = (square / n - mean.pow(2)).clamp_min(0).mul(n / (n - 1)).sqrt()
    return mean.float(), std.float()


def to_styles(latents: Tensor, fit: tuple[Tensor, Tensor]) -> Tensor:
    """Gaussianised latents (B, L, D) -> W+ styles: leaky_relu_0.2(x * std + mean)."""
    mean, std = fit
    return F.leaky_relu(latents * std + mean, 0.2)


def starting_noise(generator: nn.Module, batch: int, rng: torch.Generator) -> list[Tensor]:
    """Per-layer noise maps (B, 1, r, r): N(0, 1) draws, the last layer's zero."""
    maps = [
        torch.randn(batch, *m.shape[1:], generator=rng).to(m.device)
        for m in generator.fixed_noise()
    ]
    maps[-1] = torch.zeros_like(maps[-1])
    return maps


def pulse(
    generator: nn.Module,
    low: Tensor,
    downscale: Downscale | None = None,
    settings: PulseSettings = PulseSettings(),
    fit: tuple[Tensor, Tensor] | None = None,
    progress: bool = False,
) -> PulseResult:
    """Search ``generator`` (frozen, rosinality layout) for outputs whose ``downscale``
    (default: bicubic to the inputs' size) matches ``low`` (B, C, h, w) in [-1, 1]."""
    device = low.device
    downscale = downscale or bicubic_downscale(low.shape[-1])
    fit = fit or gaussian_fit(generator, settings.fit_samples, settings.seed)
    fit = (fit[0].to(device), fit[1].to(device))
    rng = torch.Generator().manual_seed(settings.seed)
    batch, d = len(low), generator.style_dim
    latents = torch.randn(batch, generator.n_latent, d, generator=rng).to(device)
    noise = starting_noise(generator, batch, rng)
    searched = [latents.requires_grad_(True)]
    searched += [m.requires_grad_(True) for m in noise[: settings.trainable_noise_layers]]
    radii = [vector_norms(p.detach()) for p in searched]  # each vector keeps its start's
    optimizer = torch.optim.Adam(searched, lr=settings.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: one_cycle_drop(step, settings.steps)
    )
    best_loss = torch.full((batch,), math.inf, device=device)
    best_images = torch.zeros(batch, low.shape[1], generator.size, generator.size, device=device)
    best_latents, best_downscaling = latents.detach().clone(), torch.zeros(batch, device=device)
    for _ in tqdm(range(settings.steps), desc="PULSE", disable=not progress, leave=False):
        styles = to_styles(latents, fit)
        images = generator([styles], input_is_latent=True, noise=noise)[0]
        l2 = downscaling_loss(downscale(images), low)
        # the code clamps the downscaling loss at eps: a consistent image is not pushed further
        fitting = settings.lambda_l2 * l2.clamp_min(settings.eps)
        loss = fitting + settings.lambda_geocross * geocross_loss(styles)
        with torch.no_grad():
            better = loss < best_loss
            best_loss = torch.where(better, loss, best_loss)
            best_images[better] = images[better].detach()
            best_latents[better] = latents[better].detach()
            best_downscaling[better] = l2[better].detach()
        optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()
        optimizer.step()
        schedule.step()
        with torch.no_grad():
            for parameter, radius in zip(searched, radii, strict=True):
                parameter.copy_(project_to_sphere(parameter, radius))
    return PulseResult(
        best_images, best_latents, best_downscaling, best_downscaling <= settings.eps
    )
