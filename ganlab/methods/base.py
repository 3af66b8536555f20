"""AdversarialModule: manual optimisation of a min-max game, declared as data.

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
the generator phase made.

**Frozen nets** (``frozen=``: a pretrained StyleGAN2, a feature net) are part of the module
but never trained: always in eval mode, no gradients, in no optimizer, never all-reduced or
broadcast under DDP. A frozen net loaded from a file (:class:`Frozen` with a ``source``) is
left out of checkpoints, which record its path and sha256 instead; restoring checks that the
run loaded the same file. A frozen net without a source is stored like any other.

**Steps.** Lightning's ``global_step`` (and so ``trainer.max_steps`` and step-based
checkpointing) counts *optimizer* steps of every player: a WGAN with n_critic=5 adds 6 per
generator step. ganlab's budget is the top-level ``steps``, in steps of ``step_phase``;
``optimizer_steps_for(steps)`` converts it exactly, and ``run_step`` is the counter sample
grids, EMA and evaluation use.

**EMA.** Each net named in ``ema_nets`` gets a frozen copy ``<net>_ema``, lerp-updated after
each ``step_phase`` step once ``ema_start_step`` is reached (copied before that). The copies
are saved with the module; ``averaged(net)`` returns the copy (or the net without EMA).

**What a run shows and scores.** ``evaluations()`` declares what the evaluation computes
(``ganlab.evaluation``: generation, reconstruction, translation); the first declaration also
decides what the sample-grid callback draws.
"""

import copy
import functools
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import WandbLogger
from torch import Tensor, nn

from ganlab.distributed import PlayerDDPStrategy, gradients_are_averaged, own_share, process_share
from ganlab.errors import CheckpointError
from ganlab.features.weights import file_sha256

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], torch.optim.lr_scheduler.LRScheduler]


class StepContext(dict):
    """Values the phases of one training step share (a fresh one per batch).

    ``remember(key, compute)`` computes a value once per step with every player's nets
    trainable, so its graph reaches all of them: a later phase of another player can
    back-propagate through it (UDA-Inversion's head phase computes the reconstructions, the
    encoder phase trains through them); a phase that must not, detaches it.
    """

    def __init__(self, module: "AdversarialModule | None" = None) -> None:
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


@dataclass(frozen=True)
class Frozen:
    """A pretrained net a method uses but never trains. With a ``source`` (the file its
    weights came from, or a feature-registry name) checkpoints store the source and the
    ``fingerprint`` of its weights (``sha256:<hex>`` of a file) instead of the weights."""

    net: nn.Module
    source: str | None = None
    fingerprint: str | None = None

    def __post_init__(self) -> None:
        if self.source and not self.fingerprint:
            raise ValueError(f"frozen net from {self.source} needs the fingerprint of its weights")

    @classmethod
    def from_file(cls, net: nn.Module, path: str | Path, shown_as: str | None = None) -> "Frozen":
        """``net`` loaded from ``path``; ``shown_as`` is how checkpoints name the source
        (e.g. ``asset:<file>``, the same on every machine)."""
        return cls(net, shown_as or str(path), f"sha256:{file_sha256(Path(path))}")

    @classmethod
    def feature(cls, name: str) -> "Frozen":
        """The feature-registry net ``name`` (``ganlab.features``), stored by name and weights."""
        from ganlab.features import get_extractor

        extractor = get_extractor(name)
        return cls(extractor, f"features:{name}", extractor.fingerprint)


def without_unset_settings(factory: OptimizerFactory) -> OptimizerFactory:
    """A config's optimizer partial without its null settings: ``betas: null`` in an
    experiment that swaps Adam for RMSprop means "not a setting of this optimizer" (Hydra
    merges the swapped optimizer's keys into the default's and cannot delete one)."""
    if not isinstance(factory, functools.partial):
        return factory
    keywords = {k: v for k, v in factory.keywords.items() if v is not None}
    return functools.partial(factory.func, *factory.args, **keywords)


@contextmanager
def evaluating(*nets: nn.Module) -> Iterator[None]:
    """``nets`` in eval mode inside the block, each back in its own mode after it."""
    modes = [net.training for net in nets]
    for net in nets:
        net.eval()
    try:
        yield
    finally:
        for net, mode in zip(nets, modes, strict=True):
            net.train(mode)


class NonFiniteLossError(RuntimeError):
    """A phase produced a NaN or infinite loss; training stops before the bad step is applied."""


