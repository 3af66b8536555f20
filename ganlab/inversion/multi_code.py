"""Multi-code GAN inversion (Gu et al. 2020, mGANprior) on StyleGAN2, with several
hypotheses at once and MGI's FID self-decision (Kang, "Multiple GAN Inversion for
Exemplar-based Image-to-Image Translation").

A hypothesis is (composing block l, number of codes N). Each of the N codes runs the
synthesis network up to block l (``Generator.synthesis_head``); their features F_n are
fused with per-channel importances alpha_n, (1/N) sum_n F_n * alpha_n, and the rest of the
generator (``synthesis_tail``) draws the image from the fused features and one code of its
own. mGANprior's generator (PGGAN) has no latent input after the composing layer; StyleGAN2
has, so the tail's W+ rows are optimised too (one set per image and hypothesis). The RGB
skip that StyleGAN2 carries past block l is the plain mean of the N codes' skips.

The objective (MGI eq. 7) is D(down(y), r): the output y, down-sampled by ``downsample``
(MGI: 4, 256 -> 1024 px; average pooling, or mGANprior's bilinear interpolation), against the
low-resolution target r, with D = L2 + a perceptual distance, so the output is a
super-resolved r.

The hypotheses (MGI sec. 4.1): composing layers 4-8 of mGANprior's 1024 px PGGAN x 10-40
codes. mGANprior cuts its PGGAN (two convs per resolution from 4 px) before conv ``layer``,
so it composes features of 8 px (layer 4), 16 px (5, 6) and 32 px (7, 8); layers 5 and 7 sit
between a resolution's two convs. StyleGAN2 is cut between blocks here, so the grid becomes
the blocks that end at those sizes, 1, 2 and 3 (8, 16, 32 px), on any generator that has a
block after them (``paper_blocks``).

Hypotheses that share a composing block run through the generator together: their codes
form one batch for the head and their fused features one batch for the tail; every
hypothesis's loss goes into one backward pass. Per (image, hypothesis) the objective is a
separate sum term, so Adam moves each as if it ran alone.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from ganlab.inversion.optimisation import (
    PERCEPTUAL_SIZE,
    Embedding,
    check_perceptual_size,
    learning_rate,
    per_image_mse,
)
from ganlab.metrics.distribution import frechet_distance
from ganlab.nets.stylegan2 import Generator, sample_w

# what MultiCodeSettings' steps, lr and schedule are when left at None, by optimizer
OPTIMIZER_DEFAULTS: dict[str, dict[str, Any]] = {
    # ours: Adam with the StyleGAN2 projector's schedule, enough for a 64 px generator
    "adam": {"steps": 200, "lr": 0.05, "lr_rampup": 0.05, "lr_rampdown": 0.25},
    # mGANprior's code (--optimization GD): torch SGD without momentum at a constant lr 1,
    # 2000 iterations in super_resolution.py (3000 in multi_code_inversion.py)
    "sgd": {"steps": 2000, "lr": 1.0, "lr_rampup": 0.0, "lr_rampdown": 0.0},
}
DOWN_MODES = ("average", "bilinear")
PAPER_COMPOSING_LAYERS = (4, 5, 6, 7, 8)  # MGI sec. 4.1, mGANprior's PGGAN layer index
PAPER_CODE_COUNTS = (10, 20, 30, 40)  # MGI sec. 4.1: "ranging from 10 to 40" (steps of 10: ours)


@dataclass(frozen=True)
class Hypothesis:
    """Compose at synthesis block ``block`` (0: 4 x 4, b: 4 * 2^b px) from ``n_codes`` codes."""

    block: int
    n_codes: int

    @property
    def name(self) -> str:
        return f"block{self.block}_n{self.n_codes}"


def pggan_layer_size(layer: int) -> int:
    """Side of the features mGANprior composes at PGGAN ``composing_layer``: the output of conv
    layer - 1, two convs per resolution from 4 px (4: 8 px, 5 and 6: 16 px, 7 and 8: 32 px)."""
    return 4 * 2 ** ((layer - 1) // 2)


def block_of_size(size: int) -> int:
    """The StyleGAN2 synthesis block whose output is ``size`` px (block b draws 4 * 2^b)."""
    return size.bit_length() - 3


def paper_blocks(last_block: int) -> list[int]:
    """MGI's composing layers 4-8 as blocks of a StyleGAN2 whose output block is
    ``last_block`` (8 at 1024 px, 4 at 64 px): the blocks ending at the same feature sizes,
    1, 2 and 3, each kept if a block follows it (fusing at the output leaves no synthesis)."""
    blocks = dict.fromkeys(block_of_size(pggan_layer_size(n)) for n in PAPER_COMPOSING_LAYERS)
    return [block for block in blocks if block < last_block]


def hypothesis_grid(blocks: Sequence[int], code_counts: Sequence[int]) -> list[Hypothesis]:
    """Every (block, N) pair once (MGI: composing layers 4-8 x code counts 10-40 on PGGAN)."""
    pairs = [Hypothesis(int(b), int(n)) for b in blocks for n in code_counts]
    if any(h.n_codes < 1 for h in pairs):
        raise ValueError(f"code counts must be >= 1, got {list(code_counts)}")
    return list(dict.fromkeys(pairs))


@dataclass(frozen=True)
class MultiCodeSettings:
    """Knobs of multi-code inversion. ``steps``, ``lr`` and the schedule left at None take
    the optimizer's own (``OPTIMIZER_DEFAULTS``): Adam (ours, the default; far fewer steps on
    a 64 px generator) or mGANprior's plain SGD at lr 1."""

    steps: int | None = None
    optimizer: str = "adam"
    lr: float | None = None
    lr_rampup: float | None = None  # fraction of the run over which lr ramps up from 0
    lr_rampdown: float | None = None  # fraction at the end over which it cosine-decays to 0
    lambda_l2: float = 1.0
    lambda_perceptual: float = 1.0
    downsample: int = 4  # down(): the output is this many times the target's size (MGI: 4)
    down_mode: str = "average"  # down(): average pooling | bilinear (mGANprior's SR loss)
    optimise_importance: bool = True  # alpha_n; off: fixed at its initial 1/N
    seed: int = 0
    perceptual_size: int | None = PERCEPTUAL_SIZE  # side the perceptual term compares at,
    # at most the output's; None: the output's (mGANprior's resize for VGG)

    def __post_init__(self) -> None:
        check_perceptual_size(self.perceptual_size)
        if self.optimizer not in OPTIMIZER_DEFAULTS:
            raise ValueError(
                f"optimizer must be one of {tuple(OPTIMIZER_DEFAULTS)}, got {self.optimizer!r}"
            )
        if self.down_mode not in DOWN_MODES:
            raise ValueError(f"down_mode must be one of {DOWN_MODES}, got {self.down_mode!r}")
        for name, value in OPTIMIZER_DEFAULTS[self.optimizer].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if self.steps < 0 or self.lr <= 0 or self.downsample < 1:
            raise ValueError(
                f"multi-code inversion needs steps >= 0, lr > 0 and downsample >= 1; got "
                f"steps={self.steps}, lr={self.lr}, downsample={self.downsample}"
            )


