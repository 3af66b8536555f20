"""What a user asks ganlab for, one module each: ``fit`` (train, evaluate), ``eval`` (score
a trained model), and the verbs on the user's own images: ``invert`` (images -> codes and
reconstructions), ``edit`` (codes + direction + strength -> edited images), ``translate``
(images + target -> outputs), and ``train_direction`` (editing directions for a
generator). ``ganlab.run`` composes the config and calls ``TASKS[task]``."""

from collections.abc import Callable

from omegaconf import DictConfig

from ganlab.tasks import dissect, edit, eval, fit, invert, train_direction, translate

TASKS: dict[str, Callable[[DictConfig], float | None]] = {
    "fit": fit.run,
    "eval": eval.run,
    "invert": invert.run,
    "edit": edit.run,
    "translate": translate.run,
    "train_direction": train_direction.run,
    "dissect": dissect.run,
}
