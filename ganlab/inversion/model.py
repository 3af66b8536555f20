"""What the inversion and editing tools act on: a frozen StyleGAN2 generator, its W statistics
and, when there is one, an encoder into its W+ space (pSp, e4e, HFGI, UDA-Inversion's).

``LatentModel.invert`` runs one of the three kinds of GAN inversion the lecture names:

- ``encoder``: learning-based, one forward pass of the trained encoder;
- ``optimisation``: the code of each image found by latent optimisation from the mean w;
- ``hybrid``: the encoder's codes as the start of the optimisation (Zhu et al. 2020's
  in-domain inversion starts this way). HFGI-style encoders also give generator
  conditions made from the image; hybrid keeps them fixed and refines the codes, so hybrid
  with 0 steps is exactly the encoder's inversion.
"""

import hashlib
from collections.abc import Callable
from dataclasses import replace

import torch
from torch import Tensor, nn

from ganlab.errors import ConfigError
from ganlab.features import get_extractor
from ganlab.inversion.optimisation import (
    InversionResult,
    OptimisationSettings,
    optimise_codes,
    per_image_mse,
    perceptual_view,
)
from ganlab.nets.stylegan2 import Generator, fit_to_input, sample_w

KINDS = ("auto", "encoder", "optimisation", "hybrid")
W_STATISTICS_SAMPLES = 4096

# images (B, C, H, W) -> (W+ codes (B, n_latent, D), generator conditions or None)
Encode = Callable[[Tensor], tuple[Tensor, tuple[Tensor, Tensor] | None]]


