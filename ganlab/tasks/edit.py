"""``task=edit direction=<file> strengths=[...]``: move latent codes along a direction and
decode them.

Codes come from ``codes=`` (the ``codes.pt`` of a ``task=invert`` run) or from
``input=<folder>`` (inverted first, when the model inverts). A direction file holds a tensor
of the code's shape (or one that broadcasts to it), or ``{"direction": tensor, ...}``.
Each code c gives decode(c + s * direction) for every strength s. Writes
``edited/<name>_<s>.png``, ``edits.png`` (a row per code, a column per strength) and
``index.json``.
"""

from pathlib import Path

import torch
from omegaconf import DictConfig
from torch import Tensor

from ganlab.callbacks.samples import preview_grid
from ganlab.errors import ConfigError
from ganlab.tasks.common import (
    Decodes,
    Inverts,
    image_shape_of,
    in_batches,
    load_trained,
    model_source,
    prepare_run_dir,
    read_user_images,
    require,
    save_images,
    unique_stems,
    write_index,
)


def read_codes(path: str) -> tuple[list[str], Tensor]:
    """Names and stacked codes of a ``codes.pt`` (``{name: code}``) that task=invert wrote."""
    file = Path(str(path)).expanduser()
    if not file.is_file():
        raise ConfigError(f"codes={file}: no such file (task=invert writes <run dir>/codes.pt)")
    saved = torch.load(file, map_location="cpu", weights_only=True)
    if (
        not isinstance(saved, dict)
        or not saved
        or not all(isinstance(v, Tensor) for v in saved.values())
    ):
        raise ConfigError(f"codes={file} is not a {{name: code tensor}} file from task=invert")
    return list(saved), torch.stack(list(saved.values())).float()


def read_direction(path: str, code_shape: torch.Size) -> Tensor:
    """A direction tensor that broadcasts to one code of ``code_shape``."""
    file = Path(str(path)).expanduser()
    if not file.is_file():
        raise ConfigError(f"direction={file}: no such file")
    saved = torch.load(file, map_location="cpu", weights_only=True)
    direction = saved.get("direction") if isinstance(saved, dict) else saved
    if not isinstance(direction, Tensor):
        raise ConfigError(f"direction={file} holds no tensor (or {{'direction': tensor}})")
    try:
        torch.broadcast_shapes(direction.shape, code_shape)
    except RuntimeError as error:
        raise ConfigError(
            f"direction={file} has shape {tuple(direction.shape)}, which does not fit codes of "
            f"shape {tuple(code_shape)}"
        ) from error
    return direction.float()


def run(cfg: DictConfig) -> None:
    source = model_source(cfg)
    module, trained = load_trained(source)
    require(module, Decodes, "edit", "decode latent codes into images")
    if bool(cfg.get("codes")) == bool(cfg.get("input")):
        raise ConfigError("task=edit takes codes=<codes.pt of a task=invert run> or input=<folder>")
    if cfg.get("codes"):
        names, codes = read_codes(cfg.codes)
    else:
        require(module, Inverts, "edit input=", "invert images (give codes= instead)")
        paths, images = read_user_images(cfg.input, image_shape_of(trained))
        names = unique_stems(paths)
        codes = torch.cat(
            [c for c, _ in in_batches(module.invert, images, cfg.batch_size, module.device)]
        )
    direction = read_direction(cfg.direction, codes.shape[1:])
    strengths = [float(s) for s in cfg.strengths]
    if not strengths:
        raise ConfigError("strengths= must list at least one value, e.g. strengths=[-2,0,2]")
    run_dir = prepare_run_dir(cfg)
    columns = []
    entries = [{"code": name, "edited": {}} for name in names]
    for strength in strengths:
        moved = codes + strength * direction
        edited = torch.cat(in_batches(module.decode, moved, cfg.batch_size, module.device)).cpu()
        columns.append(edited)
        files = save_images(edited, run_dir / "edited", [f"{n}_{strength:g}" for n in names])
        for entry, file in zip(entries, files, strict=True):
            entry["edited"][f"{strength:g}"] = file
    rows = {name: torch.stack([c[i] for c in columns]) for i, name in enumerate(names[:16])}
    save_images(preview_grid(rows, len(strengths))[None] * 2 - 1, run_dir, ["edits"])
    about = {"task": "edit", "model": str(source), "direction": str(cfg.direction)}
    write_index(run_dir, entries, about | {"strengths": strengths})
    print(f"ganlab: edited {len(names)} code(s) at {len(strengths)} strength(s) in {run_dir}")
