"""A run's checkpoints, from writing to resuming: atomic writes, safe reads, the check that a
checkpoint fits the model about to load it, the ``ganlab`` record a training checkpoint
carries (players, steps, frozen nets' sources, RNG states) and its restoration, published
model files, loading a trained method back (``ckpt_path=`` or ``asset=``) and weights-only
initialisation (``init_from=``). ``AdversarialModule``'s checkpoint hooks delegate here."""

import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import WandbLogger
from torch import Tensor, nn

from ganlab.assets import asset_path, file_sha256
from ganlab.errors import CheckpointError, ConfigError
from ganlab.torch_files import load_tensor_file

if TYPE_CHECKING:
    from ganlab.methods.base import AdversarialModule

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


# 2026-12-07: the method modules moved into family folders (ganlab.methods.gan ->
# ganlab.methods.noise.gan); configs and checkpoints stored before name the old paths
FAMILY_OF_METHOD_MODULE = {
    "sampling": "noise",
    "two_player": "noise",
    "gan": "noise",
    "wgan": "noise",
    "fgan": "noise",
    "infogan": "noise",
    "cgan": "noise",
    "icgan": "noise",
    "bigan": "noise",
    "ibgan": "noise",
    "stylegan2": "noise",
    "image_pool": "translation",
    "two_domain": "translation",
    "attribute_translation": "translation",
    "cyclegan": "translation",
    "distancegan": "translation",
    "gcgan": "translation",
    "unit": "translation",
    "munit": "translation",
    "stargan": "translation",
    "attgan": "translation",
    "init": "translation",
    "encoder_inversion": "inversion",
    "uda_inversion": "inversion",
    "mgi": "inversion",
    "correspondence": "instruments",
    "domain_net": "instruments",
    "segmenter": "instruments",
    "divergence_estimation": "instruments",
}


def current_target(target: str) -> str:
    """A class path as stored before the move (``ganlab.methods.gan.GAN``) -> where the
    class lives now (``ganlab.methods.noise.gan.GAN``); any other path as it is."""
    parts = target.split(".")
    if (
        len(parts) == 4
        and parts[:2] == ["ganlab", "methods"]
        and parts[2] in FAMILY_OF_METHOD_MODULE
    ):
        return ".".join(["ganlab", "methods", FAMILY_OF_METHOD_MODULE[parts[2]], *parts[2:]])
    return target


def with_current_targets(config: Any) -> Any:
    """A stored config (DictConfig, dict or list) with every ``_target_`` made current."""
    if isinstance(config, DictConfig | Mapping):
        return {
            key: current_target(value)
            if key == "_target_" and isinstance(value, str)
            else with_current_targets(value)
            for key, value in config.items()
        }
    if isinstance(config, list | tuple) or OmegaConf.is_list(config):
        return [with_current_targets(value) for value in config]
    return config


def check_compatible(checkpoint: dict[str, Any], module: Any, path: str | Path) -> None:
    """Raise CheckpointError naming what differs when ``checkpoint`` does not fit ``module``."""
    written_by = current_target(str(checkpoint["ganlab"].get("method")))
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
        "frozen": frozen_record(module),
    }
    torch.save({"state_dict": state, "ganlab": record}, path)
    return file_sha256(path)


def training_record(module: Any) -> dict[str, Any]:
    """The ``ganlab`` entry of a training checkpoint: method, players, counters, the frozen
    nets' sources and fingerprints, RNG states and the W&B run to resume."""
    return {
        "method": method_path(module),
        "players": list(module.player_table),
        "iteration": module.iteration,
        "phase_steps": dict(module.phase_steps),
        "frozen": frozen_record(module),
        "rng": capture_rng_state(),
        "wandb_run_id": next(
            (str(lg.version) for lg in module.loggers if isinstance(lg, WandbLogger)), None
        ),
    }