def fuse_features(features: Tensor, importance: Tensor) -> Tensor:
    """mGANprior eq. 3 with its 1/N: (B, N, C, h, w) features, (B, N, C) importances ->
    (1/N) sum_n F_n * alpha_n, shape (B, C, h, w)."""
    return (features * importance[..., None, None]).mean(1)


def down(images: Tensor, factor: int, mode: str = "average") -> Tensor:
    """MGI's down() of eq. 7 by ``factor`` (the identity for 1): average pooling, or bilinear
    interpolation without antialiasing as mGANprior's ``SR_loss``."""
    if factor == 1:
        return images
    if mode == "bilinear":
        return F.interpolate(images, scale_factor=1 / factor, mode="bilinear")
    return F.avg_pool2d(images, factor)


def build_optimizer(variables: list[Tensor], settings: MultiCodeSettings) -> torch.optim.Optimizer:
    """Adam (ours) or torch SGD without momentum (mGANprior's ``GD``) at ``settings.lr``."""
    if settings.optimizer == "sgd":
        return torch.optim.SGD(variables, lr=settings.lr)
    return torch.optim.Adam(variables, lr=settings.lr)


@dataclass
class MultiCodeResult:
    """Per image and hypothesis: ``images`` (B, H, C, S, S), ``losses`` (B, H), the pixel MSE
    of down(y) against the target after each step ``mse_history`` (steps, B, H); the codes
    per block: ``head_codes[l]`` (B, K_l, 2l+1, D) for the K_l codes of the hypotheses that
    compose at l, ``importance[l]`` (B, K_l, C) and ``tail_codes[l]`` (B, H_l, rows, D)."""

    hypotheses: list[Hypothesis]
    images: Tensor
    losses: Tensor
    mse_history: Tensor
    head_codes: dict[int, Tensor]
    importance: dict[int, Tensor]
    tail_codes: dict[int, Tensor]


