"""IcGAN (Perarnau, van de Weijer, Raducanu & Álvarez, "Invertible Conditional GANs for image
editing", 2016): a cGAN over binary attribute vectors plus encoders that invert it, so a
real image can be re-generated with some of its attributes changed.

- cGAN: G(z, y) reads [z, y], z ~ N(0, I) (``noise_dim``), y in {0, 1}^K; D(x, y) is a
  ``ConditionalCritic`` (y as K constant maps beside the image, or by projection). The game
  comes from ``loss=`` (the non-saturating GAN by default).
- E_z learns z from generated images, L_ez = E||z - E_z(G(z, y'))||^2 (eq. 3); E_y learns y
  from real labelled images, L_ey = E||y - sigmoid(E_y(x))||^2 (eq. 4). Layouts SNG / IND /
  IND-COND (``ganlab.nets.icgan``).
- Editing (``swap_attributes``): y = [sigmoid(E_y(x)) > 1/2], z = E_z(x), flip attribute k of
  y, x' = G(z, y').

y' for generated images is drawn from the attribute rates of the training batches seen so
far (independent Bernoullis; the paper samples y' from the training labels). Our choices
where the paper trains in two stages: the encoders train in the same run, in the generator's
phase with its optimizer (their losses do not reach G: the images they read are detached),
and E_z learns from the EMA generator's images, the generator that edits.
"""

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ganlab.evaluation import AttributeSwap, Evaluation
from ganlab.methods.base import OptimizerFactory, SchedulerFactory, StepContext
from ganlab.methods.noise.two_player import Tricks, TwoPlayerModule
from ganlab.objectives.adversarial import DISCRIMINATOR_GAMES, get_game


def noise_reconstruction_loss(predicted: Tensor, noise: Tensor) -> Tensor:
    """E||z - E_z(G(z, y'))||_2^2 (eq. 3): squared error summed over z, mean over the batch."""
    return (predicted - noise).pow(2).sum(1).mean()


def attribute_regression_loss(logits: Tensor, attributes: Tensor) -> Tensor:
    """E||y - E_y(x)||_2^2 (eq. 4), E_y(x) = sigmoid(logits) in [0, 1]^K."""
    return (torch.sigmoid(logits) - attributes).pow(2).sum(1).mean()


def swapped(attributes: Tensor, index: int) -> Tensor:
    """Binary attribute vectors with attribute ``index`` flipped (0 <-> 1)."""
    result = attributes.clone()
    result[:, index] = 1 - result[:, index]
    return result