def frozen_record(module: Any) -> dict[str, dict[str, str | None]]:
    return {
        name: {"source": source, "fingerprint": fingerprint}
        for name, (source, fingerprint) in module.frozen_sources.items()
    }


def restore_training_record(module: Any, checkpoint: dict[str, Any]) -> None:
    """Counters and RNG states back from ``training_record``'s entry (the frozen nets were
    put back by ``AdversarialModule.restore_frozen_state``)."""
    record = checkpoint.get("ganlab", {})
    module.iteration = int(record.get("iteration", 0))
    module.phase_steps = {k: int(v) for k, v in record.get("phase_steps", {}).items()}
    if "rng" in record:
        restore_rng_state(record["rng"])
    resume_at_next_epoch_if_epoch_ended(checkpoint)


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


def model_source(cfg: DictConfig) -> Path:
    """The file the verbs and task=eval take the model from: ``ckpt_path`` or ``asset``."""
    if cfg.get("ckpt_path") and cfg.get("asset"):
        raise ConfigError("give ckpt_path= or asset=, not both")
    if cfg.get("ckpt_path"):
        return Path(str(cfg.ckpt_path)).expanduser()
    if cfg.get("asset"):
        return asset_path(str(cfg.asset))
    raise ConfigError(
        f"task={cfg.task} needs a trained model: ckpt_path=<run dir>/checkpoints/last.ckpt "
        "(or a published model file), or asset=<name in ganlab/assets>"
    )


def load_trained(path: Path) -> tuple["AdversarialModule", DictConfig]:
    """The method a checkpoint or published model file holds, rebuilt from the config stored
    in it, with its weights (frozen nets re-loaded from their sources), in eval mode."""
    checkpoint = read_checkpoint(path)
    saved = checkpoint["ganlab"].get("config")
    if not saved:
        raise CheckpointError(f"{path} holds no run config; it cannot rebuild its model")
    config = OmegaConf.create(with_current_targets(saved))
    from ganlab.tasks.building import build_method  # the method base imports this module

    module = build_method(config.model)
    check_compatible(checkpoint, module, path)
    module.restore_frozen_state(checkpoint)
    module.load_state_dict(checkpoint["state_dict"])
    module.phase_steps = {k: int(v) for k, v in checkpoint["ganlab"].get("phase_steps", {}).items()}
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return module.to(device).eval(), config


def initialise_from(module: "AdversarialModule", path: str | Path) -> list[str]:
    """Load the weights of ``path`` (a ganlab checkpoint, a published model or a plain state
    dict) into every net of ``module`` they cover; optimizers and steps start fresh. Returns
    the nets initialised. Every loaded tensor must fit; nets the file lacks stay as built."""
    path = Path(str(path)).expanduser()
    if not path.is_file():
        raise CheckpointError(f"init_from={path}: no such file")
    saved = load_tensor_file(path, "init_from file")
    state = saved.get("state_dict", saved) if isinstance(saved, dict) else None
    if not isinstance(state, dict) or not any(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(f"init_from={path} holds no state dict of tensors")
    own = module.checkpoint_state_dict()
    # weights only: tensors (an image pool's history, say, is training state)
    shared = {k: v for k, v in state.items() if k in own and isinstance(v, Tensor)}
    if not shared:
        raise CheckpointError(
            f"init_from={path} has none of this model's weights (its keys start with "
            f"{sorted({k.split('.')[0] for k in state})[:6]}, the model's with "
            f"{sorted({k.split('.')[0] for k in own})[:6]})"
        )
    mismatched = state_dict_mismatches(shared, {k: own[k] for k in shared})
    if mismatched:
        raise CheckpointError(f"init_from={path} does not fit: {'; '.join(mismatched)}")
    module.load_state_dict(shared, strict=False)
    nets = sorted({key.split(".")[0] for key in shared})
    print(f"ganlab: initialised {', '.join(nets)} from {path} (weights only)")
    return nets
