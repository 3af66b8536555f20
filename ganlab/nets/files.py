"""One file format for the project's own trained nets (correspondence, segmenter): a format
tag, the constructor's config, free-form details and the state dict, all plain tensors and
dicts, so loading needs no unpickling (``weights_only=True``)."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganlab.errors import CheckpointError, ConfigError
from ganlab.torch_files import load_tensor_file


def save_net_file(
    net: nn.Module, config: dict[str, Any], path: Path, fmt: str, details: dict[str, Any]
) -> None:
    payload = {"format": fmt, "config": config, "details": details}
    torch.save({**payload, "state_dict": net.state_dict()}, path)


def load_net_file(
    path: str | Path, fmt: str, build: Callable[..., nn.Module], make_one: str
) -> tuple[nn.Module, dict[str, Any]]:
    """(net in eval mode, details) of a ``save_net_file`` file; ``make_one`` (how to make
    such a file) ends the message for a missing one."""
    path = Path(path)
    what = fmt.split("/")[0].removeprefix("ganlab-")
    if not path.is_file():
        raise ConfigError(f"no {what} at {path}; {make_one}")
    try:
        payload = load_tensor_file(path, f"{what} file")
    except CheckpointError as err:
        raise ConfigError(f"{path} is not a readable {what} file: {err}") from err
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise ConfigError(f"{path} is not a ganlab {what} file (format {fmt})")
    net = build(**payload["config"])
    net.load_state_dict(payload["state_dict"])
    return net.eval().requires_grad_(False), payload["details"]
