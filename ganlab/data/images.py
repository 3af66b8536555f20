"""Image files on disk, shared by the real-data DataModules (``real.py``, ``paired.py``).

- ``list_images``: every image file under a folder (jpg/jpeg/png/bmp/webp, any case),
  recursive, sorted by relative path, so the order is the same on every machine.
- ``unreadable``: a cheap check of each file at set-up. The header must parse; a JPEG or PNG
  must also end in its end marker (EOI / IEND), which catches truncated downloads and
  unpacks by reading a few bytes. Only a file whose marker is missing is decoded in full to
  decide. Other formats are checked by header only.
- ``ImageFiles``: a Dataset of files read by a ``reader`` (``ImageReader``, ``SideBySideReader``).
  A file that passes the check but fails to decode never stops an epoch: the item falls back
  to the next readable file and a warning names the file once per process.
- Transforms: ``cover_and_crop`` (scale to cover the target, then centre-crop: "resize the
  shorter side and centre-crop" for a square target) and ``squash`` (resize to an exact
  size, aspect ratio not kept). Both resample with Lanczos, as StyleGAN's dataset tool does.

Tensors are (C, H, W) float32 in [-1, 1]; shapes are given as (height, width).
"""

import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from ganlab.errors import GanlabError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
END_MARKERS = {"JPEG": b"\xff\xd9", "PNG": b"IEND\xaeB`\x82"}
# what PIL raises for a file it cannot identify or decode
READ_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)
RESAMPLE = Image.Resampling.LANCZOS


def list_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursive), sorted by their path relative to it."""
    files = (p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


def _ends_with(path: Path, marker: bytes) -> bool:
    with open(path, "rb") as file:
        file.seek(-len(marker), 2)
        return file.read() == marker


def is_readable(path: Path) -> bool:
    """Whether ``path`` opens as an image (header, end marker, or a full decode to decide)."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            marker = END_MARKERS.get(image.format)
            if marker is not None and not _ends_with(path, marker):
                image.load()
        return width > 0 and height > 0
    except READ_ERRORS:
        return False