def generator_fingerprint(generator: nn.Module) -> str:
    """sha256 of a generator's weights (names, shapes and bytes), whatever file they came
    from: directions record it, so an edit can tell the generator they were made for."""
    digest = hashlib.sha256()
    for name, tensor in sorted(generator.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return f"sha256:{digest.hexdigest()}"


def w_std(generator: Generator, latent_avg: Tensor, n: int = W_STATISTICS_SAMPLES) -> float:
    """The projector's scalar spread of w: sqrt(sum ||w_i - w_avg||^2 / n) over n mapped z."""
    with torch.no_grad():
        w = sample_w(generator, n, rng=torch.Generator().manual_seed(123))
        return ((w - latent_avg.to(w)).pow(2).sum() / n).sqrt().item()


class LatentModel:
    """A frozen generator (+ optional encoder) that inverts images and decodes codes.

    ``source`` names where it came from (shown in indexes and stored in directions);
    ``perceptual`` is the feature-registry name of the optimisation's perceptual distance.
    """

    def __init__(
        self,
        generator: Generator,
        latent_avg: Tensor,
        source: str,
        encode: Encode | None = None,
        perceptual: str | None = "lpips_vgg",
        kind: str = "auto",
        settings: OptimisationSettings | None = None,
        progress: bool = True,
    ) -> None:
        if kind not in KINDS:
            raise ConfigError(f"inversion.kind must be one of {KINDS}, got {kind!r}")
        if kind in ("encoder", "hybrid") and encode is None:
            raise ConfigError(
                f"inversion.kind={kind} needs an encoder; {source} is a generator alone "
                "(use inversion.kind=optimisation, or a model with an encoder)"
            )
        self.generator = generator.eval().requires_grad_(False)
        self.generator.use_grouped_conv(False)  # shared-weight convs: one code per image, fast
        self.settings = settings or OptimisationSettings()
        self.generator.use_recomputation(self.settings.recompute_activations)
        self.latent_avg = latent_avg.reshape(-1)
        self.source, self.encode_images, self.progress = source, encode, progress
        self.kind = kind if kind != "auto" else ("encoder" if encode else "optimisation")
        self.perceptual_name = perceptual
        self._perceptual: nn.Module | None = None
        self._w_std: float | None = None
        self.fingerprint = generator_fingerprint(generator)

    @property
    def device(self) -> torch.device:
        return self.latent_avg.device

    def to(self, device: str | torch.device) -> "LatentModel":
        self.generator.to(device)
        self.latent_avg = self.latent_avg.to(device)
        if self._perceptual is not None:
            self._perceptual.to(device)
        return self

    @property
    def n_latent(self) -> int:
        return self.generator.n_latent

    # ---- synthesis --------------------------------------------------------------------------
    def synthesize(
        self,
        codes: Tensor,
        noises: list[Tensor] | None = None,
        conditions: tuple[Tensor, Tensor] | None = None,
    ) -> Tensor:
        """Images of W (B, D) or W+ (B, n_latent, D) codes; the generator's stored noise maps
        unless ``noises`` (one (B, 1, h, w) per layer) are given."""
        images, _ = self.generator(
            [codes],
            input_is_latent=True,
            randomize_noise=False,
            noise=noises,
            conditions=conditions,
        )
        return images

    @torch.no_grad()
    def decode(self, codes: Tensor, conditions: tuple[Tensor, Tensor] | None = None) -> Tensor:
        return self.synthesize(codes.to(self.device), conditions=conditions).float()

    def perceptual_net(self) -> nn.Module:
        """The perceptual distance's feature net, built on first use."""
        if self._perceptual is None:
            self._perceptual = get_extractor(self.perceptual_name).to(self.device)
        return self._perceptual

    def prepare_inversion(self) -> None:
        """Build now what inverting needs besides the generator (the perceptual net of the
        objective), so that missing weights (LPIPS-VGG's vgg16-397923af.pth, say) stop a
        task before it reads images or writes anything."""
        if self.perceptual_name and self.settings.lambda_perceptual > 0:
            self.perceptual_net()

    def perceptual_embedding(self, images: Tensor) -> Tensor:
        """Perceptual embeddings (B, F): their squared distance is the perceptual distance
        (LPIPS for lpips_*)."""
        return self.perceptual_net()(images)

    def perceptual_distance(self, images: Tensor, targets: Tensor) -> Tensor:
        """Per-image squared distance (B,) of the perceptual embeddings of the images seen at
        ``settings.perceptual_size``, as the optimisation compares them."""
        size = self.settings.perceptual_size
        seen, target = perceptual_view(images, size), perceptual_view(targets, size)
        return (self.perceptual_embedding(seen) - self.perceptual_embedding(target)).pow(2).sum(1)

    def code_spread(self) -> float:
        if self._w_std is None:
            self._w_std = w_std(self.generator, self.latent_avg)
        return self._w_std

    # ---- inversion ----------------------------------------------------------------------------
    def invert(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """(codes, reconstructions) of (B, C, H, W) images in [-1, 1] (the task protocol)."""
        result = self.invert_detailed(images)
        return result.codes, result.images

    def invert_detailed(self, images: Tensor, steps: int | None = None) -> InversionResult:
        """The inversion of ``self.kind`` (``steps`` overrides the optimisation's count)."""
        images = images.to(self.device)
        settings = self.settings if steps is None else replace(self.settings, steps=steps)
        if self.kind == "encoder":
            return self.invert_with_encoder(images)
        if self.kind == "hybrid":
            return self.invert_hybrid(images, settings)
        return self.optimise(images, self.latent_avg, settings)

    @torch.no_grad()
    def invert_with_encoder(self, images: Tensor) -> InversionResult:
        codes, conditions = self.encode_images(images)
        reconstructions = fit_to_input(self.synthesize(codes, conditions=conditions), images)
        losses = self.objective(reconstructions, images)
        mse = per_image_mse(reconstructions, images)[None].cpu()
        return InversionResult(codes, reconstructions, losses, mse, conditions=conditions)

    def invert_hybrid(self, images: Tensor, settings: OptimisationSettings) -> InversionResult:
        with torch.no_grad():
            start, conditions = self.encode_images(images)
        if settings.steps == 0:
            return self.invert_with_encoder(images)
        if settings.space == "w":
            raise ConfigError("hybrid inversion refines the encoder's W+ codes: use space=w+")
        result = self.optimise(images, start, settings, conditions)
        result.conditions = conditions
        return result

    def optimise(
        self,
        images: Tensor,
        start: Tensor,
        settings: OptimisationSettings,
        conditions: tuple[Tensor, Tensor] | None = None,
    ) -> InversionResult:
        def synthesize(codes: Tensor, noises: list[Tensor] | None) -> Tensor:
            return fit_to_input(self.synthesize(codes, noises, conditions), images)

        shapes = [tuple(n.shape[-2:]) for n in self.generator.make_noise()]
        return optimise_codes(
            synthesize,
            images,
            start,
            self.n_latent,
            self.code_spread(),
            settings,
            self.perceptual_embedding if self.perceptual_name else None,
            noise_shapes=shapes,
            progress=self.progress,
        )

    @torch.no_grad()
    def objective(self, reconstructions: Tensor, images: Tensor) -> Tensor:
        """The optimisation's per-image objective, for comparing any inversion's result."""
        losses = self.settings.lambda_l2 * per_image_mse(reconstructions, images)
        if self.perceptual_name and self.settings.lambda_perceptual > 0:
            losses = losses + self.settings.lambda_perceptual * self.perceptual_distance(
                reconstructions, images
            )
        return losses
