"""Optimisation-based GAN inversion: find the code of each image by gradient descent through a
frozen StyleGAN2 (Abdal et al. 2019, Image2StyleGAN: W+ codes, pixel L2 + perceptual loss,
Adam), with the StyleGAN2 projector's schedule (Karras et al. 2020, Appendix D and
``projector.py``): a learning rate ramped up then cosine-ramped down, Gaussian noise on the
code that decays to zero over the first ``noise_ramp`` of the run, and optionally the
per-layer noise maps as variables with their autocorrelation penalty. As the projector does,
the perceptual term sees images larger than ``perceptual_size`` (256 px) area-pooled to it:
LPIPS-VGG's features of a 1024 px image cost 16x the memory for the same distance.

A whole batch runs at once: each image has its own code (and noise maps), the objective is
the sum of the per-image losses, so the gradient of one code depends on its image alone and
Adam (elementwise) moves every code as if it were optimised by itself.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

SPACES = ("w", "w+")
PERCEPTUAL_SIZE = 256  # the StyleGAN2 projector's: larger images are area-pooled to 256 px

# (codes, noise maps or None) -> images (B, C, H, W) in [-1, 1]
Synthesis = Callable[[Tensor, list[Tensor] | None], Tensor]
# images (B, C, H, W) -> perceptual embeddings (B, F); distance = squared L2 of embeddings
Embedding = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class OptimisationSettings:
    """The knobs of latent optimisation; the defaults invert a 64 px ToyFaces image to
    > 30 dB PSNR in W+ (the projector's 1000 steps at 0.1 are its defaults for 1024 px)."""

    space: str = "w+"  # "w": one w per image (the projector); "w+": one w per layer
    steps: int = 200
    lr: float = 0.1
    lr_rampup: float = 0.05  # fraction of the run over which lr ramps up from 0
    lr_rampdown: float = 0.25  # fraction at the end over which it cosine-decays to 0
    lambda_l2: float = 1.0  # pixel MSE on [-1, 1] images
    lambda_perceptual: float = 1.0  # squared distance of the perceptual embeddings
    initial_noise: float = 0.05  # code noise at step 0, a fraction of the std of w
    noise_ramp: float = 0.75  # fraction of the run after which the code noise is 0
    optimise_noise: bool = False  # the noise maps as variables too (the projector does)
    noise_regularize: float = 1e5  # weight of their autocorrelation penalty
    seed: int = 0  # draws the initial noise maps and the code noise
    perceptual_size: int | None = PERCEPTUAL_SIZE  # the perceptual term's longest side; None:
    # the images' own
    recompute_activations: bool | None = None  # the generator's layers recomputed in backward
    # (half the memory, ~1.6x the time); None: from 512 px (Generator.use_recomputation)

    def __post_init__(self) -> None:
        check_perceptual_size(self.perceptual_size)
        if self.space not in SPACES:
            raise ValueError(f"inversion space must be one of {SPACES}, got {self.space!r}")
        if self.steps < 0:
            raise ValueError(f"inversion steps must be >= 0, got {self.steps}")
        if self.lr <= 0:
            raise ValueError(f"inversion lr must be > 0, got {self.lr}")


@dataclass
class InversionResult:
    """Codes (B, D) in W or (B, n_latent, D) in W+, reconstructions (B, C, H, W), the final
    per-image objective (B,) and per-image pixel MSE on [-1, 1] after each step (steps, B)."""

    codes: Tensor
    images: Tensor
    losses: Tensor
    mse_history: Tensor
    noises: list[Tensor] | None = None
    conditions: tuple[Tensor, Tensor] | None = None


def check_perceptual_size(size: int | None) -> None:
    """Refuse a ``perceptual_size`` that is neither a side in pixels >= 1 nor None."""
    if size is not None and (not isinstance(size, int) or size < 1):
        raise ValueError(
            f"perceptual_size must be a side in pixels >= 1 (the projector's 256), or null for "
            f"the images' own size; got {size!r}"
        )


def perceptual_view(images: Tensor, size: int | None) -> Tensor:
    """(B, C, H, W) images as the perceptual term sees them: area-averaged so that their
    longer side is ``size`` when it is longer (the StyleGAN2 projector pools 1024 px images
    to 256 for LPIPS-VGG), as they are when ``size`` is None or not smaller."""
    longest = max(images.shape[-2:])
    if size is None or longest <= size:
        return images
    height, width = images.shape[-2:]
    target = (max(1, round(height * size / longest)), max(1, round(width * size / longest)))
    return F.interpolate(images, size=target, mode="area")


def learning_rate(t: float, base: float, rampup: float, rampdown: float) -> float:
    """The projector's schedule at progress t in [0, 1]: cosine ramp-down over the last
    ``rampdown`` of the run, linear ramp-up over the first ``rampup``."""
    ramp = min(1.0, (1.0 - t) / rampdown) if rampdown > 0 else 1.0
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    ramp = ramp * min(1.0, t / rampup) if rampup > 0 else ramp
    return base * ramp


def code_noise_scale(t: float, w_std: float, initial: float, ramp: float) -> float:
    """Std of the Gaussian noise added to the code at progress t (projector: quadratic decay)."""
    return w_std * initial * max(0.0, 1.0 - t / ramp) ** 2 if ramp > 0 else 0.0


def noise_autocorrelation(noise: Tensor) -> Tensor:
    """Per-image penalty (B,) of one (B, 1, H, W) noise map: squared autocorrelation at a
    one-pixel shift in x and y, summed over a pyramid down to 8 x 8 (StyleGAN2 Appendix D)."""
    penalty = noise.new_zeros(noise.shape[0])
    while True:
        for dim in (2, 3):
            penalty = penalty + (noise * noise.roll(1, dims=dim)).mean(dim=(1, 2, 3)).pow(2)
        if noise.shape[-1] <= 8:
            return penalty
        noise = F.avg_pool2d(noise, 2)


def normalise_noises(noises: list[Tensor]) -> None:
    """Each image's map to zero mean and unit std, in place (after every projector step)."""
    with torch.no_grad():
        for noise in noises:
            mean = noise.mean(dim=(1, 2, 3), keepdim=True)
            std = noise.std(dim=(1, 2, 3), keepdim=True)
            noise.sub_(mean).div_(std)


def per_image_mse(images: Tensor, targets: Tensor) -> Tensor:
    return (images - targets).pow(2).flatten(1).mean(1)


def psnr_from_mse(mse: Tensor) -> Tensor:
    """PSNR in dB of [-1, 1] images from their MSE (ganlab reports PSNR on the [0, 1] scale)."""
    return 10 * torch.log10(4.0 / mse.clamp_min(1e-12))


def initial_codes(start: Tensor, batch_size: int, n_latent: int, space: str) -> Tensor:
    """Codes to optimise from ``start``: w (D,) for all images, or per-image codes (B, D) or
    (B, n_latent, D) (an encoder's), brought to ``space``."""
    if start.ndim == 1:
        start = start.expand(batch_size, -1)
    if space == "w":
        return start.mean(1) if start.ndim == 3 else start
    return start if start.ndim == 3 else start.unsqueeze(1).repeat(1, n_latent, 1)


def optimise_codes(
    synthesize: Synthesis,
    targets: Tensor,
    start: Tensor,
    n_latent: int,
    w_std: float,
    settings: OptimisationSettings,
    perceptual: Embedding | None = None,
    noise_shapes: list[tuple[int, int]] | None = None,
    progress: bool = True,
) -> InversionResult:
    """Optimise one code per target image (B, C, H, W) from ``start`` (see ``initial_codes``).

    The objective per image is lambda_l2 * MSE + lambda_perceptual * the squared distance of
    the ``perceptual`` embeddings of the images seen at ``settings.perceptual_size``
    (``perceptual_view``; the targets' are computed once) (+ noise_regularize *
    autocorrelation of its noise maps with ``optimise_noise``); the noise maps, one (1, h, w)
    per layer of ``noise_shapes`` per image, start N(0, 1).
    """
    batch = targets.shape[0]
    rng = torch.Generator(device="cpu").manual_seed(settings.seed)
    codes = initial_codes(start.detach(), batch, n_latent, settings.space).clone()
    codes = codes.to(targets.device).requires_grad_(True)
    variables = [codes]
    noises = None
    if settings.optimise_noise:
        if noise_shapes is None:
            raise ValueError("optimise_noise needs the generator's noise map shapes")
        noises = [
            torch.randn(batch, 1, h, w, generator=rng).to(targets.device).requires_grad_(True)
            for h, w in noise_shapes
        ]
        variables += noises
    optimizer = torch.optim.Adam(variables, lr=settings.lr, betas=(0.9, 0.999))
    history = []
    use_perceptual = perceptual is not None and settings.lambda_perceptual > 0
    if use_perceptual:
        with torch.no_grad():
            target_embeddings = perceptual(perceptual_view(targets, settings.perceptual_size))

    def objective(images: Tensor, mse: Tensor) -> Tensor:
        loss = settings.lambda_l2 * mse
        if use_perceptual:
            seen = perceptual_view(images, settings.perceptual_size)
            distance = (perceptual(seen) - target_embeddings).pow(2).sum(1)
            loss = loss + settings.lambda_perceptual * distance
        return loss

    for step in tqdm(range(settings.steps), desc="inversion", disable=not progress):
        t = step / settings.steps
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(t, settings.lr, settings.lr_rampup, settings.lr_rampdown)
        scale = code_noise_scale(t, w_std, settings.initial_noise, settings.noise_ramp)
        jitter = torch.randn(codes.shape, generator=rng).to(codes.device) * scale
        images = synthesize(codes + jitter, noises)
        mse = per_image_mse(images, targets)
        loss = objective(images, mse)
        if noises is not None:
            loss = loss + settings.noise_regularize * sum(noise_autocorrelation(n) for n in noises)
        optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()
        optimizer.step()
        if noises is not None:
            normalise_noises(noises)
        history.append(mse.detach())
    with torch.no_grad():
        images = synthesize(codes, noises)
        losses = objective(images, per_image_mse(images, targets))
    mse_history = torch.stack(history) if history else targets.new_zeros(0, batch)
    return InversionResult(
        codes.detach(),
        images.detach(),
        losses,
        mse_history.cpu(),
        [n.detach() for n in noises] if noises is not None else None,
    )
