"""Finding pretrained weight files on disk; ganlab never downloads them at run time.

A weight file is looked up at the path the user configured, else in torch's hub cache
(``$TORCH_HOME/hub/checkpoints``, by default ``~/.cache/torch/hub/checkpoints``), the place
torchvision, lpips and torch-fidelity download to on machines with internet.
"""

from pathlib import Path

import torch

from ganlab.errors import MissingWeightsError
from ganlab.torch_files import load_tensor_file


def hub_checkpoint_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def find_weights(filename: str, url: str, what: str, configured: str | None = None) -> Path:
    """The weight file ``filename`` (from ``url``): ``configured`` if given, else the hub cache.

    ``configured`` may name the file itself or a directory holding ``filename``. Raises
    :class:`MissingWeightsError` naming the file, the places searched and where it comes from.
    """
    if configured:
        candidate = Path(configured).expanduser()
        candidate = candidate / filename if candidate.is_dir() else candidate
    else:
        candidate = hub_checkpoint_dir() / filename
    if candidate.is_file():
        return candidate
    raise MissingWeightsError(
        f"{what} weights ({filename}) not found: {candidate} does not exist (searched "
        f"{'the configured path' if configured else 'the torch hub cache'}; ganlab never "
        f"downloads at run time). The file comes from {url}; download it on a machine with "
        f"internet into {candidate.parent} or pass its path as features.weights_path=<file>"
    )


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from an outside file, read with ``weights_only=True`` (either torch file
    format: torchvision's and InsightFace's files predate the zip format)."""
    state = load_tensor_file(path, "weights file")
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    return state


def file_fingerprint(path: Path) -> str:
    """Cheap identity of a large weight file (name and size) for cache keys."""
    return f"{path.name}:{path.stat().st_size}"
