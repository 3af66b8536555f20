"""``task=edit direction=<name or file> strengths=[...]``: move latent codes along a direction
and decode them.

Codes come from ``input=<folder>`` (inverted first, as ``task=invert`` does; HFGI-style
generator conditions of each image are kept) or ``codes=`` (the ``codes.pt`` of a
``task=invert`` run). The direction is a shipped one (``toyfaces/smiling``; the registry
is ``ganlab/assets/directions``) or a file (``task=train_direction`` writes them).
``conditional=[...]`` names other directions to project out (InterfaceGAN's conditional
manipulation). Without ``ckpt_path=``/``asset=`` the model is the generator the direction
was made for. Writes ``edited/<name>_<s>.png``, ``edits.png`` (a row per image: the
input, then one column per strength), ``interpolation.png`` with ``interpolate_steps`` and
``index.json`` (written before the previews, so that a failing preview loses no output).

``swap=[smiling, ...]`` with an IcGAN (``ckpt_path=``) edits attributes instead: each input's
attribute vector is read by E_y, the named attribute flipped and the face re-generated from
E_z's code (``swapped/<name>_<attribute>.png``, ``edits.png``: the input, its reconstruction,
then one column per attribute).
"""

from pathlib import Path
from typing import Protocol, runtime_checkable

import torch
from omegaconf import DictConfig
from torch import Tensor

from ganlab.assets import PREFIX as ASSET_PREFIX
from ganlab.assets import weights_file
from ganlab.callbacks.samples import at_one_size, preview_grid
from ganlab.checkpoints import model_source
from ganlab.editing import Direction, check_generator, conditional_direction, move
from ganlab.editing.directions import resolve_direction
from ganlab.errors import ConfigError
from ganlab.inversion import LatentModel
from ganlab.nets.stylegan2 import interpolate_latents, to_w_plus
from ganlab.tasks.models import Decodes, Inverts, load_model, require
from ganlab.tasks.run_dir import prepare_run_dir
from ganlab.tasks.user_images import (
    in_batches,
    read_user_images,
    save_images,
    unique_stems,
    write_index,
)
from ganlab.torch_files import load_tensor_file

INTERPOLATION = "interpolation"  # the interpolation grid's file name, without .png


def read_codes(path: str) -> tuple[list[str], Tensor]:
    """Names and stacked codes of a ``codes.pt`` (``{name: code}``) that task=invert wrote."""
    file = Path(str(path)).expanduser()
    if not file.is_file():
        raise ConfigError(f"codes={file}: no such file (task=invert writes <run dir>/codes.pt)")
    saved = load_tensor_file(file, "codes file")
    if (
        not isinstance(saved, dict)
        or not saved
        or not all(isinstance(v, Tensor) for v in saved.values())
    ):
        raise ConfigError(f"codes={file} is not a {{name: code tensor}} file from task=invert")
    return list(saved), torch.stack(list(saved.values())).float()


def edit_direction(cfg: DictConfig) -> Direction:
    """The direction of ``cfg.direction``, with ``conditional`` directions projected out and
    ``layers`` overriding the layers it moves."""
    direction = resolve_direction(str(cfg.direction))
    others = [resolve_direction(str(name)) for name in cfg.get("conditional") or []]
    if others:
        if direction.space != "w" or any(o.space != direction.space for o in others):
            raise ConfigError("conditional= projects W directions out of a W direction")
        direction.vector = conditional_direction(direction.vector, [o.vector for o in others])
        direction.details["conditional"] = [o.name for o in others]
    if cfg.get("layers") is not None:
        direction.layers = [int(i) for i in cfg.layers]
    return direction


def model_file(cfg: DictConfig, direction: Direction) -> Path:
    """The shipped generator the direction was made for (``model_source`` names what is
    missing when the direction's generator is not shipped)."""
    if not direction.generator.startswith(ASSET_PREFIX):
        return model_source(cfg)
    return Path(weights_file(direction.generator))


@runtime_checkable
class SwapsAttributes(Protocol):
    attribute_names: list[str]

    def swap_attributes(self, images: Tensor, names: list[str]) -> tuple[Tensor, Tensor]:
        """Images re-generated with each named attribute flipped."""
        ...

    def reconstruct(self, images: Tensor) -> Tensor:
        """Images re-generated with their own attributes."""
        ...


def run_swap(cfg: DictConfig) -> None:
    """IcGAN's attribute swap on the images of ``input=``."""
    if not cfg.get("ckpt_path"):
        raise ConfigError("task=edit swap=[...] needs ckpt_path=<a model=icgan run's checkpoint>")
    if not cfg.get("input"):
        raise ConfigError("task=edit swap=[...] takes input=<folder of images>")
    source = model_source(cfg)
    model, shape = load_model(cfg, source)
    require(model, SwapsAttributes, "edit swap=", "swap attributes (model=icgan does)")
    names = [str(name) for name in cfg.swap]
    if unknown := [n for n in names if n not in model.attribute_names]:
        raise ConfigError(
            f"swap={unknown}: not attributes of this model ({', '.join(model.attribute_names)})"
        )
    paths, inputs = read_user_images(cfg.input, shape, cfg.get("align"))
    stems = unique_stems(paths)
    run_dir = prepare_run_dir(cfg)
    edited = [
        model.swap_attributes(chunk, names)[0].cpu() for chunk in inputs.split(cfg.batch_size)
    ]
    edited = torch.cat(edited, 1)  # (attributes, images, C, H, W)
    rebuilt = torch.cat([model.reconstruct(c).cpu() for c in inputs.split(cfg.batch_size)])
    entries = [{"input": str(path), "swapped": {}} for path in paths]
    for attribute, images in zip(names, edited, strict=True):
        files = save_images(images, run_dir / "swapped", [f"{s}_{attribute}" for s in stems])
        for entry, file in zip(entries, files, strict=True):
            entry["swapped"][attribute] = file
    write_index(run_dir, entries, {"task": "edit", "model": str(source), "swap": names})
    columns = at_one_size([inputs.cpu(), rebuilt, *edited])
    rows = {n: torch.stack([c[i] for c in columns]) for i, n in enumerate(stems[:16])}
    save_images(preview_grid(rows, len(columns))[None] * 2 - 1, run_dir, ["edits"])
    print(f"ganlab: swapped {len(names)} attribute(s) of {len(paths)} image(s) in {run_dir}")


