"""The phase engine: a min-max game declared as data, walked by ``training_step``.

A method declares its **players** (which nets one optimizer trains, with its LR scheduler
and gradient clipping) and its **phases** (a loss function minimised by one player, run
``repeats`` times per batch, on every ``every``-th batch). ``training_step`` walks the phases
in order, like the phase list of stylegan2-ada's training loop; a method writes loss
functions, not loop plumbing. Examples:

- WGAN: critic phase every batch, generator phase every ``n_critic`` batches, so each critic
  step sees fresh real images (Arjovsky et al. 2017, Alg. 1).
- StyleGAN2: ``Dmain`` every batch, ``Dreg`` every 16, ``Gmain`` every batch, ``Greg`` every 4.
- UDA-Inversion: ``head`` (maximise the discrepancy) then ``encoder`` on the same batch.
- CycleGAN: ``generators`` then ``discriminators``, which reuse the generators' fakes.

**Per-step context.** A phase's loss is ``loss(batch, ctx)``: ``ctx`` is a
:class:`StepContext`, a dict the phases of one training step share (``ctx.remember(key,
compute)`` computes a value once per step), e.g. a discriminator phase reusing the images
the generator phase made. ``phase_name`` is the phase running now (None between phases).

**Steps.** Lightning's ``global_step`` (and so ``trainer.max_steps`` and step-based
checkpointing) counts *optimizer* steps of every player: a WGAN with n_critic=5 adds 6 per
generator step. ganlab's budget is the top-level ``steps``, in steps of ``step_phase``;
``optimizer_steps_for(steps)`` converts it exactly, and ``run_step`` is the counter sample
grids, EMA and evaluation use.

:class:`PhaseEngine` is a mixin of ``ganlab.methods.base.AdversarialModule``, which provides
Lightning, step logging (``log_step``) and the DDP gradient averaging; ``EMANets`` (a mixin
beside it) the EMA update.
"""

import functools
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], torch.optim.lr_scheduler.LRScheduler]


class StepContext(dict):
    """Values the phases of one training step share (a fresh one per batch).

    ``remember(key, compute)`` computes a value once per step with every player's nets
    trainable, so its graph reaches all of them: a later phase of another player can
    back-propagate through it (UDA-Inversion's head phase computes the reconstructions, the
    encoder phase trains through them); a phase that must not, detaches it.
    """

    def __init__(self, module: "PhaseEngine | None" = None) -> None:
        super().__init__()
        self.module = module

    def remember(self, key: str, compute: Callable[[], Any]) -> Any:
        """``self[key]``, computed by ``compute()`` the first time it is asked for."""
        if key not in self:
            context = nullcontext() if self.module is None else self.module.every_player_trainable()
            with context:
                self[key] = compute()
        return self[key]


@dataclass(frozen=True)
class Player:
    """The nets one optimizer trains. Phases that name the same player share its optimizer."""

    name: str
    nets: tuple[str, ...]
    optimizer: OptimizerFactory
    scheduler: SchedulerFactory | None = None  # stepped after each step of this player
    grad_clip_norm: float | None = None  # max global L2 norm of this player's gradients


@dataclass(frozen=True)
class Phase:
    """One loss minimised by one player: run ``repeats`` times on every ``every``-th batch."""

    name: str
    player: str
    loss: Callable[[Any, StepContext], Tensor]  # (batch, ctx) -> scalar loss to minimise
    repeats: int = 1
    every: int = 1
    after_step: Callable[[], None] | None = None  # e.g. WGAN's weight clipping


def without_unset_settings(factory: OptimizerFactory) -> OptimizerFactory:
    """A config's optimizer partial without its null settings: ``betas: null`` in an
    experiment that swaps Adam for RMSprop means "not a setting of this optimizer" (Hydra
    merges the swapped optimizer's keys into the default's and cannot delete one)."""
    if not isinstance(factory, functools.partial):
        return factory
    keywords = {k: v for k, v in factory.keywords.items() if v is not None}
    return functools.partial(factory.func, *factory.args, **keywords)


class NonFiniteLossError(RuntimeError):
    """A phase produced a NaN or infinite loss; training stops before the bad step is applied."""


