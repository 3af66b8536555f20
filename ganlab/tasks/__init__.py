"""What a user asks ganlab for, one module each: ``fit`` (train, evaluate), ``eval`` (score a
trained model), and the verbs on the user's own images: ``invert`` (images -> codes and
reconstructions), ``edit`` (codes + direction + strength -> edited images), ``translate``
(images + target -> outputs), ``upsample`` (low-resolution images -> PULSE's high-resolution
ones) and ``train_direction`` (editing directions for a generator). ``ganlab.run`` composes
the config and calls ``task_runner(task)``; a task's module (and torch with it) is imported
only then, so a mistyped command fails at once."""

import importlib
from collections.abc import Callable

from omegaconf import DictConfig

TASKS = (
    "fit",
    "eval",
    "invert",
    "edit",
    "translate",
    "train_direction",
    "dissect",
    "upsample",
)


def task_runner(name: str) -> Callable[[DictConfig], float | None]:
    """``ganlab.tasks.<name>.run``."""
    if name not in TASKS:
        raise KeyError(f"{name} is not a task; valid tasks: {', '.join(TASKS)}")
    return importlib.import_module(f"ganlab.tasks.{name}").run
