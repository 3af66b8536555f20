"""IB-GAN (Jeon et al., "IB-GAN: Disentangled Representation Learning with Information
Bottleneck GAN", AAAI 2021): InfoGAN's variational lower bound on the information the
images carry about the input, held in check by an upper bound through a stochastic layer.

The input z ~ p(z) passes a stochastic representation encoder e(r|z) = N(mean(z), diag
sigma^2(z)) (an MLP; r drawn by the reparameterisation trick) and the generator reads r:
x = G(r). Since z -> r -> x is a Markov chain, I(z; G(r)) <= I(z; r) (data processing), and
the paper bounds the two from both sides:

- MI^L = H(z) + E[log q(z | G(r))] <= I(z; G(r)): InfoGAN's bound (Chen et al. 2016,
  Eq. 5) with q a head on the discriminator's body that reconstructs the whole input z;
- MI^U = E_z[KL(e(r|z) || m(r))] >= I(z; r), with m(r) = N(0, I).

The objective, the IB Lagrangian with both bounds: min over G, e, q and max over D of
V_GAN(D, G) - lambda * MI^L + beta * MI^U, with lambda >= beta (the paper's condition; the
constructor refuses lambda < beta). beta = 0 drops the bottleneck: an InfoGAN on the whole
input with a free encoder. As InfoGAN here: q trains with the discriminator's optimizer and
both players subtract lambda * MI^L; the non-saturating game is the adversarial part; the
encoder trains with the generator, as one net (:class:`~ganlab.nets.ibgan.IBGANGenerator`,
which also gives the EMA of both and makes samples go z -> r -> x as training does, r drawn
from e(r|z) with the latent's own eps, not its mean).

Ours, not the paper's: z = [one_hot(c), u] with c ~ Cat(n_categories) and u ~ U(-1, 1)^
noise_dim, so that the digits proxy of InfoGAN (code-class accuracy) applies; q recovers c
with a softmax (``categorical_mi_lower_bound``) and u with a fixed-std Gaussian
(``gaussian_mi_lower_bound``), and H(z) = log K + noise_dim * log 2. The defaults (beta 0.2,
noise_dim 16, the nets' sizes) are ours too; see conf/model/ibgan.yaml. The paper's bounds
are cited by name (MI^L, MI^U), not by equation number.
"""

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlab.evaluation import ClassAccuracy, Evaluation
from ganlab.methods.base import OptimizerFactory, SchedulerFactory, StepContext
from ganlab.methods.noise.two_player import Tricks, TwoPlayerModule
from ganlab.objectives.adversarial import get_game, nonsaturating_generator_loss
from ganlab.objectives.mutual_information import (
    categorical_mi_lower_bound,
    gaussian_kl_to_standard_normal,
    gaussian_mi_lower_bound,
)


def ib_lagrangian(
    adversarial: Tensor, mi_lower: Tensor, mi_upper: Tensor, lambda_mi: float, beta: float
) -> Tensor:
    """adversarial - lambda * MI^L + beta * MI^U: the IB-GAN objective for one player."""
    return adversarial - lambda_mi * mi_lower + beta * mi_upper