class PhaseEngine:
    """Players, phases and the training step that walks them (a mixin of AdversarialModule)."""

    step_phase = "generator"  # the phase whose steps are the run's steps

    def _init_engine(self) -> None:
        self.iteration = 0  # training batches seen
        self.phase_steps: dict[str, int] = {}
        self.phase_name: str | None = None  # the phase running now
        self._step_logs: dict[str, Tensor] = {}
        self._resting: list[nn.Parameter] = []  # other players' parameters while a phase runs
        self._trainable_depth = 0  # nesting of every_player_trainable
        self._phases: list[Phase] | None = None
        self._players: dict[str, Player] | None = None

    @property
    def phase_list(self) -> list[Phase]:
        return self._schedule()[0]

    @property
    def player_table(self) -> dict[str, Player]:
        return self._schedule()[1]

    def _schedule(self) -> tuple[list[Phase], dict[str, Player]]:
        if self._phases is None or self._players is None:
            self._phases, self._players = self._validated_schedule()
        return self._phases, self._players

    def _validated_schedule(self) -> tuple[list[Phase], dict[str, Player]]:
        players = {player.name: player for player in self.players()}
        phases = self.phases()
        owner = type(self).__name__
        names = [phase.name for phase in phases]
        if len(set(names)) != len(names):
            raise ValueError(f"{owner}: phase names must be unique, got {names}")
        if self.step_phase not in names:
            raise ValueError(f"{owner}: step_phase {self.step_phase!r} is not among {names}")
        for phase in phases:
            if phase.player not in players:
                raise ValueError(
                    f"{owner}: phase {phase.name!r} names unknown player {phase.player!r}"
                )
            if phase.repeats < 1 or phase.every < 1:
                raise ValueError(f"{owner}: phase {phase.name!r} needs repeats >= 1 and every >= 1")
        for player in players.values():
            for net in player.nets:
                if net in self.frozen_sources:
                    raise ValueError(f"{owner}: player {player.name!r} trains frozen net {net!r}")
                if net not in self.net_names:
                    raise ValueError(f"{owner}: player {player.name!r} trains unknown net {net!r}")
        return phases, players

    @property
    def run_step(self) -> int:
        """How many ``step_phase`` steps were taken (the run's step count)."""
        return self.phase_steps.get(self.step_phase, 0)

    def phase_runs_now(self, phase: Phase, iteration: int) -> bool:
        return (iteration + 1) % phase.every == 0

    def optimizer_steps_for(self, steps: int) -> int:
        """Lightning global_step after ``steps`` steps of ``step_phase``, from the schedule."""
        optimizer_steps, done, iteration = 0, 0, 0
        while done < steps:
            for phase in self.phase_list:
                if self.phase_runs_now(phase, iteration):
                    optimizer_steps += phase.repeats
                    done += phase.repeats if phase.name == self.step_phase else 0
            iteration += 1
        return optimizer_steps

    def configure_optimizers(self) -> tuple[list[torch.optim.Optimizer], list[Any]]:
        optimizers, schedulers = [], []
        self._player_params: dict[str, list[nn.Parameter]] = {}
        for player in self.player_table.values():
            # a layer two nets share (UNIT's coupled discriminators) is optimised once
            params = list(
                dict.fromkeys(
                    p for net in player.nets for p in self.get_submodule(net).parameters()
                )
            )
            self._player_params[player.name] = params
            optimizer = without_unset_settings(player.optimizer)(params)
            optimizers.append(optimizer)
            if player.scheduler is not None:
                schedulers.append({"scheduler": player.scheduler(optimizer), "name": player.name})
        return optimizers, schedulers

    def training_step(self, batch: Any, batch_idx: int) -> None:
        optimizers, schedulers = self._player_handles()
        self._step_logs = {}
        ctx = StepContext(self)
        for phase in self.phase_list:
            if self.phase_runs_now(phase, self.iteration):
                for _ in range(phase.repeats):
                    self._run_phase(
                        phase, batch, ctx, optimizers[phase.player], schedulers.get(phase.player)
                    )
        self.iteration += 1
        if (strategy := self._player_ddp()) is not None:
            strategy.synchronize_buffers(list(self.synchronized_buffers()))
        self._write_step_logs()

    def _player_handles(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Each player's (Lightning-wrapped) optimizer and, if it has one, its LR scheduler,
        in the order ``configure_optimizers`` created them."""
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        schedulers = self.lr_schedulers() or []
        schedulers = schedulers if isinstance(schedulers, list) else [schedulers]
        scheduled = [p.name for p in self.player_table.values() if p.scheduler is not None]
        return (
            dict(zip(self.player_table, optimizers, strict=True)),
            dict(zip(scheduled, schedulers, strict=True)),
        )

    def _run_phase(
        self, phase: Phase, batch: Any, ctx: StepContext, optimizer: Any, scheduler: Any = None
    ) -> None:
        player = self.player_table[phase.player]
        self.phase_name = phase.name
        with self.stepping(player):
            loss = phase.loss(batch, ctx)
            if not torch.isfinite(loss):
                self.phase_name = None
                raise NonFiniteLossError(
                    f"phase {phase.name!r} produced a non-finite loss ({loss.item()}) at run "
                    f"step {self.run_step} (global step {self.global_step}); the step was "
                    "not applied. Lower the learning rate, check the data range, or resume from "
                    "the last checkpoint with other settings."
                )
            optimizer.zero_grad(set_to_none=True)
            with self._averaging_gradients(player):
                self.manual_backward(loss)
            if player.grad_clip_norm is not None:
                self.clip_gradients(
                    optimizer,
                    gradient_clip_val=player.grad_clip_norm,
                    gradient_clip_algorithm="norm",
                )
            optimizer.step()
        self.phase_name = None
        if phase.after_step is not None:
            phase.after_step()
        if scheduler is not None:
            scheduler.step()
        self.phase_steps[phase.name] = self.phase_steps.get(phase.name, 0) + 1
        if phase.name == self.step_phase:
            self.update_ema()
        self.log_step(f"loss/{phase.name}", loss)

    @contextmanager
    def stepping(self, player: Player) -> Iterator[None]:
        """While ``player``'s phase runs only its parameters require grad: the other players'
        nets stay out of the backward pass (what Lightning's ``toggled_optimizer`` does)."""
        mine = {id(p) for p in self._player_params[player.name]}
        others = [
            p
            for name, params in self._player_params.items()
            if name != player.name
            for p in params
            if p.requires_grad and id(p) not in mine
        ]
        for param in others:
            param.requires_grad_(False)
        self._resting = others
        try:
            yield
        finally:
            for param in others:
                param.requires_grad_(True)
            self._resting = []

    @contextmanager
    def every_player_trainable(self) -> Iterator[None]:
        """Inside a phase: the other players' parameters require grad again (``ctx.remember``;
        nested calls restore the phase's state only when the outermost one ends)."""
        if self._trainable_depth == 0:
            for param in self._resting:
                param.requires_grad_(True)
        self._trainable_depth += 1
        try:
            yield
        finally:
            self._trainable_depth -= 1
            if self._trainable_depth == 0:
                for param in self._resting:
                    param.requires_grad_(False)
