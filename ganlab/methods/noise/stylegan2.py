"""StyleGAN2 (Karras et al. 2020): the generator the inversion methods invert.

Four phases, as in the official training loop (Appendix B, "lazy regularization"):

- ``discriminator``: the logistic loss on real and generated images, every batch;
- ``discriminator_r1``: R1 on real images (Mescheder et al. 2018, Eq. 9) every ``r1_every``
  batches, weighted by ``r1_every`` so its average strength is ``r1_gamma / 2`` per batch;
- ``generator``: the non-saturating loss, every batch; style mixing feeds two z codes to a
  random crossover layer with probability ``mixing_prob`` (Karras et al. 2019, Sec. 3.1);
- ``generator_path_length``: the path length penalty (Eq. 4) every ``path_length_every``
  batches on a ``1 / path_length_batch_shrink`` slice of the batch; off when its weight is 0.

Adam's LR and betas are rescaled by c = every / (every + 1) for both players, the
correction lazy regularization needs (Appendix B). The EMA generator is ``generator_ema``.
``decode`` maps W / W+ codes to images, so ``task=edit`` runs on a StyleGAN2 checkpoint.
``export`` writes the EMA generator in rosinality/stylegan2-pytorch's checkpoint layout
(``g_ema``, ``latent_avg``, ``config``), which ``ganlab.nets.stylegan2.load_stylegan2`` reads.
"""

import functools
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ganlab.assets import file_sha256, write_manifest
from ganlab.methods.base import AdversarialModule, OptimizerFactory, Phase, Player, StepContext
from ganlab.methods.noise.sampling import NoiseSampling
from ganlab.nets.stylegan2 import Discriminator, Generator
from ganlab.objectives.adversarial import (
    gan_critic_loss,
    nonsaturating_generator_loss,
    real_gradient_penalty,
)

LATENT_AVG_SAMPLES = 4096


def lazy_regularization_factor(every: int) -> float:
    """c = every / (every + 1): Adam's lr <- c * lr, beta <- beta^c (Karras 2020, App. B)."""
    return every / (every + 1)


def with_lazy_regularization(factory: OptimizerFactory, every: int) -> OptimizerFactory:
    """The optimizer ``factory`` builds, with LR and betas corrected for a regulariser that
    runs on every ``every``-th batch only."""
    c = lazy_regularization_factor(every)

    def build(params: Any) -> torch.optim.Optimizer:
        optimizer = factory(params)
        for group in optimizer.param_groups:
            group["lr"] *= c
            if "betas" in group:
                group["betas"] = tuple(float(beta) ** c for beta in group["betas"])
        return optimizer

    return build


def ema_half_life_images(half_life_kimg: float, rampup: float | None, images_seen: float) -> float:
    """The EMA half-life in images: ``half_life_kimg`` * 1000, during ramp-up at most
    ``rampup`` * the images seen (stylegan2-ada's ema_kimg and ema_rampup)."""
    half_life = half_life_kimg * 1000.0
    if rampup is not None:
        half_life = min(half_life, images_seen * rampup)
    return max(half_life, 1e-8)


def path_lengths(images: Tensor, latents: Tensor) -> Tensor:
    """||J_w^T y||_2 per sample, y ~ N(0, I) / sqrt(H W) (Karras 2020, Eq. 4), averaged over
    the W+ layers as in the official code. ``latents``: (B, n_latent, D) with a graph to
    ``images`` (B, C, H, W)."""
    noise = torch.randn_like(images) / (images.shape[2] * images.shape[3]) ** 0.5
    (grad,) = torch.autograd.grad((images * noise).sum(), latents, create_graph=True)
    return grad.pow(2).sum(dim=2).mean(dim=1).sqrt()


def path_length_penalty(lengths: Tensor, target: Tensor) -> Tensor:
    """E[(||J_w^T y||_2 - a)^2] with a the running mean of the lengths (Karras 2020, Eq. 4)."""
    return (lengths - target).pow(2).mean()