def initial_w(generator: Generator, hypothesis: Hypothesis, batch: int, seed: int) -> Tensor:
    """(B, N, D) starting codes, w of z ~ N(0, 1) as mGANprior draws them, seeded by the
    hypothesis alone, so that a hypothesis starts alike whichever others run beside it."""
    key = (seed * 1_000_003 + hypothesis.block) * 1_009 + hypothesis.n_codes
    rng = torch.Generator().manual_seed(key)
    return sample_w(generator, batch * hypothesis.n_codes, rng=rng).view(
        batch, -1, generator.style_dim
    )


class BlockGroup:
    """The hypotheses that compose at one block, with their variables, run as one batch."""

    def __init__(
        self,
        generator: Generator,
        block: int,
        hypotheses: list[Hypothesis],
        batch: int,
        tail_start: Tensor,
        seed: int,
        optimise_importance: bool,
    ) -> None:
        self.generator, self.block, self.hypotheses = generator, block, hypotheses
        self.counts = [h.n_codes for h in hypotheses]
        device = tail_start.device
        rows = generator.head_rows(block)
        w = torch.cat([initial_w(generator, h, batch, seed) for h in hypotheses], 1).to(device)
        self.head = w.unsqueeze(2).repeat(1, 1, rows, 1).requires_grad_(True)
        channels = generator.channels[4 * 2**block]
        self.importance = torch.cat(  # alpha_n = 1/N
            [torch.full((batch, n, channels), 1.0 / n, device=device) for n in self.counts], 1
        ).requires_grad_(optimise_importance)
        tail_rows = generator.n_latent - rows
        tail = tail_start.reshape(1, 1, 1, -1).expand(batch, len(hypotheses), tail_rows, -1)
        self.tail = tail.clone().requires_grad_(True)

    def variables(self) -> list[Tensor]:
        grouped = [self.head, self.tail]
        return grouped + [self.importance] if self.importance.requires_grad else grouped

    def images(self, noise: list[Tensor]) -> Tensor:
        """(B, H_l, C, S, S): one image per image and hypothesis of this block."""
        batch, n_codes = self.head.shape[:2]
        features, skip = self.generator.synthesis_head(self.head.flatten(0, 1), self.block, noise)
        features = features.view(batch, n_codes, *features.shape[1:])
        parts = zip(
            features.split(self.counts, 1), self.importance.split(self.counts, 1), strict=True
        )
        fused = torch.stack([fuse_features(f, alpha) for f, alpha in parts], 1).flatten(0, 1)
        if skip is not None:  # the RGB of blocks < l: the plain mean of the N codes'
            skip = skip.view(batch, n_codes, *skip.shape[1:])
            means = [part.mean(1) for part in skip.split(self.counts, 1)]
            skip = torch.stack(means, 1).flatten(0, 1)
        tail = self.tail.flatten(0, 1)
        images = self.generator.synthesis_tail(fused, skip, tail, self.block, noise)
        return images.view(batch, len(self.hypotheses), *images.shape[1:])


def multi_code_invert(
    generator: Generator,
    targets: Tensor,
    hypotheses: Sequence[Hypothesis],
    latent_avg: Tensor,
    settings: MultiCodeSettings,
    perceptual: Embedding | None = None,
    progress: bool = True,
) -> MultiCodeResult:
    """Invert every target (B, C, s, s) under every hypothesis; the outputs are
    ``settings.downsample`` times the targets' size (the generator's)."""
    hypotheses = list(hypotheses)
    if not hypotheses or len(set(hypotheses)) != len(hypotheses):
        raise ValueError(f"multi-code inversion needs distinct hypotheses, got {hypotheses}")
    expected = generator.size // settings.downsample
    if targets.shape[-1] != expected or targets.shape[-2] != expected:
        raise ValueError(
            f"targets must be {expected} x {expected} px (a {generator.size} px generator, "
            f"downsample {settings.downsample}); got {tuple(targets.shape[-2:])}"
        )
    batch = targets.shape[0]
    groups = []
    for block in sorted({h.block for h in hypotheses}):
        members = [h for h in hypotheses if h.block == block]
        groups.append(
            BlockGroup(
                generator,
                block,
                members,
                batch,
                latent_avg.reshape(-1).to(targets.device),
                settings.seed,
                settings.optimise_importance,
            )
        )
    order = [hypotheses.index(h) for g in groups for h in g.hypotheses]  # group order -> given
    variables = [v for g in groups for v in g.variables()]
    optimizer = build_optimizer(variables, settings)
    noise = [getattr(generator.noises, f"noise_{j}") for j in range(generator.num_layers)]
    objective = multi_code_objective(targets, settings, perceptual, generator.size)

    def all_images() -> Tensor:
        images = torch.cat([g.images(noise) for g in groups], 1)
        return images[:, torch.argsort(torch.tensor(order))]  # back to the given order

    history = []
    for step in tqdm(range(settings.steps), desc="multi-code inversion", disable=not progress):
        lr = learning_rate(
            step / settings.steps, settings.lr, settings.lr_rampup, settings.lr_rampdown
        )
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss, mse = objective(all_images())
        optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()
        optimizer.step()
        history.append(mse.detach())
    with torch.no_grad():
        images = all_images()
        losses, _ = objective(images)
    mse_history = torch.stack(history) if history else targets.new_zeros(0, batch, len(order))
    return MultiCodeResult(
        hypotheses,
        images.detach(),
        losses,
        mse_history.cpu(),
        {g.block: g.head.detach() for g in groups},
        {g.block: g.importance.detach() for g in groups},
        {g.block: g.tail.detach() for g in groups},
    )


