"""EMA copies of nets (Karras et al. 2018's G_ema; StyleGAN2 samples and evaluates with it).

Each net named in a method's ``ema_nets`` gets a frozen copy ``<net>_ema``, lerp-updated after
each ``step_phase`` step once ``ema_start_step`` is reached (copied before that). The copies are
saved with the module; ``averaged(net)`` returns the copy (or the net itself without EMA).
"""

import copy
from collections.abc import Mapping

import torch
from torch import nn


class EMANets:
    """The EMA copies of a module's nets (a mixin of AdversarialModule; the decay's warm-up
    counts the engine's ``run_step``)."""

    ema_nets: tuple[str, ...] = ()  # nets that get an EMA copy ``<net>_ema``

    def _init_ema(
        self, nets: Mapping[str, nn.Module], ema_decay: float | None, ema_start_step: int
    ) -> None:
        if ema_decay is not None and not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1) or null, got {ema_decay}")
        missing = [name for name in self.ema_nets if name not in nets]
        if ema_decay is not None and missing:
            raise ValueError(f"{type(self).__name__}: no trained net called {missing} for EMA")
        self.ema_decay = ema_decay
        self.ema_start_step = ema_start_step
        self.ema_names = () if ema_decay is None else tuple(self.ema_nets)
        for name in self.ema_names:
            self.add_module(f"{name}_ema", copy.deepcopy(nets[name]).eval().requires_grad_(False))

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