class AdversarialModule(pl.LightningModule, ABC):
    """Base of every ganlab method. Subclasses implement ``players`` and ``phases``."""

    step_phase = "generator"  # the phase whose steps are the run's steps
    ema_nets: tuple[str, ...] = ()  # nets that get an EMA copy ``<net>_ema``

    def __init__(
        self,
        nets: Mapping[str, nn.Module],
        ema_decay: float | None = 0.999,
        ema_start_step: int = 0,
        frozen: Mapping[str, nn.Module | Frozen] | None = None,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        frozen = {k: v if isinstance(v, Frozen) else Frozen(v) for k, v in (frozen or {}).items()}
        if clash := set(nets) & set(frozen):
            raise ValueError(f"nets {sorted(clash)} are declared both trained and frozen")
        if ema_decay is not None and not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1) or null, got {ema_decay}")
        missing = [name for name in self.ema_nets if name not in nets]
        if ema_decay is not None and missing:
            raise ValueError(f"{type(self).__name__}: no trained net called {missing} for EMA")
        self.net_names = tuple(nets)
        for name, net in nets.items():
            self.add_module(name, net)
        self.frozen_sources = {name: (f.source, f.fingerprint) for name, f in frozen.items()}
        for name, declared in frozen.items():
            self.add_module(name, declared.net.eval().requires_grad_(False))
        self.ema_decay = ema_decay
        self.ema_start_step = ema_start_step
        self.ema_names = () if ema_decay is None else tuple(self.ema_nets)
        for name in self.ema_names:
            self.add_module(f"{name}_ema", copy.deepcopy(nets[name]).eval().requires_grad_(False))
        self.iteration = 0  # training batches seen
        self.phase_steps: dict[str, int] = {}
        self._step_logs: dict[str, Tensor] = {}
        self._phase_name: str | None = None
        self._resting: list[nn.Parameter] = []  # other players' parameters while a phase runs
        self._trainable_depth = 0  # nesting of every_player_trainable
        self._phases: list[Phase] | None = None
        self._players: dict[str, Player] | None = None

    # ---- what a method declares -------------------------------------------------------
    @abstractmethod
    def players(self) -> list[Player]:
        """The optimizers of the game, in a fixed order (checkpoints restore them by position)."""

    @abstractmethod
    def phases(self) -> list[Phase]:
        """The losses walked by ``training_step``, in order."""

    def evaluations(self) -> list[Any]:
        """What the evaluation computes (``ganlab.evaluation`` declarations); the first one
        also decides what the sample-grid callback shows. None by default."""
        return []

    def extra_metrics(
        self, datamodule: Any, n_samples: int, seed: int
    ) -> dict[str, dict[str, Any]]:
        """Method-specific figures for metrics.json: ``{"metrics": {...}, "protocol": {...}}``."""
        return {"metrics": {}, "protocol": {}}

    def check_data(self, datamodule: Any) -> None:
        """Refuse data this method cannot train on, before anything is built around it
        (``task=fit`` calls it); every data set is fine by default."""

    def export(self, run_dir: Path, record: dict[str, Any]) -> None:
        """Write artifacts other runs use into ``run_dir`` after fit (e.g. a trained feature
        net); ``record`` holds ``command``, ``seed`` and the final ``metrics``. Most methods
        have none."""

    # ---- helpers for loss functions ---------------------------------------------------
    def draw_per_sample(self, draw: Callable[[int], Tensor], n: int) -> Tensor:
        """``draw(n)`` for this process's ``n`` samples, the same numbers however the global
        batch is split: on W processes each draws the global batch (the processes' RNGs are
        seeded alike) and keeps rows rank, rank + W, ..., the positions Lightning's
        distributed sampler gives it (see ganlab.distributed)."""
        rank, world_size = process_share(self)
        if world_size == 1:
            return draw(n)
        return own_share(draw(n * world_size), rank, world_size)

    @property
    def rank_and_world(self) -> tuple[int, int]:
        """(rank, number of processes) of the run: (0, 1) on one process."""
        return process_share(self)

    def weighted_sum(
        self, terms: Mapping[str, Tensor], weights: Mapping[str, float] | None = None
    ) -> Tensor:
        """sum_k weights[k] * terms[k] (weights default to 1; a term weighted 0 is left out
        of the sum). Each term is logged unweighted as ``loss/<phase>/<term>``."""
        weights = weights or {}
        if unknown := set(weights) - set(terms):
            raise KeyError(f"weights for terms that were not computed: {sorted(unknown)}")
        total = None
        for name, value in terms.items():
            self.log_step(f"loss/{self._phase_name}/{name}", value)
            weight = weights.get(name, 1.0)
            if weight != 0:
                total = value * weight if total is None else total + value * weight
        if total is None:
            raise ValueError(f"phase {self._phase_name!r}: every loss term is weighted 0")
        return total

    # ---- declared structure, validated once --------------------------------------------
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

    # ---- Lightning hooks ---------------------------------------------------------------
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

    def log_step(self, name: str, value: Tensor) -> None:
        """Log a scalar for this training step only (a loss term, an estimate)."""
        self._step_logs[name] = value.detach()

    def _write_step_logs(self) -> None:
        """Send this step's values to the loggers, tagged with the phases that ran.

        Lightning's ``self.log`` repeats a value on later steps until the epoch ends; a
        generator loss must appear only on the steps where the generator stepped. The
        progress bar shows the phase losses (``loss/<phase>``), the loggers every value.
        """
        losses = {k: v for k, v in self._step_logs.items() if k.count("/") == 1 and "loss/" in k}
        self.log_dict(losses, on_step=True, on_epoch=False, prog_bar=True, logger=False)
        if self.loggers and self.iteration % self.trainer.log_every_n_steps == 0:
            values = {name: value.item() for name, value in self._step_logs.items()}
            values["run_step"] = self.run_step
            for logger in self.loggers:
                logger.log_metrics(values, step=self.global_step)

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
        self._phase_name = phase.name
        with self.stepping(player):
            loss = phase.loss(batch, ctx)
            if not torch.isfinite(loss):
                self._phase_name = None
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
        self._phase_name = None
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

    def on_fit_start(self) -> None:
        if not gradients_are_averaged(self.trainer):
            raise RuntimeError(
                f"{type(self).__name__} trains on {self.trainer.world_size} processes but nothing "
                "averages their gradients; use trainer=ddp or trainer=ddp_cpu (ganlab's per-player "
                "DDP strategy) or a DDP strategy that wraps the module"
            )
        if (strategy := self._player_ddp()) is not None:
            strategy.prepare_players(self._player_params)

    def _averaging_gradients(self, player: Player) -> AbstractContextManager:
        """Around a backward pass: ganlab's DDP strategy averages the stepping player's
        gradients over processes; a whole-module DDP wrapper's reducer does it by itself."""
        strategy = self._player_ddp()
        return nullcontext() if strategy is None else strategy.averaging_gradients(player.name)

    def _player_ddp(self) -> PlayerDDPStrategy | None:
        """The trainer's strategy if it is ganlab's per-player DDP (which this module drives)."""
        strategy = self.trainer.strategy
        return strategy if isinstance(strategy, PlayerDDPStrategy) else None

    # ---- what is replicated under DDP --------------------------------------------------
    def _is_frozen(self, qualified_name: str) -> bool:
        """Whether the tensor belongs to a frozen net loaded from a source (each process loads
        it itself); a frozen net without one is synchronised like the others."""
        name = qualified_name.split(".", 1)[0]
        return name in self.frozen_sources and self.frozen_sources[name][0] is not None

    def synchronized_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters every process must hold alike (all but the frozen nets' from files)."""
        for name, param in self.named_parameters():
            if not self._is_frozen(name):
                yield param

    def synchronized_buffers(self) -> Iterator[Tensor]:
        """Buffers (running statistics) shared from rank 0 (all but the frozen nets' from files)."""
        for name, buffer in self.named_buffers():
            if not self._is_frozen(name):
                yield buffer

    # ---- EMA ---------------------------------------------------------------------------
    def averaged(self, name: str) -> nn.Module:
        """The EMA copy of net ``name`` (the net itself when it has none)."""
        return self.get_submodule(f"{name}_ema" if name in self.ema_names else name)

    def ema_decay_now(self) -> float:
        """0 (a plain copy) until ``ema_start_step``, then min(decay, (1 + t) / (10 + t)) with t
        steps since the start, so the average is not dominated by early weights in short runs."""
        t = self.run_step - self.ema_start_step
        return 0.0 if t <= 0 else min(self.ema_decay, (1.0 + t) / (10.0 + t))

    @torch.no_grad()
    def update_ema(self) -> None:
        """ema <- decay * ema + (1 - decay) * net for every net in ``ema_nets``."""
        if not self.ema_names:
            return
        decay = self.ema_decay_now()
        for name in self.ema_names:
            net, ema = self.get_submodule(name), self.get_submodule(f"{name}_ema")
            for ema_param, param in zip(ema.parameters(), net.parameters(), strict=True):
                ema_param.lerp_(param, 1.0 - decay)
            for ema_buffer, buffer in zip(ema.buffers(), net.buffers(), strict=True):
                ema_buffer.copy_(buffer)

    def train(self, mode: bool = True) -> "AdversarialModule":
        """EMA copies and frozen nets stay in eval mode whatever the module's mode."""
        super().train(mode)
        for name in (*(f"{net}_ema" for net in self.ema_names), *self.frozen_sources):
            self.get_submodule(name).eval()
        return self

    # ---- checkpoint state --------------------------------------------------------------
    def unstored_prefixes(self) -> tuple[str, ...]:
        """State-dict prefixes of the frozen nets that checkpoints leave out (those with a
        source file)."""
        return tuple(f"{name}." for name, (src, _) in self.frozen_sources.items() if src)

    def checkpoint_state_dict(self) -> dict[str, Tensor]:
        """The state a checkpoint stores: everything but frozen nets loaded from files."""
        skip = self.unstored_prefixes()
        return {k: v for k, v in self.state_dict().items() if not k.startswith(skip)}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        skip = self.unstored_prefixes()
        state = checkpoint["state_dict"]
        for key in [k for k in state if k.startswith(skip)]:
            del state[key]
        checkpoint.setdefault("ganlab", {}).update(
            {
                "method": f"{type(self).__module__}.{type(self).__qualname__}",
                "players": list(self.player_table),
                "iteration": self.iteration,
                "phase_steps": dict(self.phase_steps),
                "frozen": {
                    name: {"source": source, "fingerprint": fingerprint}
                    for name, (source, fingerprint) in self.frozen_sources.items()
                },
                "rng": capture_rng_state(),
                "wandb_run_id": next(
                    (str(lg.version) for lg in self.loggers if isinstance(lg, WandbLogger)), None
                ),
            }
        )

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        record = checkpoint.get("ganlab", {})
        self.restore_frozen_state(checkpoint)
        self.iteration = int(record.get("iteration", 0))
        self.phase_steps = {k: int(v) for k, v in record.get("phase_steps", {}).items()}
        if "rng" in record:
            restore_rng_state(record["rng"])
        resume_at_next_epoch_if_epoch_ended(checkpoint)

    def restore_frozen_state(self, checkpoint: dict[str, Any]) -> None:
        """Put the frozen nets this run loaded from their files into ``checkpoint``'s state
        dict (checkpoints leave them out), after checking they are the files it was trained
        with."""
        check_frozen_sources(checkpoint.get("ganlab", {}).get("frozen", {}), self.frozen_sources)
        skip = self.unstored_prefixes()
        state = checkpoint["state_dict"]
        for key, value in self.state_dict().items():
            if key.startswith(skip):
                state[key] = value


def check_frozen_sources(
    recorded: Mapping[str, Mapping[str, str | None]],
    loaded: Mapping[str, tuple[str | None, str | None]],
) -> None:
    """Raise CheckpointError unless every frozen net recorded in a checkpoint was loaded by
    this run from weights with the same fingerprint."""
    for name, entry in recorded.items():
        if not entry.get("fingerprint"):
            continue  # stored in the checkpoint itself
        if name not in loaded:
            raise CheckpointError(f"the checkpoint uses frozen net {name!r}, this model has none")
        source, fingerprint = loaded[name]
        if fingerprint != entry["fingerprint"]:
            raise CheckpointError(
                f"frozen net {name!r}: the checkpoint was trained with {entry['source']} "
                f"({entry['fingerprint']}), this run loaded {source or 'weights not from a file'}"
                f"{f' ({fingerprint})' if fingerprint else ''}; load the same weights"
            )


def resume_at_next_epoch_if_epoch_ended(checkpoint: dict[str, Any]) -> None:
    """Make a checkpoint saved after the last batch of an epoch resume at the next epoch.

    Lightning 2.6 keeps the finished epoch's batch counter (``current`` = batches per epoch)
    when it restores such a checkpoint (saved by ``on_train_end`` or ``on_train_epoch_end``),
    so the resumed run trains one extra batch from a fresh iterator and then starts a new
    epoch: data order and results drift from an uninterrupted run. Runs before Lightning
    restores its loops (``on_load_checkpoint`` sees the same dict), so fixing the counters
    here is enough: the epoch is marked completed and the next one starts at batch 0.
    """
    fit_loop = checkpoint.get("loops", {}).get("fit_loop", {})
    batches = fit_loop.get("epoch_loop.batch_progress")
    epochs = fit_loop.get("epoch_progress")
    if not batches or not epochs or not batches.get("is_last_batch"):
        return
    if batches["total"]["completed"] != batches["total"]["processed"]:
        return  # saved inside on_train_batch_end: Lightning's own restart path handles it
    batches["current"] = {key: 0 for key in batches["current"]}
    batches["is_last_batch"] = False
    for counter in (epochs["total"], epochs["current"]):
        counter["completed"] = counter["processed"]


def capture_rng_state() -> dict[str, Any]:
    """RNG states of torch (CPU and CUDA), numpy and random, as weights_only-loadable values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    random.setstate(_as_tuples(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuples(value: Any) -> Any:
    """random.setstate needs tuples; a checkpoint round trip may hand back lists."""
    if isinstance(value, list | tuple):
        return tuple(_as_tuples(v) for v in value)
    return value
