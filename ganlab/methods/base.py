"""AdversarialModule: the base of every ganlab method, a LightningModule with manual
optimisation of a min-max game.

It assembles three parts, each in its own file:

- the phase engine (``ganlab.methods.engine``): players and phases declared as data, the
  training step that walks them, ``StepContext`` and ``phase_name``;
- EMA copies of nets (``ganlab.methods.ema``);
- checkpoint state (``ganlab.checkpoints``): what a training checkpoint records and how it
  is restored.

What stays here: the nets a method trains and the frozen ones it only uses, what is
replicated under DDP, and the hooks that tie the parts to Lightning.

**Frozen nets** (``frozen=``: a pretrained StyleGAN2, a feature net) are part of the module
but never trained: always in eval mode, no gradients, in no optimizer, never all-reduced or
broadcast under DDP. A frozen net loaded from a file (:class:`Frozen` with a ``source``) is
left out of checkpoints, which record its path and sha256 instead; restoring checks that the
run loaded the same file. A frozen net without a source is stored like any other.

**What a run shows and scores.** ``evaluations()`` declares what the evaluation computes
(``ganlab.evaluation``: generation, reconstruction, translation); the first declaration also
decides what the sample-grid callback draws.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from torch import Tensor, nn

from ganlab.assets import file_sha256
from ganlab.checkpoints import check_frozen_sources, restore_training_record, training_record
from ganlab.distributed import (
    PlayerDDPStrategy,
    gradients_are_averaged,
    own_share,
    trainer_rank_and_world,
)
from ganlab.methods.ema import EMANets
from ganlab.methods.engine import (  # noqa: F401  (methods import the engine's names from here)
    NonFiniteLossError,
    OptimizerFactory,
    Phase,
    PhaseEngine,
    Player,
    SchedulerFactory,
    StepContext,
    without_unset_settings,
)


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


class AdversarialModule(PhaseEngine, EMANets, pl.LightningModule, ABC):
    """Base of every ganlab method. Subclasses implement ``players`` and ``phases``."""

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
        self.net_names = tuple(nets)
        for name, net in nets.items():
            self.add_module(name, net)
        self.frozen_sources = {name: (f.source, f.fingerprint) for name, f in frozen.items()}
        for name, declared in frozen.items():
            self.add_module(name, declared.net.eval().requires_grad_(False))
        self._init_ema(nets, ema_decay, ema_start_step)
        self._init_engine()

    # ---- what a method declares -------------------------------------------------------
    @abstractmethod
    def players(self) -> list[Player]:
        """The optimizers of the game, in a fixed order (checkpoints restore them by position)."""

    @abstractmethod
    def phases(self) -> list[Phase]:
        """The losses walked by ``training_step``, in order."""

    def evaluations(self) -> list[Any]:
        """What the run is scored on (``ganlab.evaluation`` declarations): metrics.json, the
        periodic evaluation and ``task=eval`` score them; the first that previews decides
        what the sample-grid callback shows. None by default."""
        return []

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
        rank, world_size = trainer_rank_and_world(self)
        if world_size == 1:
            return draw(n)
        return own_share(draw(n * world_size), rank, world_size)

    @property
    def rank_and_world(self) -> tuple[int, int]:
        """(rank, number of processes) of the run: (0, 1) on one process."""
        return trainer_rank_and_world(self)

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
            self.log_step(f"loss/{self.phase_name}/{name}", value)
            weight = weights.get(name, 1.0)
            if weight != 0:
                total = value * weight if total is None else total + value * weight
        if total is None:
            raise ValueError(f"phase {self.phase_name!r}: every loss term is weighted 0")
        return total

    # ---- step logging --------------------------------------------
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
        checkpoint.setdefault("ganlab", {}).update(training_record(self))

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.restore_frozen_state(checkpoint)
        restore_training_record(self, checkpoint)

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