def multi_code_objective(
    targets: Tensor, settings: MultiCodeSettings, perceptual: Embedding | None, size: int
) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
    """images (B, H, C, S, S) -> (loss, pixel MSE), each (B, H): MGI eq. 7, D(down(y), r).
    The perceptual term compares down(y) and r (s x s) both brought to P x P, P = S (nearest,
    as mGANprior resizes both for VGG) capped at ``settings.perceptual_size`` (256: a 1024 px
    output's 256 px down(y) is compared as it is, not blown up to 1024 for LPIPS-VGG).
    Nearest up-sampling to S and then area-pooling to P is nearest up-sampling to P for
    P >= s, and area-pooling to P for P < s."""
    use_perceptual = perceptual is not None and settings.lambda_perceptual > 0
    side = size if settings.perceptual_size is None else min(size, settings.perceptual_size)

    def for_perceptual(images: Tensor) -> Tensor:
        if images.shape[-1] == side:
            return images
        mode = "nearest" if side > images.shape[-1] else "area"
        return F.interpolate(images, size=(side, side), mode=mode)

    if use_perceptual:
        with torch.no_grad():
            target_embeddings = perceptual(for_perceptual(targets))

    def objective(images: Tensor) -> tuple[Tensor, Tensor]:
        batch, n_hypotheses = images.shape[:2]
        low = down(images.flatten(0, 1), settings.downsample, settings.down_mode)
        repeated = targets.repeat_interleave(n_hypotheses, 0)
        mse = per_image_mse(low, repeated)
        loss = settings.lambda_l2 * mse
        if use_perceptual:
            embeddings = perceptual(for_perceptual(low))
            distance = embeddings - target_embeddings.repeat_interleave(n_hypotheses, 0)
            loss = loss + settings.lambda_perceptual * distance.pow(2).sum(1)
        return loss.view(batch, n_hypotheses), mse.view(batch, n_hypotheses)

    return objective


# ---- MGI's self-decision: n* = argmin_n k_n, k_n the FID of hypothesis n's output (sec. 3.2) --
def per_image_fid(features: Tensor, reference: Tensor) -> Tensor:
    """k_n of MGI sec. 3.2 at its batch size of 1: the FID of each single output's features
    (B, H, F) against the reference Gaussian (mu, Sigma), (B, H). One output is a point mass
    (zero covariance): ||f - mu||^2 + tr(Sigma), so the ranking is by ||f - mu||^2."""
    mean = reference.double().mean(0)
    covariance = torch.cov(reference.double().T)
    return (features.double() - mean).pow(2).sum(-1) + torch.trace(covariance)


def choose_per_image(features: Tensor, reference: Tensor) -> Tensor:
    """(B,) each image's own hypothesis: the lowest ``per_image_fid`` of its H outputs
    (features (B, H, F)), the paper's decision for each image alone."""
    return per_image_fid(features, reference).argmin(1)


def choose_per_batch(features: Tensor, reference: Tensor) -> tuple[int, list[float]]:
    """One hypothesis for the whole batch (ours): (index of the hypothesis whose B outputs'
    features (H, B, F) lie closest to the reference by FID, every hypothesis's FID). A batch
    of one is decided by ``per_image_fid``, as ``choose_per_image`` decides it."""
    if features.shape[1] == 1:
        fids = per_image_fid(features.transpose(0, 1), reference)[0].tolist()
    else:
        fids = [frechet_distance(reference, outputs) for outputs in features]
    return int(min(range(len(fids)), key=fids.__getitem__)), fids