def unreadable(paths: Sequence[Path], workers: int = 8) -> list[Path]:
    """The files of ``paths`` that ``is_readable`` rejects, in order (checked in threads)."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        verdicts = list(pool.map(is_readable, paths))
    return [path for path, ok in zip(paths, verdicts, strict=True) if not ok]


def name_some(paths: Sequence[Path], root: Path, limit: int = 5) -> str:
    """``a.jpg, b/c.png, ... and 7 more``: the first ``limit`` paths, relative to ``root``."""
    shown = [p.relative_to(root).as_posix() if p.is_relative_to(root) else str(p) for p in paths]
    more = f" and {len(paths) - limit} more" if len(paths) > limit else ""
    return ", ".join(shown[:limit]) + more


GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")
INPUT_HINTS = {
    "small": "use images at least the model's size (upscaling would invent the detail the "
    "model is asked to reproduce)",
    "grey": "convert them to RGB first if a colour result is what you want",
    "transparent": "flatten them onto a background first (which one changes the result)",
}


def input_problem(path: Path, channels: int, shape: tuple[int, int]) -> tuple[str, str] | None:
    """Why the image at ``path`` is not a faithful input for a model of ``channels`` channels
    and (height, width) ``shape``: (kind of INPUT_HINTS, details), or None when it is."""
    height, width = shape
    with Image.open(path) as image:
        if image.width < width or image.height < height:
            return "small", f"{image.width}x{image.height} px < {width}x{height}"
        if channels == 3 and image.mode in GREY_MODES:
            return "grey", f"grayscale ({image.mode})"
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            lowest_alpha = image.convert("RGBA").getchannel("A").getextrema()[0]
            if lowest_alpha < 255:
                return "transparent", "has transparent pixels"
    return None


def cover_and_crop(
    image: Image.Image, shape: tuple[int, int], resample: int = RESAMPLE
) -> Image.Image:
    """Scale ``image`` to cover (height, width) ``shape`` keeping its aspect, then centre-crop
    (``resample=Image.Resampling.NEAREST`` for label maps, whose values are class ids)."""
    height, width = shape
    scale = max(width / image.width, height / image.height)
    covered = (max(width, round(image.width * scale)), max(height, round(image.height * scale)))
    if covered != image.size:
        image = image.resize(covered, resample)
    left, top = (covered[0] - width) // 2, (covered[1] - height) // 2
    return image.crop((left, top, left + width, top + height))


def squash(image: Image.Image, shape: tuple[int, int]) -> Image.Image:
    """Resize ``image`` to exactly (height, width) ``shape``; the aspect ratio is not kept."""
    size = (shape[1], shape[0])
    return image if image.size == size else image.resize(size, RESAMPLE)


def to_tensor(image: Image.Image) -> Tensor:
    """An 'L' or 'RGB' PIL image -> (C, H, W) float32 in [-1, 1]."""
    pixels = torch.from_numpy(np.array(image, dtype=np.uint8, copy=True))
    pixels = pixels.unsqueeze(-1) if pixels.ndim == 2 else pixels
    return pixels.permute(2, 0, 1).float() / 127.5 - 1.0


def open_image(path: Path, mode: str, at_least: tuple[int, int] | None = None) -> Image.Image:
    """The decoded image in ``mode`` ('RGB' or 'L'). ``at_least`` (width, height) lets a JPEG
    decode at a reduced scale that still covers it (PIL's ``draft``), much faster for big files."""
    with Image.open(path) as image:
        if at_least is not None:
            image.draft(mode, at_least)
        return image.convert(mode)


@dataclass(frozen=True)
class ImageReader:
    """Reads one image file into ``{"image": (C, H, W)}`` of (height, width) ``shape``.

    ``fit="crop"``: ``cover_and_crop``; ``fit="squash"``: ``squash`` to each shape of ``via``
    in turn, then to ``shape`` (e.g. Stanford Cars: 384x512, then 192x256).
    """

    shape: tuple[int, int]
    grayscale: bool = False
    fit: str = "crop"
    via: tuple[tuple[int, int], ...] = ()

    def __call__(self, path: Path) -> dict[str, Tensor]:
        largest = max((self.shape, *self.via), key=lambda s: s[0] * s[1])
        image = open_image(path, "L" if self.grayscale else "RGB", (largest[1], largest[0]))
        if self.fit == "crop":
            return {"image": to_tensor(cover_and_crop(image, self.shape))}
        for shape in (*self.via, self.shape):
            image = squash(image, shape)
        return {"image": to_tensor(image)}


@dataclass(frozen=True)
class SideBySideReader:
    """Reads a pix2pix 'A|B' file (A the left half, B the right half) into
    ``{left_key: (3, size, size), right_key: (3, size, size)}``, each half cover-and-cropped."""

    size: int
    left_key: str = "edges"
    right_key: str = "image"

    def __call__(self, path: Path) -> dict[str, Tensor]:
        image = open_image(path, "RGB", (2 * self.size, self.size))
        half = image.width // 2
        left = image.crop((0, 0, half, image.height))
        right = image.crop((half, 0, 2 * half, image.height))
        shape = (self.size, self.size)
        return {
            self.left_key: to_tensor(cover_and_crop(left, shape)),
            self.right_key: to_tensor(cover_and_crop(right, shape)),
        }


class ImageFiles(Dataset):
    """Items: ``reader(paths[index])`` plus ``extras[key][index]`` for each key of ``extras``.

    A file that fails to decode is replaced by the next one that decodes (wrapping around);
    each such file is warned about once per process and kept in ``failed``.
    """

    def __init__(
        self,
        paths: Sequence[Path],
        reader: Callable[[Path], dict[str, Tensor]],
        extras: dict[str, Tensor] | None = None,
    ) -> None:
        self.paths, self.reader, self.extras = list(paths), reader, extras or {}
        self.failed: set[Path] = set()

    def __len__(self) -> int:
        return len(self.paths)

    def read(self, index: int) -> dict[str, Any]:
        """Item ``index`` itself, raising what PIL raises when the file does not decode."""
        return {**self.reader(self.paths[index]), **{k: v[index] for k, v in self.extras.items()}}

    def __getitem__(self, index: int) -> dict[str, Any]:
        for position in fallback_order(index, len(self)):
            path = self.paths[position]
            if path in self.failed:
                continue
            try:
                return self.read(position)
            except READ_ERRORS as error:
                self.failed.add(path)
                warnings.warn(
                    f"{path} does not decode ({error}); using the next readable image instead",
                    stacklevel=2,
                )
        raise GanlabError(
            f"none of the {len(self)} image files decodes (first: {self.paths[0]}); "
            "check that the files are images and were unpacked completely"
        )


def fallback_order(index: int, length: int) -> Iterable[int]:
    """``index``, then the indices after it, wrapping around: each of range(length) once."""
    if not 0 <= index < length:
        raise IndexError(f"index {index} out of range for {length} items")
    return (i % length for i in range(index, index + length))