class StyleGAN2(NoiseSampling, AdversarialModule):
    ema_nets = ("generator",)

    def __init__(
        self,
        generator: Generator,
        discriminator: Discriminator,
        generator_optimizer: OptimizerFactory,
        discriminator_optimizer: OptimizerFactory,
        dataset: str = "data",
        r1_gamma: float = 10.0,
        r1_every: int = 16,
        path_length_weight: float = 2.0,
        path_length_every: int = 4,
        path_length_batch_shrink: int = 2,
        path_length_decay: float = 0.01,
        mixing_prob: float = 0.9,
        ema_decay: float | None = 0.998,
        ema_start_step: int = 0,
        ema_half_life_kimg: float | None = None,
        ema_rampup: float | None = None,
    ) -> None:
        if r1_every < 1 or path_length_every < 1 or path_length_batch_shrink < 1:
            raise ValueError(
                "r1_every, path_length_every and path_length_batch_shrink must be >= 1"
            )
        if not 0.0 <= mixing_prob <= 1.0:
            raise ValueError(f"mixing_prob must be in [0, 1], got {mixing_prob}")
        if ema_half_life_kimg is not None and ema_half_life_kimg <= 0:
            raise ValueError(f"ema_half_life_kimg must be > 0 or null, got {ema_half_life_kimg}")
        if ema_rampup is not None and (ema_half_life_kimg is None or ema_rampup <= 0):
            raise ValueError("ema_rampup needs ema_half_life_kimg and must be > 0")
        super().__init__(
            {"generator": generator, "discriminator": discriminator}, ema_decay, ema_start_step
        )
        self.dataset = dataset  # names the exported file: stylegan2_<dataset>_<size>.pt
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        self.r1_gamma, self.r1_every = r1_gamma, r1_every
        self.path_length_weight, self.path_length_every = path_length_weight, path_length_every
        self.path_length_batch_shrink = path_length_batch_shrink
        self.path_length_decay = path_length_decay
        self.mixing_prob = mixing_prob
        self.ema_half_life_kimg, self.ema_rampup = ema_half_life_kimg, ema_rampup
        self.register_buffer("mean_path_length", torch.zeros(()))
        self.generator_batch = 0  # images of the last generator step, over all processes

    @classmethod
    def for_sampling(cls, generator: Generator, dataset: str) -> "StyleGAN2":
        """A StyleGAN2 whose generator and EMA generator are ``generator`` (a trained one, e.g.
        from a generator file), to sample and score it; its discriminator is a fresh one that
        nothing trains."""
        discriminator = Discriminator(generator.size, channels=dict(generator.channels))
        adam = functools.partial(torch.optim.Adam, lr=2e-3, betas=(0.0, 0.99))
        module = cls(generator, discriminator, adam, adam, dataset=dataset)
        module.generator_ema.load_state_dict(generator.state_dict())
        return module.eval()

    # ---- the game ----------------------------------------------------------------------
    def players(self) -> list[Player]:
        g_every = self.path_length_every if self.path_length_weight > 0 else None
        d_every = self.r1_every if self.r1_gamma > 0 else None
        return [
            Player(
                "discriminator",
                ("discriminator",),
                self._lazy(self.discriminator_optimizer, d_every),
            ),
            Player("generator", ("generator",), self._lazy(self.generator_optimizer, g_every)),
        ]

    @staticmethod
    def _lazy(factory: OptimizerFactory, every: int | None) -> OptimizerFactory:
        return factory if every is None else with_lazy_regularization(factory, every)

    def phases(self) -> list[Phase]:
        phases = [Phase("discriminator", "discriminator", self.discriminator_loss)]
        if self.r1_gamma > 0:
            phases.append(
                Phase("discriminator_r1", "discriminator", self.r1_loss, every=self.r1_every)
            )
        phases.append(Phase("generator", "generator", self.generator_loss))
        if self.path_length_weight > 0:
            phases.append(
                Phase(
                    "generator_path_length",
                    "generator",
                    self.path_length_loss,
                    every=self.path_length_every,
                )
            )
        return phases

    def mixed_codes(self, batch_size: int) -> list[Tensor]:
        """One z per sample, or two (style mixing) with probability ``mixing_prob``."""
        n_codes = 2 if torch.rand(()).item() < self.mixing_prob else 1
        return [self.sample_latent(batch_size) for _ in range(n_codes)]

    def fake_images(self, batch_size: int, return_latents: bool = False) -> tuple[Tensor, Any]:
        return self.generator(self.mixed_codes(batch_size), return_latents=return_latents)

    def discriminator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        real = batch["image"]
        fake, _ = self.fake_images(real.shape[0])
        real_logits, fake_logits = self.discriminator(real), self.discriminator(fake.detach())
        self.log_step("score/real", real_logits.mean())
        self.log_step("score/fake", fake_logits.mean())
        return gan_critic_loss(real_logits, fake_logits)

    def r1_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        # in float32 under mixed precision too: a double backward, every r1_every batches only
        with torch.autocast(self.device.type, enabled=False):
            penalty = real_gradient_penalty(self.discriminator, batch["image"].float())
        self.log_step("reg/r1", penalty)
        return self.r1_gamma / 2 * penalty * self.r1_every

    def generator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        batch_size = batch["image"].shape[0]
        self.generator_batch = batch_size * self.rank_and_world[1]
        fake, _ = self.fake_images(batch_size)
        return nonsaturating_generator_loss(self.discriminator(fake))

    def ema_decay_now(self) -> float:
        """With ``ema_half_life_kimg``, stylegan2-ada's EMA: beta = 0.5 ** (batch / h), h the
        half-life in images, during ramp-up at most ``ema_rampup`` times the images seen so
        far (Karras et al. 2020a, training_loop.py); else the engine's warmed-up decay."""
        if self.ema_half_life_kimg is None:
            return super().ema_decay_now()
        images_seen = self.run_step * self.generator_batch  # called after the step counted
        half_life = ema_half_life_images(self.ema_half_life_kimg, self.ema_rampup, images_seen)
        return 0.5 ** (self.generator_batch / half_life)

    def path_length_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        n = max(1, batch["image"].shape[0] // self.path_length_batch_shrink)
        fake, latents = self.fake_images(n, return_latents=True)
        lengths = path_lengths(fake, latents)
        with torch.no_grad():
            self.mean_path_length.lerp_(lengths.mean(), self.path_length_decay)
        penalty = path_length_penalty(lengths, self.mean_path_length)
        self.log_step("reg/path_length", lengths.mean())
        return self.path_length_weight * self.path_length_every * penalty

    # ---- sampling and export -----------------------------------------------------------
    def generate(self, net: Generator, latent: Tensor) -> Tensor:
        images, _ = net([latent])
        return images

    @torch.no_grad()
    def decode(self, codes: Tensor) -> Tensor:
        """Images of W (B, D) or W+ (B, n_latent, D) codes from the EMA generator, with its
        stored noise maps (what ``task=edit`` decodes)."""
        net = self.averaged("generator")
        was_training = net.training
        net.eval()
        images, _ = net(
            [codes.to(self.device, self.dtype)], input_is_latent=True, randomize_noise=False
        )
        net.train(was_training)
        return images.float()

    def latent_space(self) -> tuple[Generator, Tensor, None]:
        """The EMA generator and its mean w over ``LATENT_AVG_SAMPLES`` samples (seed 0), what
        the verbs invert into (``ganlab.inversion``); no encoder."""
        generator = self.averaged("generator")
        return generator, mean_w(generator), None

    def export(self, run_dir: Path, record: dict[str, Any]) -> None:
        """Write the EMA generator as ``stylegan2_<data>_<size>.pt`` (rosinality layout) and a
        manifest entry, for ``python -m ganlab.assets publish`` to ship."""
        generator = self.averaged("generator")
        filename = f"stylegan2_{self.dataset}_{generator.size}.pt"
        sha256 = save_stylegan2(generator, run_dir / filename)
        entry = {
            "command": record["command"],
            "seed": record["seed"],
            "sha256": sha256,
            "dataset": self.dataset,
            "run_step": self.run_step,
            "created": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "evaluation": record["metrics"],
        }
        write_manifest(run_dir, {filename: entry})


@torch.no_grad()
def mean_w(generator: Generator) -> Tensor:
    """The generator's mean w over ``LATENT_AVG_SAMPLES`` z drawn with seed 0 (the exported
    ``latent_avg``, and the verbs' starting code)."""
    rng = torch.Generator().manual_seed(0)
    return generator.mean_latent(LATENT_AVG_SAMPLES, rng=rng)[0]


@torch.no_grad()
def save_stylegan2(generator: Generator, path: Path) -> str:
    """Save ``{'g_ema', 'latent_avg', 'config'}`` (what ``load_stylegan2`` reads); returns
    the file's sha256. latent_avg is the mean w of 4096 z drawn with seed 0."""
    state = {k: v.detach().cpu().clone() for k, v in generator.state_dict().items()}
    checkpoint = {
        "g_ema": state,
        "latent_avg": mean_w(generator).cpu(),
        "config": generator_config(generator),
    }
    torch.save(checkpoint, path)
    return file_sha256(path)


def generator_config(generator: Generator) -> dict[str, Any]:
    """The Generator arguments that rebuild ``generator`` (stored with an exported file)."""
    return {
        "size": generator.size,
        "style_dim": generator.style_dim,
        "n_mlp": generator.n_mlp,
        "channels": dict(generator.channels),
        "lr_mlp": generator.lr_mlp,
    }