def run(cfg: DictConfig) -> None:
    if cfg.get("swap"):
        return run_swap(cfg)
    if cfg.get("direction") is None:
        raise ConfigError(
            "task=edit needs direction=<a shipped direction or a file> (or swap=[attributes] "
            "with an IcGAN's ckpt_path=)"
        )
    source = model_source(cfg) if cfg.get("ckpt_path") or cfg.get("asset") else None
    if source is not None:  # a model that cannot decode is refused before anything else is read
        model, shape = load_model(cfg, source)
        require(model, Decodes, "edit", "decode latent codes into images")
    if bool(cfg.get("codes")) == bool(cfg.get("input")):
        raise ConfigError("task=edit takes codes=<codes.pt of a task=invert run> or input=<folder>")
    direction = edit_direction(cfg)
    if source is None:
        source = model_file(cfg, direction)
        model, shape = load_model(cfg, source)
    latent = isinstance(model, LatentModel)
    if latent:
        check_generator(direction, model.fingerprint, str(source))
    strengths = [float(s) for s in cfg.strengths]
    if not strengths:
        raise ConfigError("strengths= must list at least one value, e.g. strengths=[-2,0,2]")
    inputs, conditions = None, None
    if cfg.get("codes"):
        names, codes = read_codes(cfg.codes)
    else:
        require(model, Inverts, "edit input=", "invert images (give codes= instead)")
        if latent:
            model.prepare_inversion()
        paths, inputs = read_user_images(cfg.input, shape, cfg.get("align"))
        names = unique_stems(paths)
        codes, conditions = invert_inputs(model, inputs, cfg.batch_size)
    if latent and (codes.ndim == 2 and (direction.space == "w+" or direction.layers is not None)):
        codes = to_w_plus(codes, model.n_latent)
    run_dir = prepare_run_dir(cfg)

    def decode(moved: Tensor) -> Tensor:
        if conditions is None:
            return torch.cat(in_batches(model.decode, moved, cfg.batch_size, model.device)).cpu()
        return model.decode(moved.to(model.device), conditions).cpu()

    columns = []
    entries = [{"code": name, "edited": {}} for name in names]
    for strength in strengths:
        edited = decode(move(codes, direction, strength))
        columns.append(edited)
        files = save_images(edited, run_dir / "edited", [f"{n}_{strength:g}" for n in names])
        for entry, file in zip(entries, files, strict=True):
            entry["edited"][f"{strength:g}"] = file
    about = {
        "task": "edit",
        "model": str(source),
        "direction": direction.name,
        "direction_method": direction.method,
        "layers": direction.layers,
        "strengths": strengths,
    }
    interpolates = bool(cfg.get("interpolate_steps")) and len(names) > 1 and conditions is None
    if interpolates:
        about["interpolation"] = f"{INTERPOLATION}.png"
    write_index(run_dir, entries, about)  # before the previews: the outputs are complete
    leading = [inputs.cpu()] if inputs is not None else []
    shown = at_one_size(leading + columns)  # 256 px inputs beside a 1024 px generator's edits
    rows = {n: torch.stack([c[i] for c in shown]) for i, n in enumerate(names[:16])}
    save_images(preview_grid(rows, len(leading) + len(strengths))[None] * 2 - 1, run_dir, ["edits"])
    if interpolates:
        write_interpolation(run_dir, codes, names, decode, cfg)
    print(f"ganlab: edited {len(names)} code(s) at {len(strengths)} strength(s) in {run_dir}")


def invert_inputs(model, inputs: Tensor, batch_size: int) -> tuple[Tensor, tuple | None]:
    """Codes of the input images and, for HFGI-style encoders, their generator conditions."""
    if not isinstance(model, LatentModel):
        return torch.cat(
            [c for c, _ in in_batches(model.invert, inputs, batch_size, model.device)]
        ), None
    results = in_batches(model.invert_detailed, inputs, batch_size, model.device)
    codes = torch.cat([r.codes for r in results])
    if results[0].conditions is None:
        return codes, None
    scales, shifts = zip(*(r.conditions for r in results), strict=True)
    return codes, (torch.cat(scales), torch.cat(shifts))


def write_interpolation(run_dir: Path, codes: Tensor, names: list[str], decode, cfg) -> None:
    """``interpolation.png``: a row per consecutive pair of codes, linear in W / W+."""
    steps = int(cfg.interpolate_steps)
    rows = {}
    for a in range(min(len(names) - 1, 8)):
        b = a + 1
        frames = interpolate_latents(codes[a], codes[b], steps, space="w")
        rows[f"{names[a]}->{names[b]}"] = decode(frames)
    save_images(preview_grid(rows, steps)[None] * 2 - 1, run_dir, [INTERPOLATION])
