"""Writing ganlab checkpoints atomically, reading them safely and checking they fit the model
about to load them."""

import os
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

from ganlab.errors import CheckpointError
from ganlab.features.weights import file_sha256
from ganlab.torch_files import load_tensor_file

MAX_LISTED = 6


PARTIAL_SUFFIX = ".partial"


def save_atomically(trainer: pl.Trainer, path: Path, weights_only: bool = False) -> None:
    """``trainer.save_checkpoint`` to ``<name>.partial`` beside ``path``, renamed to ``path``
    once complete: a process killed while writing leaves the previous file intact."""
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    trainer.save_checkpoint(partial, weights_only)
    if trainer.is_global_zero:
        os.replace(partial, path)
    trainer.strategy.barrier("ganlab.save_atomically")


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a ganlab (Lightning) checkpoint with ``weights_only=True`` onto the CPU (either
    torch file format, ``ganlab.torch_files``)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    checkpoint = load_tensor_file(path, "checkpoint")
    if (
        not isinstance(checkpoint, dict)
        or "state_dict" not in checkpoint
        or "ganlab" not in checkpoint
    ):
        raise CheckpointError(
            f"{path} is not a ganlab training checkpoint (it has no 'state_dict' and 'ganlab' "
            "record); pass a <run dir>/checkpoints/*.ckpt written by ganlab"
        )
    return checkpoint


def method_path(module: nn.Module) -> str:
    return f"{type(module).__module__}.{type(module).__qualname__}"


def check_compatible(checkpoint: dict[str, Any], module: Any, path: str | Path) -> None:
    """Raise CheckpointError naming what differs when ``checkpoint`` does not fit ``module``."""
    written_by = checkpoint["ganlab"].get("method")
    if written_by != method_path(module):
        raise CheckpointError(
            f"checkpoint {path} was written by method {written_by}, but this run builds "
            f"{method_path(module)}; choose the matching model= (see the checkpoint's run dir "
            ".hydra/config.yaml) or another checkpoint"
        )
    players, expected = checkpoint["ganlab"].get("players"), list(module.player_table)
    if "optimizer_states" in checkpoint and players is not None and players != expected:
        raise CheckpointError(
            f"checkpoint {path} trained the players {players}, this run has {expected} (its "
            "optimizers restore by position); use the settings of the run that wrote it"
        )
    expected = module.checkpoint_state_dict()  # frozen nets loaded from files are not stored
    problems = state_dict_mismatches(checkpoint["state_dict"], expected)
    if problems:
        raise CheckpointError(
            f"checkpoint {path} does not fit this model's architecture: {'; '.join(problems)}. "
            "Use the same model settings (e.g. widths, image size, channels) as the run that "
            "wrote it"
        )


def state_dict_mismatches(
    saved: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]
) -> list[str]:
    """Human-readable differences: missing keys, unexpected keys and shape mismatches."""
    missing = [k for k in expected if k not in saved]
    unexpected = [k for k in saved if k not in expected]
    shapes = [
        f"{k}: checkpoint {tuple(saved[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in saved
        and isinstance(saved[k], torch.Tensor)  # not the extra state of an image pool
        and tuple(saved[k].shape) != tuple(expected[k].shape)
    ]
    problems = []
    for label, items in (
        ("missing keys", missing),
        ("unexpected keys", unexpected),
        ("shape mismatches", shapes),
    ):
        if items:
            more = f" (+{len(items) - MAX_LISTED} more)" if len(items) > MAX_LISTED else ""
            problems.append(f"{label} {', '.join(items[:MAX_LISTED])}{more}")
    return problems


def save_model_file(
    module: Any, config: dict[str, Any], path: Path, dtype: torch.dtype | None = None
) -> str:
    """A published model: ``{"state_dict", "ganlab": {method, config, frozen, phase_steps}}``,
    what ``ckpt_path=`` / ``asset=`` read like a training checkpoint (no optimizer state).
    ``dtype`` (e.g. float16) stores floating tensors smaller; loading casts them back.
    Returns the file's sha256."""
    state = {}
    for key, value in module.checkpoint_state_dict().items():
        if not isinstance(value, torch.Tensor):  # extra state (an image pool's history)
            state[key] = value
            continue
        value = value.detach().cpu()
        state[key] = value.to(dtype) if dtype is not None and value.is_floating_point() else value
    record = {
        "method": method_path(module),
        "config": config,
        "phase_steps": dict(module.phase_steps),
        "frozen": {
            name: {"source": source, "fingerprint": fingerprint}
            for name, (source, fingerprint) in module.frozen_sources.items()
        },
    }
    torch.save({"state_dict": state, "ganlab": record}, path)
    return file_sha256(path)
