"""TwoPlayerModule: a generator against one critic, the shape GAN, WGAN, f-GAN and InfoGAN share.

Two players and two phases: the critic's loss on every batch, then the generator's loss on
every ``n_critic``-th batch, so each critic step sees fresh real images (Goodfellow et al.
2014, Alg. 1 with k = n_critic; Arjovsky et al. 2017, Alg. 1). A method subclasses it,
names its critic (``critic_name``: "discriminator" or "critic") and writes ``critic_loss``
and ``generator_loss`` (each ``(batch, ctx)``); nets in ``critic_helpers`` (InfoGAN's Q head)
train with the critic, nets in ``generator_helpers`` (BiGAN's encoder) with the generator.
Samples come from noise (``NoiseSampling``); the generator has an EMA.

**Tricks.** ``tricks`` (the top-level ``tricks:`` config, see :class:`Tricks`) switches on
the improved-training techniques of Salimans et al. 2016 and instance noise for any method
built on this class, without per-method copies: feature matching replaces the generator's
loss, historical averaging adds its penalty to both players' losses, minibatch
discrimination and instance noise act in the critic's net, virtual batch norm in the
generator's; label smoothing (one-sided, or two-sided with a fake target) is applied by the
methods that play a discriminator game (``real_label``, ``fake_label``).
"""

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import Tensor, nn

from ganlab.methods.base import (
    AdversarialModule,
    OptimizerFactory,
    Phase,
    Player,
    SchedulerFactory,
    StepContext,
)
from ganlab.methods.noise.sampling import NoiseSampling
from ganlab.nets.tricks import HistoricalAverage, InstanceNoise, VirtualBatchGenerator
from ganlab.objectives.tricks import (
    feature_matching_loss,
    historical_average_penalty,
    instance_noise_std,
)

REFERENCE_BATCH_SEED = 0  # the virtual-batch-norm reference latents: the same on every process