class IBGAN(TwoPlayerModule):
    critic_name = "discriminator"
    generator_loss_is_adversarial = False  # it also holds the two MI bounds

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        q_head: Callable[..., nn.Module],
        generator_optimizer: OptimizerFactory,
        discriminator_optimizer: OptimizerFactory,
        n_categories: int = 10,
        noise_dim: int = 16,
        lambda_mi: float = 1.0,
        beta: float = 0.2,
        generator_scheduler: SchedulerFactory | None = None,
        discriminator_scheduler: SchedulerFactory | None = None,
        ema_decay: float | None = 0.999,
        ema_start_step: int = 0,
        tricks: Tricks | Mapping[str, Any] | None = None,
    ) -> None:
        if Tricks.of(tricks).virtual_batchnorm:
            raise ValueError(
                "IB-GAN takes no tricks.virtual_batchnorm: the method reads the representation "
                "r of its generator, which the reference-batch wrapper hides"
            )
        if beta < 0:
            raise ValueError(f"IB-GAN's beta weighs an upper bound and must be >= 0, got {beta}")
        if lambda_mi < beta:
            raise ValueError(
                f"IB-GAN needs lambda_mi >= beta (the paper's condition for the IB Lagrangian), "
                f"got lambda_mi={lambda_mi} < beta={beta}"
            )
        expected = n_categories + noise_dim
        if getattr(generator, "input_dim", expected) != expected:
            raise ValueError(
                f"the IB-GAN generator reads z of n_categories + noise_dim = {expected} dims, "
                f"but its input_dim is {generator.input_dim}"
            )
        head = q_head(
            in_channels=discriminator.feature_channels,
            n_categories=n_categories,
            n_continuous=noise_dim,
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
            tricks=tricks,
            critic_helpers={"q_head": head},
        )
        self.n_categories, self.noise_dim = n_categories, noise_dim
        self.lambda_mi, self.beta = lambda_mi, beta

    # ---- inputs ------------------------------------------------------------------------
    def sample_codes(
        self, n: int, generator: torch.Generator | None = None, categories: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Latent [one_hot(c), u, eps] (n, K + noise_dim + r_dim), categories c (n,) and the
        continuous input u (n, noise_dim); eps ~ N(0, I) is the encoder's reparameterisation
        noise."""
        device = "cpu" if generator is not None else self.device
        representation_dim = self.generator.representation_dim

        def draw(make: Callable[[int], Tensor]) -> Tensor:  # seeded, or this process's share
            return make(n) if generator is not None else self.draw_per_sample(make, n)

        if categories is None:
            categories = draw(
                lambda m: torch.randint(self.n_categories, (m,), generator=generator, device=device)
            )
        noise = draw(lambda m: torch.rand(m, self.noise_dim, generator=generator, device=device))
        noise = noise * 2 - 1
        eps = draw(lambda m: torch.randn(m, representation_dim, generator=generator, device=device))
        one_hot = F.one_hot(categories.to(device), self.n_categories).float()
        latent = torch.cat([one_hot, noise, eps], dim=1)
        dtype = self.dtype  # float64 under trainer.precision=64-true
        return (
            latent.to(self.device, dtype),
            categories.to(self.device),
            noise.to(self.device, dtype),
        )

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return self.sample_codes(n, generator)[0]

    # ---- the bounds --------------------------------------------------------------------
    def mi_lower(self, features: Tensor, categories: Tensor, noise: Tensor) -> Tensor:
        """MI^L = H(z) + E[log q(z | G(r))] for z = [one_hot(c), u], q factorised over c, u."""
        category_logits, noise_mean = self.q_head(features)
        mi_cat = categorical_mi_lower_bound(category_logits, categories)
        mi_noise = gaussian_mi_lower_bound(noise_mean, noise)
        self.log_step("info/categorical", mi_cat)
        self.log_step("info/continuous", mi_noise)
        self.log_step("info/mi_lower", mi_cat + mi_noise)
        return mi_cat + mi_noise

    # ---- the two players' losses -------------------------------------------------------
    def critic_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        """D and q: V_GAN's discriminator loss - lambda * MI^L on the (detached) fakes."""
        real = batch["image"]
        latent, categories, noise = self.sample_codes(real.shape[0])
        fake_features = self.discriminator.features(self.generator(latent).detach())
        adversarial = get_game("nsgan", self.real_label, self.fake_label).critic_loss(
            self.discriminator(real), self.discriminator.score(fake_features)
        )
        mi_lower = self.mi_lower(fake_features, categories, noise)
        return adversarial - self.lambda_mi * mi_lower

    def generator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        """G and e: non-saturating loss - lambda * MI^L + beta * MI^U."""
        latent, categories, noise = self.sample_codes(batch["image"].shape[0])
        representation, mean, log_var = self.generator.represent(latent)
        fake_features = self.discriminator.features(self.generator.image(representation))
        adversarial = nonsaturating_generator_loss(self.discriminator.score(fake_features))
        mi_lower = self.mi_lower(fake_features, categories, noise)
        mi_upper = gaussian_kl_to_standard_normal(mean, log_var)
        self.log_step("info/mi_upper", mi_upper)
        return ib_lagrangian(adversarial, mi_lower, mi_upper, self.lambda_mi, self.beta)

    # ---- evaluation --------------------------------------------------------------------
    @property
    def n_codes(self) -> int:
        return self.n_categories

    @torch.no_grad()
    def generate_for_codes(self, codes: Tensor, generator: torch.Generator) -> Tensor:
        """Samples for (B,) categorical codes, the rest of the latent drawn from ``generator``."""
        return self.sample(latent=self.sample_codes(len(codes), generator, codes)[0])

    def evaluations(self) -> list[Evaluation]:
        return [
            *super().evaluations(),
            ClassAccuracy("ibgan_code_class_accuracy", matching="best", note="r drawn from e(r|z)"),
        ]
