"""The user's own images for the verbs: reading a folder (checked, aligned, resized), writing
results under the run dir and their ``index.json``, running a model over them in batches."""

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torchvision.utils import save_image

from ganlab.data.alignment import FaceAligner, aligned_or_warn
from ganlab.data.images import (
    INPUT_HINTS,
    RESAMPLE,
    cover_and_crop,
    input_problem,
    list_images,
    name_some,
    open_image,
    to_tensor,
    unreadable,
)
from ganlab.errors import ConfigError


def check_inputs(root: Path, paths: list[Path], channels: int, shape: tuple[int, int]) -> None:
    """Refuse, naming them, images the model would only see distorted: smaller than its size,
    grayscale for a colour model, or with transparent pixels."""
    found = [(path, input_problem(path, channels, shape)) for path in paths]
    found = [(path, problem) for path, problem in found if problem is not None]
    if not found:
        return
    kinds = dict.fromkeys(kind for _, (kind, _) in found)
    listed = "; ".join(
        f"{path.relative_to(root).as_posix()} ({detail})" for path, (_, detail) in found[:5]
    )
    more = f" and {len(found) - 5} more" if len(found) > 5 else ""
    raise ConfigError(
        f"input={root}: {len(found)} image(s) the model would see distorted: {listed}{more}. "
        + sentence("; ".join(INPUT_HINTS[kind] for kind in kinds))
    )


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def read_user_images(
    folder: Any, shape: tuple[int, int, int], align: Any = None, resample: int = RESAMPLE
) -> tuple[list[Path], Tensor]:
    """The images of ``folder`` (recursive, sorted) as (N, C, H, W) in [-1, 1], each scaled to
    cover (H, W) keeping its aspect and centre-cropped. Files that do not decode, and images
    the model would see distorted (``check_inputs``), stop the task naming them. ``align``:
    the path of dlib's 68-landmark model to align faces FFHQ-style first (images where no
    face is found are skipped with a message)."""
    if folder in (None, "", "???"):
        raise ConfigError("input=<folder of images> is required")
    root = Path(str(folder)).expanduser()
    if not root.is_dir():
        raise ConfigError(f"input={root} is not a folder of images")
    paths = list_images(root)
    if not paths:
        raise ConfigError(f"input={root} holds no image file (jpg, jpeg, png, bmp, webp)")
    bad = unreadable(paths)
    if bad:
        raise ConfigError(
            f"input={root}: {len(bad)} file(s) do not decode as images (truncated or not "
            f"images): {name_some(bad, root)}; fix them or move them out of the folder"
        )
    channels, height, width = shape
    check_inputs(root, paths, channels, (height, width))
    mode = "L" if channels == 1 else "RGB"
    pictures = [open_image(p, "RGB" if align else mode) for p in paths]
    how = "scaled to cover"
    if align:
        aligner = FaceAligner(Path(str(align)).expanduser())
        aligned = [
            aligned_or_warn(aligner, pic, p, max(height, width))
            for pic, p in zip(pictures, paths, strict=True)
        ]
        paths = [p for p, pic in zip(paths, aligned, strict=True) if pic is not None]
        pictures = [pic.convert(mode) for pic in aligned if pic is not None]
        if not paths:
            raise ConfigError(f"input={root}: no face found in any image, nothing to align")
        how = "aligned FFHQ-style, then scaled to cover"
    images = torch.stack(
        [to_tensor(cover_and_crop(pic, (height, width), resample)) for pic in pictures]
    )
    print(
        f"ganlab: {len(paths)} image(s) from {root}, each {how} {width}x{height} px "
        f"(keeping its aspect), centre-cropped, {channels} channel(s)"
    )
    return paths, images


def save_images(images: Tensor, folder: Path, names: Sequence[str]) -> list[str]:
    """Each (C, H, W) image in [-1, 1] as ``folder/<name>.png``; the relative file names."""
    folder.mkdir(parents=True, exist_ok=True)
    for image, name in zip(images, names, strict=True):
        save_image(image.float().cpu(), folder / f"{name}.png", normalize=True, value_range=(-1, 1))
    return [f"{folder.name}/{name}.png" for name in names]


def write_index(run_dir: Path, entries: list[dict[str, Any]], about: dict[str, Any]) -> Path:
    """``index.json``: what was run (``about``) and, per input, its outputs."""
    path = run_dir / "index.json"
    path.write_text(json.dumps({**about, "items": entries}, indent=2) + "\n")
    return path


def unique_stems(paths: Sequence[Path]) -> list[str]:
    """File stems, made unique with a counter where two inputs would share a name."""
    taken: set[str] = set()
    stems = []
    for path in paths:
        stem, count = path.stem, 0
        while stem in taken:
            count += 1
            stem = f"{path.stem}_{count}"
        taken.add(stem)
        stems.append(stem)
    return stems


def in_batches(function: Any, images: Tensor, batch_size: int, device: Any) -> list[Any]:
    """``function`` over chunks of ``images`` on ``device``; the list of its outputs (the
    function decides about gradients: latent optimisation needs them)."""
    return [function(chunk.to(device)) for chunk in images.split(batch_size)]