@dataclass(frozen=True)
class Tricks:
    """Salimans et al. 2016 (sec. 3) and instance noise; every option off by default."""

    feature_matching: bool = False  # generator loss ||E f(x) - E f(G(z))||^2 (sec. 3.1)
    minibatch_discrimination: int = 0  # kernels B of the critic's minibatch layer (sec. 3.2)
    minibatch_kernel_dim: int = 5  # C, the length of each kernel's rows
    historical_averaging: float = 0.0  # weight of ||theta - mean of past thetas||^2 (sec. 3.3)
    label_smoothing: float | None = None  # one-sided: the real images' target (sec. 3.4)
    label_smoothing_fake: float | None = None  # two-sided: the fakes' target too (the lecture)
    virtual_batchnorm: bool = False  # the generator's BatchNorm -> VBN (sec. 3.4)
    reference_batch_size: int = 64  # the VBN reference batch, fixed at the start of fit
    instance_noise: float = 0.0  # std of N(0, std^2) on the critic's inputs at step 0
    instance_noise_steps: int | None = None  # run steps of the linear decay to 0 (None: none)

    def __post_init__(self) -> None:
        if self.label_smoothing is not None and not 0.0 < self.label_smoothing <= 1.0:
            raise ValueError(
                f"tricks.label_smoothing is a real label in (0, 1], got {self.label_smoothing}"
            )
        real_label = 1.0 if self.label_smoothing is None else self.label_smoothing
        fake_label = self.label_smoothing_fake
        if fake_label is not None and not 0.0 <= fake_label < real_label:
            raise ValueError(
                f"tricks.label_smoothing_fake is a fake label in [0, {real_label}) (below the "
                f"real label), got {fake_label}; e.g. 0.1 beside label_smoothing=0.9"
            )
        for name in ("minibatch_discrimination", "historical_averaging", "instance_noise"):
            if getattr(self, name) < 0:
                raise ValueError(f"tricks.{name} must be >= 0, got {getattr(self, name)}")
        if self.minibatch_kernel_dim < 1 or self.reference_batch_size < 1:
            raise ValueError("tricks.minibatch_kernel_dim and reference_batch_size must be >= 1")

    @classmethod
    def of(cls, value: "Tricks | Mapping[str, Any] | None") -> "Tricks":
        """From the config node (a mapping), a Tricks, or None (all off)."""
        if value is None or isinstance(value, Tricks):
            return value or cls()
        known = {f.name for f in fields(cls)}
        if unknown := set(value) - known:
            raise ValueError(f"unknown tricks {sorted(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**dict(value))

    def switched_on(self) -> list[str]:
        """The names of the options that differ from their defaults."""
        defaults = asdict(Tricks())
        return [k for k, v in asdict(self).items() if k in TRICK_SWITCHES and v != defaults[k]]


TRICK_SWITCHES = (
    "feature_matching",
    "minibatch_discrimination",
    "historical_averaging",
    "label_smoothing",
    "label_smoothing_fake",
    "virtual_batchnorm",
    "instance_noise",
)


class TwoPlayerModule(NoiseSampling, AdversarialModule):
    critic_name = "critic"
    ema_nets = ("generator",)
    plays_discriminator_game = True  # whether label smoothing means anything
    generator_loss_is_adversarial = True  # feature matching may replace all of it

    def __init__(
        self,
        generator: nn.Module,
        critic: nn.Module,
        generator_optimizer: OptimizerFactory,
        critic_optimizer: OptimizerFactory,
        n_critic: int = 1,
        generator_scheduler: SchedulerFactory | None = None,
        critic_scheduler: SchedulerFactory | None = None,
        grad_clip_norm: float | None = None,
        ema_decay: float | None = 0.999,
        ema_start_step: int = 0,
        critic_helpers: dict[str, nn.Module] | None = None,
        generator_helpers: dict[str, nn.Module] | None = None,
        tricks: Tricks | Mapping[str, Any] | None = None,
    ) -> None:
        if n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}")
        self_name = type(self).__name__
        self.tricks = tricks = Tricks.of(tricks)
        generator, critic = self._with_net_tricks(generator, critic, tricks, self_name)
        helpers, partners = critic_helpers or {}, generator_helpers or {}
        nets = {"generator": generator, self.critic_name: critic, **helpers, **partners}
        super().__init__(nets, ema_decay, ema_start_step)
        self.critic_player_nets = (self.critic_name, *helpers)
        self.generator_player_nets = ("generator", *partners)
        self.n_critic = n_critic
        self.generator_optimizer, self.critic_optimizer = generator_optimizer, critic_optimizer
        self.generator_scheduler, self.critic_scheduler = generator_scheduler, critic_scheduler
        self.grad_clip_norm = grad_clip_norm
        if tricks.historical_averaging > 0:
            for player in ("critic", "generator"):
                averages = HistoricalAverage(self._player_parameters(player))
                self.add_module(f"historical_average_{player}", averages)

    # ---- tricks -----------------------------------------------------------------------
    def _with_net_tricks(
        self, generator: nn.Module, critic: nn.Module, tricks: Tricks, owner: str
    ) -> tuple[nn.Module, nn.Module]:
        """The nets with the tricks that live inside them, after checking the method can
        take each switched-on trick."""
        for name in ("label_smoothing", "label_smoothing_fake"):
            if getattr(tricks, name) is not None and not self.plays_discriminator_game:
                raise ValueError(
                    f"tricks.{name} smooths a discriminator's labels; {owner} plays "
                    "no discriminator game (it has a critic of unbounded scores)"
                )
        if tricks.feature_matching and not self.generator_loss_is_adversarial:
            raise ValueError(
                f"tricks.feature_matching replaces the generator's loss, and {owner}'s holds "
                "more than the adversarial term"
            )
        if tricks.feature_matching and not hasattr(critic, "features"):
            raise ValueError(
                f"tricks.feature_matching needs a critic with intermediate features "
                f"(.features), and {type(critic).__name__} has none"
            )
        if tricks.minibatch_discrimination:
            if not hasattr(critic, "add_minibatch_discrimination"):
                raise ValueError(
                    f"tricks.minibatch_discrimination: the critic {type(critic).__name__} has no "
                    "place for the minibatch layer (DCGAN critics have)"
                )
            critic.add_minibatch_discrimination(
                tricks.minibatch_discrimination, tricks.minibatch_kernel_dim
            )
        if tricks.instance_noise > 0 and not any(
            isinstance(m, InstanceNoise) for m in critic.modules()
        ):
            raise ValueError(
                f"tricks.instance_noise: the critic {type(critic).__name__} has no input-noise "
                "layer (DCGAN critics have)"
            )
        if tricks.virtual_batchnorm:
            generator = VirtualBatchGenerator(generator, tricks.reference_batch_size)
        return generator, critic

    @property
    def real_label(self) -> float:
        """The discriminator's target for real images: 1, or the smoothed label."""
        return 1.0 if self.tricks.label_smoothing is None else self.tricks.label_smoothing

    @property
    def fake_label(self) -> float:
        """The discriminator's target for fakes: 0, or the two-sided smoothed label."""
        fake = self.tricks.label_smoothing_fake
        return 0.0 if fake is None else fake

    def critic_features(self, image: Tensor, batch: dict[str, Any]) -> Tensor:
        """The critic's intermediate features that feature matching compares; conditional
        methods pass the batch's conditions."""
        return self.get_submodule(self.critic_name).features(image)

    def feature_matching_generator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        """||E f(x) - E f(G(z))||^2 on the critic's last features (Salimans et al., sec. 3.1)."""
        real_features = self.critic_features(batch["image"], batch).detach()
        fake_features = self.critic_features(self.fake_batch(batch), batch)
        return feature_matching_loss(real_features, fake_features)

    def _with_historical_average(self, loss_of: Any, player: str) -> Any:
        """``loss_of`` plus w * ||theta - mean of past thetas||^2 over the player's nets."""
        if self.tricks.historical_averaging <= 0:
            return loss_of

        def loss(batch: dict[str, Any], ctx: StepContext) -> Tensor:
            params = self._player_parameters(player)
            average = self.get_submodule(f"historical_average_{player}")
            penalty = historical_average_penalty(params, average.averages)
            self.log_step(f"loss/{player}_historical_average", penalty)
            return loss_of(batch, ctx) + self.tricks.historical_averaging * penalty

        return loss

    def _player_parameters(self, player: str) -> list[nn.Parameter]:
        """The parameters of the critic's ("critic") or the generator's ("generator") nets."""
        names = self.critic_player_nets if player == "critic" else self.generator_player_nets
        return [p for name in names for p in self.get_submodule(name).parameters()]

    def _update_historical_average(self, player: str) -> None:
        if self.tricks.historical_averaging > 0:
            averages = self.get_submodule(f"historical_average_{player}")
            averages.update(self._player_parameters(player))

    def on_fit_start(self) -> None:
        super().on_fit_start()
        if self.tricks.virtual_batchnorm and not bool(self.generator.has_reference):
            rng = torch.Generator().manual_seed(REFERENCE_BATCH_SEED)
            reference = self.sample_latent(self.tricks.reference_batch_size, rng)
            for net in (self.generator, self.averaged("generator")):
                net.set_reference(reference)

    def training_step(self, batch: Any, batch_idx: int) -> None:
        if self.tricks.instance_noise > 0:
            std = instance_noise_std(
                self.run_step, self.tricks.instance_noise, self.tricks.instance_noise_steps
            )
            for layer in self.get_submodule(self.critic_name).modules():
                if isinstance(layer, InstanceNoise):
                    layer.std = std
        super().training_step(batch, batch_idx)

    def players(self) -> list[Player]:
        return [
            Player(
                self.critic_name,
                self.critic_player_nets,
                self.critic_optimizer,
                self.critic_scheduler,
                self.grad_clip_norm,
            ),
            Player(
                "generator",
                self.generator_player_nets,
                self.generator_optimizer,
                self.generator_scheduler,
                self.grad_clip_norm,
            ),
        ]

    def phases(self) -> list[Phase]:
        generator_loss = (
            self.feature_matching_generator_loss
            if self.tricks.feature_matching
            else self.generator_loss
        )
        return [
            Phase(
                self.critic_name,
                self.critic_name,
                self._with_historical_average(self.critic_loss, "critic"),
                after_step=self._after_critic_phase,
            ),
            Phase(
                "generator",
                "generator",
                self._with_historical_average(generator_loss, "generator"),
                every=self.n_critic,
                after_step=lambda: self._update_historical_average("generator"),
            ),
        ]

    def _after_critic_phase(self) -> None:
        self.after_critic_step()
        self._update_historical_average("critic")

    @abstractmethod
    def critic_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        """What the critic minimises on one batch of real data."""

    @abstractmethod
    def generator_loss(self, batch: dict[str, Any], ctx: StepContext) -> Tensor:
        """What the generator minimises (``batch`` gives the batch size)."""

    def after_critic_step(self) -> None:
        """Runs after each critic step; WGAN clips the critic's weights here."""

    def fake_batch(self, batch: dict[str, Any]) -> Tensor:
        """Generated images, as many as the batch has real ones."""
        return self.generator(self.sample_latent(batch["image"].shape[0]))