class IcGAN(TwoPlayerModule):
    critic_name = "discriminator"
    generator_loss_is_adversarial = False  # the generator's phase also trains the encoders

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        encoders: nn.Module,
        generator_optimizer: OptimizerFactory,
        discriminator_optimizer: OptimizerFactory,
        attribute_names: list[str],
        noise_dim: int = 100,
        game: str = "nsgan",
        lambda_noise: float = 1.0,
        lambda_attributes: float = 1.0,
        generator_scheduler: SchedulerFactory | None = None,
        discriminator_scheduler: SchedulerFactory | None = None,
        ema_decay: float | None = 0.999,
        ema_start_step: int = 0,
        tricks: Tricks | Mapping[str, Any] | None = None,
    ) -> None:
        n_attributes = len(attribute_names)
        if game not in DISCRIMINATOR_GAMES:
            raise ValueError(
                f"model=icgan plays one of {', '.join(DISCRIMINATOR_GAMES)}, got {game!r}"
            )
        expected = noise_dim + n_attributes
        if getattr(generator, "latent_dim", expected) != expected:
            raise ValueError(
                f"the IcGAN generator reads noise_dim + attributes = {expected} inputs, but its "
                f"latent_dim is {generator.latent_dim}"
            )
        if (encoders.noise_dim, encoders.n_attributes) != (noise_dim, n_attributes):
            raise ValueError(
                f"the encoders give {encoders.noise_dim} noise dims and {encoders.n_attributes} "
                f"attributes; the cGAN has {noise_dim} and {n_attributes}"
            )
        super().__init__(
            generator,
            discriminator,
            generator_optimizer,
            discriminator_optimizer,
            generator_scheduler=generator_scheduler,
            critic_scheduler=discriminator_scheduler,
            ema_decay=ema_decay,
            ema_start_step=ema_start_step,
            generator_helpers={"encoders": encoders},
            tricks=tricks,
        )
        self.game = get_game(game, self.real_label, self.fake_label)
        self.attribute_names = list(attribute_names)
        self.noise_dim, self.n_attributes = noise_dim, n_attributes
        self.lambda_noise, self.lambda_attributes = lambda_noise, lambda_attributes
        self.register_buffer("attribute_rates", torch.full((n_attributes,), 0.5))
        self.register_buffer("attribute_count", torch.tensor(0, dtype=torch.long))

    # ---- conditions and codes ----------------------------------------------------------
    @torch.no_grad()
    def observe_attributes(self, attributes: Tensor) -> None:
        """Fold a batch's real attributes into the running rates y' is drawn from."""
        count = self.attribute_count + attributes.shape[0]
        share = attributes.shape[0] / count.item()
        self.attribute_rates.lerp_(attributes.float().mean(0).to(self.attribute_rates), share)
        self.attribute_count.copy_(count)

    def sample_attributes(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """(n, K) binary vectors, attribute k on with its observed rate."""
        rates = self.attribute_rates.cpu().expand(n, -1)
        if generator is not None:
            return torch.bernoulli(rates, generator=generator).to(self.device, self.dtype)
        return self.draw_per_sample(
            lambda m: torch.bernoulli(self.attribute_rates.expand(m, -1)).to(self.dtype), n
        )

    def latent_of(self, noise: Tensor, attributes: Tensor) -> Tensor:
        """The generator's input [z, y]."""
        return torch.cat([noise, attributes.to(noise)], 1)

    def sample_noise(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        if generator is not None:
            return torch.randn(n, self.noise_dim, generator=generator).to(self.device, self.dtype)
        return self.draw_per_sample(
            lambda m: torch.randn(m, self.noise_dim, device=self.device, dtype=self.dtype), n
        )

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return self.latent_of(self.sample_noise(n, generator), self.sample_attributes(n, generator))

    # ---- the players' losses -----------------------------------------------------------
    def critic_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        real, real_attributes = batch["image"], batch["attributes"].to(batch["image"])
        self.observe_attributes(real_attributes)
        fake_attributes = self.sample_attributes(real.shape[0])
        fake = self.generator(self.latent_of(self.sample_noise(real.shape[0]), fake_attributes))
        return self.game.critic_loss(
            self.discriminator(real, real_attributes),
            self.discriminator(fake.detach(), fake_attributes),
        )

    def generator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        real, real_attributes = batch["image"], batch["attributes"].to(batch["image"])
        n = real.shape[0]
        fake_attributes = self.sample_attributes(n)
        fake = self.generator(self.latent_of(self.sample_noise(n), fake_attributes))
        adversarial = self.game.generator_loss(self.discriminator(fake, fake_attributes))
        noise, inverted_attributes = self.sample_noise(n), self.sample_attributes(n)
        with torch.no_grad():  # E_z inverts the generator that edits: the EMA copy
            generated = self.averaged("generator")(self.latent_of(noise, inverted_attributes))
        terms = {
            "adversarial": adversarial,
            "noise": noise_reconstruction_loss(
                self.encoders.noise(generated, inverted_attributes), noise
            ),
            "attributes": attribute_regression_loss(
                self.encoders.attribute_logits(real), real_attributes
            ),
        }
        weights = {"noise": self.lambda_noise, "attributes": self.lambda_attributes}
        return self.weighted_sum(terms, weights)

    # ---- editing -----------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """(z, binary y) of real images: E_z(x) (with E_y(x) in IND-COND), E_y(x) > 1/2."""
        was_training = self.encoders.training
        self.encoders.eval()
        images = images.to(self.device, self.dtype)
        attributes = (torch.sigmoid(self.encoders.attribute_logits(images)) > 0.5).to(images)
        noise = self.encoders.noise(images, attributes)
        self.encoders.train(was_training)
        return noise, attributes

    @torch.no_grad()
    def swap_attributes(self, images: Tensor, names: list[str]) -> tuple[Tensor, Tensor]:
        """Images re-generated with each named attribute flipped: (len(names), B, C, H, W),
        and the flipped attribute vectors (len(names), B, K)."""
        unknown = [name for name in names if name not in self.attribute_names]
        if unknown:
            raise ValueError(
                f"unknown attributes {unknown}; this IcGAN has {', '.join(self.attribute_names)}"
            )
        noise, attributes = self.encode(images)
        edited, targets = [], []
        for name in names:
            target = swapped(attributes, self.attribute_names.index(name))
            edited.append(self.sample(latent=self.latent_of(noise, target)))
            targets.append(target)
        return torch.stack(edited), torch.stack(targets)

    @torch.no_grad()
    def reconstruct(self, images: Tensor) -> Tensor:
        """G(E_z(x), E_y(x)): the image with its own (binarised) attributes."""
        noise, attributes = self.encode(images)
        return self.sample(latent=self.latent_of(noise, attributes))

    def attributes_of(self, images: Tensor) -> Tensor:
        """E_y(x) > 1/2: the (B, K) binary attributes the encoder reads."""
        return self.encode(images)[1]

    # ---- evaluation --------------------------------------------------------------------
    def evaluations(self) -> list[Evaluation]:
        """Samples, and on data with an attribute classifier the swap accuracy on up to 500
        test images (each attribute flipped in turn: y = [E_y(x) > 1/2] with y_k flipped,
        x' = G_ema(E_z(x), y))."""
        return [
            *super().evaluations(),
            AttributeSwap(
                "icgan",
                split="test",
                max_images=500,
                note="y = [E_y(x) > 1/2] with y_k flipped, x' = G_ema(E_z(x), y)",
            ),
        ]
