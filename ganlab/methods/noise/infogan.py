"""InfoGAN (Chen et al. 2016): a GAN whose generator input carries codes c that a Q head,
sharing the discriminator's body, must recover from the image.

Generator input: z ~ U(-1, 1)^noise_dim, a categorical code (one-hot, ``n_categories``) and
``n_continuous`` codes ~ U(-1, 1). The MI lower bound L_I (Eq. 5) is subtracted with weights
``lambda_cat`` / ``lambda_cont`` from both the discriminator's and the generator's loss
(Eq. 6; as in the reference code, Q trains with the discriminator's optimizer).
``q_head`` is a factory called with the discriminator's feature channels and the code sizes.
The non-saturating game of the GAN is used for the adversarial part.
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
from ganlab.objectives.mutual_information import categorical_mi_lower_bound, gaussian_mi_lower_bound


class InfoGAN(TwoPlayerModule):
    critic_name = "discriminator"
    generator_loss_is_adversarial = False  # it also holds the MI term

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        q_head: Callable[..., nn.Module],
        generator_optimizer: OptimizerFactory,
        discriminator_optimizer: OptimizerFactory,
        noise_dim: int = 62,
        n_categories: int = 10,
        n_continuous: int = 2,
        lambda_cat: float = 1.0,
        lambda_cont: float = 1.0,
        generator_scheduler: SchedulerFactory | None = None,
        discriminator_scheduler: SchedulerFactory | None = None,
        ema_decay: float | None = 0.999,
        ema_start_step: int = 0,
        tricks: Tricks | Mapping[str, Any] | None = None,
    ) -> None:
        expected = noise_dim + n_categories + n_continuous
        if getattr(generator, "latent_dim", expected) != expected:
            raise ValueError(
                f"the InfoGAN generator takes noise_dim + n_categories + n_continuous = {expected} "
                f"inputs, but its latent_dim is {generator.latent_dim}"
            )
        head = q_head(
            in_channels=discriminator.feature_channels,
            n_categories=n_categories,
            n_continuous=n_continuous,
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
        self.noise_dim, self.n_categories, self.n_continuous = noise_dim, n_categories, n_continuous
        self.lambda_cat, self.lambda_cont = lambda_cat, lambda_cont

    # ---- codes -------------------------------------------------------------------------
    def sample_codes(
        self, n: int, generator: torch.Generator | None = None, categories: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Latent (n, noise+K+L), categorical codes (n,), continuous codes (n, L)."""
        device = "cpu" if generator is not None else self.device

        def draw(make: Callable[[int], Tensor]) -> Tensor:  # seeded, or this process's share
            return make(n) if generator is not None else self.draw_per_sample(make, n)

        noise = draw(lambda m: torch.rand(m, self.noise_dim, generator=generator, device=device))
        noise = noise * 2 - 1
        if categories is None:
            categories = draw(
                lambda m: torch.randint(self.n_categories, (m,), generator=generator, device=device)
            )
        continuous = draw(
            lambda m: torch.rand(m, self.n_continuous, generator=generator, device=device)
        )
        continuous = continuous * 2 - 1
        one_hot = F.one_hot(categories.to(device), self.n_categories).float()
        latent = torch.cat([noise, one_hot, continuous], dim=1)
        dtype = self.dtype  # float64 under trainer.precision=64-true
        return (
            latent.to(self.device, dtype),
            categories.to(self.device),
            continuous.to(self.device, dtype),
        )

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return self.sample_codes(n, generator)[0]

    def information(self, features: Tensor, categories: Tensor, continuous: Tensor) -> Tensor:
        """lambda_cat * L_I(categorical) + lambda_cont * L_I(continuous) (Eq. 5)."""
        category_logits, continuous_mean = self.q_head(features)
        mi_cat = categorical_mi_lower_bound(category_logits, categories)
        mi_cont = gaussian_mi_lower_bound(continuous_mean, continuous)
        self.log_step("info/categorical", mi_cat)
        self.log_step("info/continuous", mi_cont)
        return self.lambda_cat * mi_cat + self.lambda_cont * mi_cont

    # ---- the two players' losses (Eq. 6) ----------------------------------------------
    def critic_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        real = batch["image"]
        latent, categories, continuous = self.sample_codes(real.shape[0])
        fake_features = self.discriminator.features(self.generator(latent).detach())
        adversarial = get_game("nsgan", self.real_label, self.fake_label).critic_loss(
            self.discriminator(real), self.discriminator.score(fake_features)
        )
        return adversarial - self.information(fake_features, categories, continuous)

    def generator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        latent, categories, continuous = self.sample_codes(batch["image"].shape[0])
        fake_features = self.discriminator.features(self.generator(latent))
        adversarial = nonsaturating_generator_loss(self.discriminator.score(fake_features))
        return adversarial - self.information(fake_features, categories, continuous)

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
            ClassAccuracy("infogan_code_class_accuracy", matching="best"),
        ]
