"""Embedded data: ``toyfaces``, procedural CelebA-like faces with known ground truth.

Each face carries the ten binary attributes of INIT (Cao et al., "Informative Sample Mining
Network for Multi-Domain Image-to-Image Translation", CelebA experiments) in ``ATTRIBUTES``
order, a vector of continuous identity parameters in [0, 1] (``IDENTITY_FIELDS``), an edge
map and a segmentation mask (``MASK_CLASSES``). Sample ``index`` of ``split`` is drawn from
``SeedSequence(seed, spawn_key=(split, index, stream))``, so it is the same in every process.

Drawing. A face is painted in flat colours with PIL onto a canvas of *part ids* at 4x the
output size, then each part id is coloured from a per-face palette and every 4x4 block is
averaged (anti-aliasing with a box filter, so each output pixel depends on its own block
only). The mask is the class of each block's centre part; the edge map counts the canvas
pixels on a part boundary in each block, in quarters capped at 1 (0, .25, ..., 1).
Painting order (later parts cover earlier ones): background, clothes, long hair (female),
neck, ears, face, wrinkles (not young), hair cap, side locks (female), bangs, eyebrows,
eyes, nose, beard, mouth, glasses.

Attributes are visible in every combination and local to their region (``FaceGeometry``):

- hair colour (black/blond/brown, at most one; none on = grey): the hair palette only;
- bangs: a fringe between the hairline and the eyebrows (``forehead_box``);
- smiling: an open, curved mouth with teeth vs closed straight lips (``mouth_box``);
- male: short hair with visible ears, a square jaw, thick straight eyebrows; female: long
  hair to the shoulders, side locks over the ears, a narrow chin, thin arched eyebrows.
  Eyes, nose and mouth (``feature_boxes``) never move;
- no_beard: off = a dark beard over the lower face (``beard_box``);
- pale_skin: the skin palette comes from a light range disjoint from the non-pale one;
- eyeglasses: dark frames, bridge and arms, drawn last inside ``eye_band``;
- young: off = forehead lines, crow's feet, eye bags, nasolabial folds, neck lines (on skin).

Attributes are drawn independently (hair colours as one categorical draw), so a classifier
cannot lean on correlations; ``DEFAULT_ATTRIBUTE_PROBS`` moves CelebA's rates towards 0.5
so rare attributes still have thousands of examples in 20,000 faces.

Speed: about 500 faces/s at 64 px on one core (600 at 32 px, 250 at 128 px), too slow to
feed training, so ``ToyFaces(cache=True)`` (the DataModule's default) renders a split once,
with up to 8 worker processes, into a uint8 ``.npy`` under ``$GANLAB_CACHE/toyfaces``
(default ``~/.cache/ganlab/toyfaces``) and memory-maps it; cached and on-the-fly items are
identical.
"""

import colorsys
import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from ganlab.cache import cache_root
from ganlab.data.base import ImageDataModule
from ganlab.data.samplers import EpochShuffleSampler, batch_loader
from ganlab.errors import ConfigError
from ganlab.threads import usable_cpus

log = logging.getLogger(__name__)

ATTRIBUTES = (
    "black_hair",
    "blond_hair",
    "brown_hair",
    "bangs",
    "smiling",
    "male",
    "no_beard",
    "pale_skin",
    "eyeglasses",
    "young",
)
HAIR_COLOURS = ATTRIBUTES[:3]
# CelebA's rates (black .24, blond .15, brown .21, bangs .15, smiling .48, male .42,
# no_beard .83, pale .04, eyeglasses .07, young .77), moved towards 0.5
DEFAULT_ATTRIBUTE_PROBS = {
    "black_hair": 0.25,
    "blond_hair": 0.25,
    "brown_hair": 0.25,
    "bangs": 0.35,
    "smiling": 0.5,
    "male": 0.5,
    "no_beard": 0.7,
    "pale_skin": 0.3,
    "eyeglasses": 0.3,
    "young": 0.6,
}
# identity vector: each entry u in [0, 1]; lengths are fractions of the image side
IDENTITY_FIELDS = {
    "face_width": "face half-width 0.195 + 0.035 u",
    "face_height": "face half-height 0.25 + 0.035 u",
    "center_x": "face centre x 0.5 + 0.05 (u - 0.5)",
    "center_y": "face centre y 0.47 + 0.04 (u - 0.5)",
    "yaw": "eyes, nose and mouth shift sideways by 0.024 (u - 0.5) (head turn)",
    "eye_spacing": "eye centres at +-(0.38 + 0.08 u) face half-widths from the midline",
    "eye_size": "eye half-width 0.027 + 0.009 u",
    "eye_height": "eye line 0.045 - 0.02 u above the face centre",
    "iris_colour": "brown (0) -> green (0.5) -> blue (1)",
    "nose_length": "nose tip 0.075 + 0.025 u below the eye line",
    "nose_width": "nose half-width 0.02 + 0.01 u",
    "mouth_width": "mouth half-width 0.045 + 0.02 u",
    "jaw": "lower-face superellipse power: male 2.7 + 0.6 u, female 1.7 + 0.3 u",
    "skin_tone": "light -> dark within the pale or the non-pale range (disjoint)",
    "hair_shade": "light -> dark within the hair colour's range",
    "hair_volume": "how far the hair stands off the head",
    "facial_hair_shade": "eyebrow and beard darkness",
    "background_hue": "background hue 160-290 degrees (never a hair colour)",
    "background_value": "background brightness 0.65 + 0.3 u",
    "clothes_hue": "clothes hue, any",
}
MASK_CLASSES = (
    "background",
    "skin",
    "hair",
    "eyebrows",
    "eyes",
    "nose",
    "mouth",
    "beard",
    "eyeglasses",
    "clothes",
)
SPLITS = ("train", "val", "test")
DEFAULT_SPLIT_SIZES = {"train": 20000, "val": 2000, "test": 2000}
SUPERSAMPLE = 4
RENDER_VERSION = 1  # bump when drawing changes: part of the cache key

# painted parts: name -> mask class; the canvas holds indices into this tuple
PARTS = (
    ("background", "background"),
    ("clothes", "clothes"),
    ("clothes_line", "clothes"),
    ("hair_back", "hair"),
    ("hair", "hair"),
    ("hair_line", "hair"),
    ("neck", "skin"),
    ("skin", "skin"),
    ("skin_line", "skin"),
    ("brow", "eyebrows"),
    ("eye_white", "eyes"),
    ("iris", "eyes"),
    ("pupil", "eyes"),
    ("eye_line", "eyes"),
    ("nose", "nose"),
    ("nostril", "nose"),
    ("beard", "beard"),
    ("lips", "mouth"),
    ("mouth_inside", "mouth"),
    ("teeth", "mouth"),
    ("glasses", "eyeglasses"),
)
P = {name: i for i, (name, _) in enumerate(PARTS)}
PART_CLASS = np.array([MASK_CLASSES.index(cls) for _, cls in PARTS], dtype=np.uint8)

SKIN_RANGES = {  # (light end, dark end), RGB; pale and non-pale never overlap
    True: ((255, 240, 232), (244, 224, 210)),
    False: ((222, 178, 142), (150, 100, 68)),
}
HAIR_RANGES = {
    "black_hair": ((52, 44, 40), (18, 16, 16)),
    "blond_hair": ((246, 216, 122), (214, 176, 68)),
    "brown_hair": ((138, 82, 42), (96, 54, 26)),
    None: ((212, 212, 214), (162, 162, 168)),  # grey: no hair-colour attribute
}
IRIS_COLOURS = ((100, 60, 30), (70, 115, 60), (60, 100, 165))


def _field(identity: np.ndarray, name: str) -> float:
    return float(identity[list(IDENTITY_FIELDS).index(name)])


def _lerp(low: float, high: float, u: float) -> float:
    return low + (high - low) * u


def _mix(colours: tuple[tuple[int, int, int], ...], u: float) -> np.ndarray:
    """Piecewise-linear blend along ``colours`` at u in [0, 1]."""
    position = u * (len(colours) - 1)
    i = min(int(position), len(colours) - 2)
    t = position - i
    return (1 - t) * np.array(colours[i], float) + t * np.array(colours[i + 1], float)


def _hsv(hue: float, saturation: float, value: float) -> np.ndarray:
    return 255 * np.array(colorsys.hsv_to_rgb(hue % 1.0, saturation, value))


def hair_colour(attributes: np.ndarray) -> str | None:
    """The hair-colour attribute that is on, or None (grey hair)."""
    on = [name for name, a in zip(HAIR_COLOURS, attributes[:3], strict=True) if a > 0.5]
    if len(on) > 1:
        raise ValueError(f"at most one hair colour can be on, got {on}")
    return on[0] if on else None


@dataclass(frozen=True)
class FaceGeometry:
    """Where a face's features are, in image units (x right, y down, both in [0, 1]).

    Depends on the identity only, except ``male`` (jaw shape). Boxes are (x0, y0, x1, y1).
    """

    cx: float  # face centre
    cy: float
    a: float  # face half-width and half-height
    b: float
    jaw_power: float  # superellipse power of the lower face
    jaw_width: float  # lower-face half-width
    fx: float  # midline of eyes, nose and mouth (cx shifted by yaw)
    eye_y: float
    eye_dx: float  # eye centres at fx +- eye_dx
    eye_w: float  # eye half-width and half-height
    eye_h: float
    brow_y: float
    hairline_y: float
    temple_y: float  # where the hair cap meets the side of the face
    bangs_y: float  # lowest tips of the fringe
    nose_y: float  # nose tip
    nose_w: float
    mouth_y: float
    mouth_w: float
    chin_y: float
    glasses_w: float  # frame half-width and half-height around each eye
    glasses_h: float
    line: float  # frame and wrinkle stroke width

    @property
    def eye_xs(self) -> tuple[float, float]:
        return self.fx - self.eye_dx, self.fx + self.eye_dx

    @property
    def eye_band(self) -> tuple[float, float, float, float]:
        """Every row eyeglasses may paint: the frames' height, the full image width."""
        half = self.glasses_h + self.line
        return 0.0, self.eye_y - half, 1.0, self.eye_y + half

    @property
    def mouth_box(self) -> tuple[float, float, float, float]:
        half = 1.15 * self.mouth_w + 0.01
        return self.fx - half, self.mouth_y - 0.03, self.fx + half, self.mouth_y + 0.045

    @property
    def forehead_box(self) -> tuple[float, float, float, float]:
        """Where bangs may paint: hairline to fringe tips, across the face."""
        return self.cx - self.a, self.hairline_y - 0.01, self.cx + self.a, self.bangs_y + 0.005

    @property
    def beard_box(self) -> tuple[float, float, float, float]:
        x = 1.1 * self.jaw_width
        return self.cx - x, self.eye_y + 0.045, self.cx + x, self.chin_y + 0.02

    @property
    def feature_boxes(self) -> list[tuple[float, float, float, float]]:
        """The eyes, the nose and the mouth: what ``male`` must leave alone."""
        eyes = [
            (x - self.eye_w, self.eye_y - self.eye_h, x + self.eye_w, self.eye_y + self.eye_h)
            for x in self.eye_xs
        ]
        nose = (
            self.fx - self.nose_w,
            self.eye_y + 0.02,
            self.fx + self.nose_w,
            self.nose_y + 0.008,
        )
        return [*eyes, nose, self.mouth_box]


def face_geometry(attributes: np.ndarray, identity: np.ndarray) -> FaceGeometry:
    """The layout of one face (see ``IDENTITY_FIELDS`` for the ranges)."""
    u = {name: _field(identity, name) for name in IDENTITY_FIELDS}
    male = attributes[ATTRIBUTES.index("male")] > 0.5
    a, b = _lerp(0.195, 0.23, u["face_width"]), _lerp(0.25, 0.285, u["face_height"])
    cx, cy = 0.5 + 0.05 * (u["center_x"] - 0.5), 0.47 + 0.04 * (u["center_y"] - 0.5)
    eye_y = cy - _lerp(0.045, 0.025, u["eye_height"])
    eye_w = _lerp(0.027, 0.036, u["eye_size"])
    eye_h = 0.55 * eye_w
    brow_y = eye_y - eye_h - 0.022
    nose_y = eye_y + _lerp(0.075, 0.1, u["nose_length"])
    return FaceGeometry(
        cx=cx,
        cy=cy,
        a=a,
        b=b,
        jaw_power=_lerp(2.7, 3.3, u["jaw"]) if male else _lerp(1.7, 2.0, u["jaw"]),
        jaw_width=a * (1.04 if male else 1.0),
        fx=cx + 0.024 * (u["yaw"] - 0.5),
        eye_y=eye_y,
        eye_dx=a * _lerp(0.38, 0.46, u["eye_spacing"]),
        eye_w=eye_w,
        eye_h=eye_h,
        brow_y=brow_y,
        hairline_y=cy - 0.78 * b,
        temple_y=eye_y - 0.045,
        bangs_y=brow_y - 0.028,
        nose_y=nose_y,
        nose_w=_lerp(0.02, 0.03, u["nose_width"]),
        mouth_y=nose_y + 0.32 * (cy + b - nose_y),
        mouth_w=_lerp(0.045, 0.065, u["mouth_width"]),
        chin_y=cy + b,
        glasses_w=1.5 * eye_w + 0.006,
        glasses_h=1.05 * eye_w + 0.004,
        line=0.012,
    )


def palette(attributes: np.ndarray, identity: np.ndarray) -> np.ndarray:
    """(len(PARTS), 3) uint8 RGB colour of each part for this face."""
    on = dict(zip(ATTRIBUTES, (attributes > 0.5).tolist(), strict=True))
    skin = _mix(SKIN_RANGES[on["pale_skin"]], _field(identity, "skin_tone"))
    hair = _mix(HAIR_RANGES[hair_colour(attributes)], _field(identity, "hair_shade"))
    facial_hair = _mix(((92, 70, 54), (38, 30, 26)), _field(identity, "facial_hair_shade"))
    background = _hsv(
        _lerp(160, 290, _field(identity, "background_hue")) / 360,
        0.4,
        _lerp(0.65, 0.95, _field(identity, "background_value")),
    )
    clothes = _hsv(_field(identity, "clothes_hue"), 0.6, 0.55)
    colours = {
        "background": background,
        "clothes": clothes,
        "clothes_line": 0.6 * clothes,
        "hair_back": 0.85 * hair,
        "hair": hair,
        "hair_line": 0.72 * hair,
        "neck": 0.9 * skin,
        "skin": skin,
        "skin_line": 0.68 * skin,
        "brow": facial_hair,
        "eye_white": (245, 245, 240),
        "iris": _mix(IRIS_COLOURS, _field(identity, "iris_colour")),
        "pupil": (15, 15, 18),
        "eye_line": (40, 30, 30),
        "nose": 0.87 * skin,
        "nostril": 0.45 * skin,
        "beard": facial_hair,
        "lips": (192, 92, 96),
        "mouth_inside": (92, 24, 32),
        "teeth": (250, 250, 244),
        "glasses": (24, 24, 30),
    }
    return np.array([colours[name] for name, _ in PARTS]).round().clip(0, 255).astype(np.uint8)


class _Painter:
    """Paints part ids on a square canvas; coordinates in image units."""

    def __init__(self, pixels: int) -> None:
        self.pixels = pixels
        self.canvas = Image.new("P", (pixels, pixels), P["background"])
        self.draw = ImageDraw.Draw(self.canvas)

    def xy(self, points: Any) -> list[float]:
        """Image units -> flat canvas pixel coordinates [x0, y0, x1, y1, ...]."""
        return (np.asarray(points, dtype=np.float64) * self.pixels).ravel().tolist()

    def width(self, units: float) -> int:
        return max(1, round(units * self.pixels))

    def polygon(self, points: np.ndarray, part: str, outline: str | None = None) -> None:
        outline_id = None if outline is None else P[outline]
        self.draw.polygon(self.xy(points), P[part], outline_id, self.width(0.008))

    def ellipse(
        self, x: float, y: float, rx: float, ry: float, part: str, outline: str | None = None
    ) -> None:
        box = self.xy([(x - rx, y - ry), (x + rx, y + ry)])
        outline_id = None if outline is None else P[outline]
        self.draw.ellipse(box, P[part], outline_id, self.width(0.007))

    def line(self, points: np.ndarray, part: str, width: float) -> None:
        self.draw.line(self.xy(points), P[part], self.width(width), joint="curve")


def _arc(cx: float, cy: float, rx: float, ry: float, t0: float, t1: float, n: int = 24):
    """Points on an ellipse for angles t0..t1 (radians, y down: -pi/2 is the top)."""
    t = np.linspace(t0, t1, n)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _curve(x0: float, x1: float, y: float, sag: float, n: int = 12) -> np.ndarray:
    """A parabola from (x0, y) to (x1, y) whose middle sits ``sag`` lower."""
    x = np.linspace(x0, x1, n)
    s = (2 * (x - x0) / (x1 - x0) - 1) ** 2
    return np.stack([x, y + sag * (1 - s)], axis=1)


def face_outline(g: FaceGeometry, n: int = 72) -> np.ndarray:
    """An elliptic upper head over a superellipse jaw (square for men, narrow for women)."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    lower = s > 0
    power = np.where(lower, g.jaw_power, 2.0)
    half_width = np.where(lower, g.jaw_width, g.a)
    x = g.cx + half_width * np.sign(c) * np.abs(c) ** (2 / power)
    y = g.cy + g.b * np.sign(s) * np.abs(s) ** (2 / power)
    return np.stack([x, y], axis=1)


def _cap_radii(g: FaceGeometry, volume: float, long_hair: bool) -> tuple[float, float]:
    """Half-width and height of the hair over the head, an ellipse centred at the temples."""
    rx = g.a * (1.08 + 0.06 * volume + (0.1 if long_hair else 0.0))
    return rx, g.temple_y - (g.cy - g.b) + 0.02 + 0.04 * volume


def _hair_cap(g: FaceGeometry, volume: float, long_hair: bool) -> np.ndarray:
    """The upper hair outline: a half-ellipse over the head ending at the temples."""
    return _arc(g.cx, g.temple_y, *_cap_radii(g, volume, long_hair), np.pi, 2 * np.pi)


def _hairline(g: FaceGeometry, n: int = 24) -> np.ndarray:
    """The forehead's upper edge, right temple -> top -> left temple."""
    return _arc(g.cx, g.temple_y, 0.9 * g.a, g.temple_y - g.hairline_y, 2 * np.pi, np.pi, n)


def paint_long_hair(p: _Painter, g: FaceGeometry, volume: float) -> None:
    cap = _hair_cap(g, volume, long_hair=True)
    bottom = g.chin_y + 0.1
    half = 1.35 * g.a
    sides = [(g.cx + half, bottom), (g.cx - half, bottom)]
    p.polygon(np.concatenate([cap, sides]), "hair_back", "hair_line")


def paint_clothes(p: _Painter, g: FaceGeometry) -> None:
    p.ellipse(g.cx, g.chin_y + 0.39, 0.44, 0.32, "clothes", "clothes_line")


def paint_neck(p: _Painter, g: FaceGeometry) -> None:
    top, bottom, half = g.cy + 0.3 * g.b, g.chin_y + 0.07, 0.48 * g.a
    corners = [(g.cx - half, top), (g.cx + half, top), (g.cx + half, bottom), (g.cx - half, bottom)]
    p.polygon(corners, "neck")
    p.ellipse(g.cx, bottom, half, 0.045, "neck")  # hides the long hair's lower edge


def paint_head(p: _Painter, g: FaceGeometry) -> None:
    for side in (-1, 1):
        x = g.cx + side * 0.98 * g.a
        p.ellipse(x, g.eye_y + 0.03, 0.025, 0.04, "skin", "skin_line")
        p.line(
            _arc(x, g.eye_y + 0.03, 0.009, 0.02, -0.5 * np.pi, 0.5 * np.pi, 8), "skin_line", 0.006
        )
    p.polygon(face_outline(g), "skin", "skin_line")


def paint_wrinkles(p: _Painter, g: FaceGeometry) -> None:
    """Signs of age, all on skin: forehead lines, crow's feet, eye bags, folds, neck lines."""
    w = g.line
    top, bottom = g.hairline_y, g.brow_y - 0.012
    for t in (0.3, 0.52, 0.74):
        y = top + t * (bottom - top)
        p.line(_curve(g.cx - 0.5 * g.a, g.cx + 0.5 * g.a, y, -0.01), "skin_line", w)
    for side, ex in zip((-1, 1), g.eye_xs, strict=True):
        start = ex + side * (g.eye_w + 0.01)
        for dy in (-0.012, 0.003, 0.018):
            p.line([(start, g.eye_y), (start + side * 0.022, g.eye_y + dy)], "skin_line", w)
        p.line(
            _curve(ex - 0.7 * g.eye_w, ex + 0.7 * g.eye_w, g.eye_y + g.eye_h + 0.009, 0.006),
            "skin_line",
            w,
        )
        nose = (g.fx + side * (g.nose_w + 0.012), g.nose_y - 0.012)
        mouth = (g.fx + side * (g.mouth_w + 0.016), g.mouth_y + 0.012)
        bulge = (0.5 * (nose[0] + mouth[0]) + side * 0.012, 0.5 * (nose[1] + mouth[1]))
        p.line([nose, bulge, mouth], "skin_line", w)
    for dy in (0.024, 0.044):
        p.line(_curve(g.cx - 0.3 * g.a, g.cx + 0.3 * g.a, g.chin_y + dy, 0.006), "skin_line", w)


def paint_hair(p: _Painter, g: FaceGeometry, volume: float, long_hair: bool) -> None:
    cap = _hair_cap(g, volume, long_hair)
    p.polygon(np.concatenate([cap, _hairline(g)]), "hair", "hair_line")
    (rx, ry), inner = _cap_radii(g, volume, long_hair), (0.9 * g.a, g.temple_y - g.hairline_y)
    for k in (0.35, 0.7):  # strands between the hairline and the outer edge
        radii = (inner[0] + k * (rx - inner[0]), inner[1] + k * (ry - inner[1]))
        p.line(_arc(g.cx, g.temple_y, *radii, 1.2 * np.pi, 1.8 * np.pi, 10), "hair_line", 0.008)
    if long_hair:
        for side in (-1, 1):
            inner, outer = g.cx + side * 0.9 * g.a, g.cx + side * 1.2 * g.a
            low = g.eye_y + 0.12
            lock = [
                (inner, g.temple_y - 0.01),
                (outer, g.temple_y - 0.01),
                (g.cx + side * 1.28 * g.a, low),
                (g.cx + side * 0.86 * g.a, low - 0.02),
            ]
            p.polygon(lock, "hair", "hair_line")


def paint_bangs(p: _Painter, g: FaceGeometry) -> None:
    """A fringe from the hairline down to zig-zag tips above the eyebrows."""
    rx, ry = 0.9 * g.a + 0.01, g.temple_y - g.hairline_y + 0.01
    reach = rx * math.sqrt(1 - min(1.0, ((g.temple_y - g.bangs_y) / ry) ** 2))
    t0 = math.atan2(g.bangs_y - g.temple_y, reach / rx * ry)  # angle of the right end
    top = _arc(g.cx, g.temple_y, rx, ry, t0, -np.pi - t0)
    x = np.linspace(g.cx - reach, g.cx + reach, 15)
    y = np.where(np.arange(15) % 2 == 0, g.bangs_y - 0.022, g.bangs_y)
    p.polygon(np.concatenate([top, np.stack([x, y], axis=1)]), "hair", "hair_line")
    for xt in x[1::2]:
        p.line(
            [(xt + 0.2 * (xt - g.cx), g.hairline_y + 0.02), (xt, g.bangs_y - 0.008)],
            "hair_line",
            0.007,
        )


def paint_brows(p: _Painter, g: FaceGeometry, male: bool) -> None:
    for side, ex in zip((-1, 1), g.eye_xs, strict=True):
        inner, outer = ex - side * 1.2 * g.eye_w, ex + side * 1.25 * g.eye_w
        if male:
            y = g.brow_y
            quad = [(inner, y - 0.009), (outer, y - 0.009), (outer, y + 0.007), (inner, y + 0.01)]
            p.polygon(quad, "brow")
        else:
            arch = [(inner, g.brow_y + 0.004), (ex, g.brow_y - 0.007), (outer, g.brow_y + 0.004)]
            p.line(arch, "brow", 0.008)


def paint_eyes(p: _Painter, g: FaceGeometry) -> None:
    for ex in g.eye_xs:
        p.ellipse(ex, g.eye_y, g.eye_w, g.eye_h, "eye_white", "eye_line")
        p.ellipse(ex, g.eye_y, 0.85 * g.eye_h, 0.85 * g.eye_h, "iris")
        p.ellipse(ex, g.eye_y, 0.4 * g.eye_h, 0.4 * g.eye_h, "pupil")


def paint_nose(p: _Painter, g: FaceGeometry) -> None:
    x, y, w = g.fx, g.nose_y, g.nose_w
    shape = [
        (x, g.eye_y + 0.02),
        (x + 0.45 * w, y - 0.02),
        (x + w, y - 0.002),
        (x + 0.5 * w, y + 0.008),
        (x - 0.5 * w, y + 0.008),
        (x - w, y - 0.002),
        (x - 0.45 * w, y - 0.02),
    ]
    p.polygon(shape, "nose")
    for side in (-1, 1):
        p.ellipse(x + side * 0.45 * w, y - 0.001, 0.006, 0.004, "nostril")


def paint_beard(p: _Painter, g: FaceGeometry) -> None:
    """Cheeks, jaw and chin, up to a moustache under the nose; the mouth is painted over it."""
    outline = face_outline(g)
    top = g.eye_y + 0.05
    jaw = outline[outline[:, 1] >= top]
    jaw = jaw[np.argsort(np.arctan2(jaw[:, 1] - g.cy, jaw[:, 0] - g.cx))]
    jaw = np.array([g.cx, g.cy]) + 1.03 * (jaw - np.array([g.cx, g.cy]))
    moustache = [  # right to left, closing the jaw's left -> chin -> right path
        (g.fx + g.mouth_w + 0.02, g.nose_y + 0.006),
        (g.fx, g.nose_y + 0.012),
        (g.fx - g.mouth_w - 0.02, g.nose_y + 0.006),
    ]
    p.polygon(np.concatenate([jaw[::-1], moustache]), "beard")


def _band(x: np.ndarray, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """The closed outline between two curves over the same x, left to right then back."""
    return np.concatenate([np.stack([x, top], 1), np.stack([x, bottom], 1)[::-1]])


def paint_mouth(p: _Painter, g: FaceGeometry, smiling: bool) -> None:
    x, y, w = g.fx, g.mouth_y, g.mouth_w
    if not smiling:
        lips = np.concatenate([_curve(x - w, x + w, y, -0.009), _curve(x + w, x - w, y, 0.011)])
        p.polygon(lips, "lips")
        p.line([(x - w, y), (x + w, y)], "mouth_inside", 0.006)
        return
    w, xs = 1.1 * w, np.linspace(-1, 1, 17)  # wider, corners raised, open
    upper = y - 0.002 - 0.012 * xs**2
    p.polygon(_band(x + w * xs, upper, upper + 0.034 * (1 - xs**2)), "lips")
    inner, top = x + 0.85 * w * xs, upper + 0.004
    p.polygon(_band(inner, top, top + 0.024 * (1 - xs**2)), "mouth_inside")
    p.polygon(_band(inner, top, top + 0.01 * (1 - xs**4)), "teeth")


def paint_glasses(p: _Painter, g: FaceGeometry) -> None:
    """Frames round each eye, a bridge, and arms to the sides of the head; all in eye_band."""
    w, h, y = g.glasses_w, g.glasses_h, g.eye_y
    stroke = p.width(g.line)
    for ex in g.eye_xs:
        box = p.xy([(ex - w, y - h), (ex + w, y + h)])
        p.draw.rounded_rectangle(box, radius=0.6 * h * p.pixels, outline=P["glasses"], width=stroke)
    (left, right), arm_y = g.eye_xs, y - 0.25 * h
    p.line([(left + w, arm_y), (right - w, arm_y)], "glasses", g.line)
    for side, ex in ((-1, left), (1, right)):
        p.line(
            [(ex + side * w, arm_y), (g.cx + side * 1.02 * g.a, arm_y - 0.005)], "glasses", g.line
        )


def paint_parts(attributes: np.ndarray, identity: np.ndarray, pixels: int) -> Image.Image:
    """A ``P``-mode canvas of part ids (indices into ``PARTS``), painted back to front."""
    on = dict(zip(ATTRIBUTES, (attributes > 0.5).tolist(), strict=True))
    g = face_geometry(attributes, identity)
    volume = _field(identity, "hair_volume")
    p = _Painter(pixels)
    paint_clothes(p, g)
    if not on["male"]:
        paint_long_hair(p, g, volume)
    paint_neck(p, g)
    paint_head(p, g)
    if not on["young"]:
        paint_wrinkles(p, g)
    paint_hair(p, g, volume, long_hair=not on["male"])
    if on["bangs"]:
        paint_bangs(p, g)
    paint_brows(p, g, on["male"])
    paint_eyes(p, g)
    paint_nose(p, g)
    if not on["no_beard"]:
        paint_beard(p, g)
    paint_mouth(p, g, on["smiling"])
    if on["eyeglasses"]:
        paint_glasses(p, g)
    return p.canvas


def _as_vector(values: Any, length: int, what: str) -> np.ndarray:
    vector = np.asarray(
        values.detach().cpu() if isinstance(values, Tensor) else values, dtype=np.float64
    )
    if vector.shape != (length,):
        raise ValueError(f"{what} must be a vector of {length} values, got shape {vector.shape}")
    return vector


def render_arrays(
    attributes: Any, identity: Any, size: int = 64
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One face as uint8 arrays: RGB (size, size, 3), edge quarters (size, size) in 0..4
    (how many canvas pixels of each pixel's 4x4 block lie on a part boundary, capped at 4)
    and mask (size, size) of ``MASK_CLASSES`` ids (the part at each block's centre)."""
    if size < 16:
        raise ValueError(f"toyfaces are drawn at 16 px or more (32, 64, 128), got {size}")
    attributes = _as_vector(attributes, len(ATTRIBUTES), "attributes")
    identity = _as_vector(identity, len(IDENTITY_FIELDS), "identity")
    canvas = paint_parts(attributes, identity, SUPERSAMPLE * size)
    parts = np.asarray(canvas)
    canvas.putpalette(palette(attributes, identity).tobytes())
    rgb = np.asarray(canvas.convert("RGB").reduce(SUPERSAMPLE))
    boundary = np.zeros(parts.shape, dtype=np.uint8)
    boundary[:, :-1] |= parts[:, 1:] != parts[:, :-1]
    boundary[:-1, :] |= parts[1:, :] != parts[:-1, :]
    rows = boundary.reshape(size, SUPERSAMPLE, -1).sum(axis=1, dtype=np.uint8)
    blocks = rows.reshape(size, size, SUPERSAMPLE).sum(axis=2, dtype=np.uint8)
    edges = np.minimum(blocks, 4)
    mask = PART_CLASS[parts[SUPERSAMPLE // 2 :: SUPERSAMPLE, SUPERSAMPLE // 2 :: SUPERSAMPLE]]
    return rgb, edges, mask


def _image_tensor(rgb: np.ndarray) -> Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float32 in [-1, 1]; numpy keeps it single-threaded."""
    image = np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32)
    return torch.from_numpy(image / np.float32(127.5) - np.float32(1.0))


def _layer_tensors(edges: np.ndarray, mask: np.ndarray) -> tuple[Tensor, Tensor]:
    """Edge quarters (H, W) uint8 -> (1, H, W) float32 in [0, 1]; mask -> (H, W) int64."""
    fraction = edges[None].astype(np.float32) / np.float32(4.0)
    return torch.from_numpy(fraction), torch.from_numpy(mask.astype(np.int64))


def render(attributes: Any, identity: Any, size: int = 64) -> Tensor:
    """(3, size, size) image in [-1, 1] of the face with these attributes (``ATTRIBUTES``
    order, 0/1) and identity (``IDENTITY_FIELDS`` order, in [0, 1])."""
    return _image_tensor(render_arrays(attributes, identity, size)[0])


def render_layers(attributes: Any, identity: Any, size: int = 64) -> tuple[Tensor, Tensor]:
    """Edge map (1, size, size) in [0, 1] and mask (size, size) int64 of ``render``'s face."""
    _, edges, mask = render_arrays(attributes, identity, size)
    return _layer_tensors(edges, mask)


def attribute_probabilities(overrides: Any = None) -> dict[str, float]:
    """``DEFAULT_ATTRIBUTE_PROBS`` updated with ``overrides`` (a mapping, may be partial)."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(ATTRIBUTES))
    if unknown:
        raise ConfigError(f"unknown toyfaces attributes {unknown}; known: {', '.join(ATTRIBUTES)}")
    probs = {name: float(overrides.get(name, p)) for name, p in DEFAULT_ATTRIBUTE_PROBS.items()}
    if not all(0.0 <= p <= 1.0 for p in probs.values()):
        raise ConfigError(f"toyfaces attribute probabilities must lie in [0, 1], got {probs}")
    hair = sum(probs[name] for name in HAIR_COLOURS)
    if hair > 1.0 + 1e-9:
        raise ConfigError(
            f"hair colours are exclusive, so their probabilities must sum to <= 1, got {hair:g}"
        )
    return probs


def sample_face(
    seed: int, split: str, index: int, probs: dict[str, float]
) -> tuple[np.ndarray, np.ndarray]:
    """(attributes, identity) float32 vectors of face ``index`` of ``split``.

    Attributes and identity come from separate streams, so changing ``probs`` keeps every
    face's identity.
    """
    key = (SPLITS.index(split), index)
    attribute_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(*key, 0)))
    identity_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(*key, 1)))
    draws = attribute_rng.random(len(ATTRIBUTES) - len(HAIR_COLOURS) + 1)
    hair = np.searchsorted(np.cumsum([probs[name] for name in HAIR_COLOURS]), draws[0], "right")
    attributes = np.zeros(len(ATTRIBUTES), dtype=np.float32)
    if hair < len(HAIR_COLOURS):
        attributes[hair] = 1.0
    others = [probs[name] for name in ATTRIBUTES[len(HAIR_COLOURS) :]]
    attributes[len(HAIR_COLOURS) :] = draws[1:] < np.array(others)
    return attributes, identity_rng.random(len(IDENTITY_FIELDS)).astype(np.float32)


def cache_dir() -> Path:
    """``<ganlab cache>/toyfaces`` (see ``ganlab.cache``)."""
    return cache_root() / "toyfaces"


class ToyFaces(Dataset):
    """Items are dicts: ``image`` (3, size, size) float32 in [-1, 1], ``attributes`` (10,)
    float32 0/1 in ``ATTRIBUTES`` order, ``identity`` (20,) float32 in [0, 1] in
    ``IDENTITY_FIELDS`` order, ``edges`` (1, size, size) float32 in [0, 1] and ``mask``
    (size, size) int64 of ``MASK_CLASSES`` ids.

    ``n`` defaults to 20,000 / 2,000 / 2,000 faces for train / val / test; the splits draw
    from different seed streams, so they never share a face. ``cache=True`` renders the
    split once into ``cache_dir()`` and memory-maps it.
    """

    ATTRIBUTES = ATTRIBUTES
    IDENTITY_FIELDS = tuple(IDENTITY_FIELDS)
    MASK_CLASSES = MASK_CLASSES
    render = staticmethod(render)
    layers = staticmethod(render_layers)

    def __init__(
        self,
        size: int = 64,
        split: str = "train",
        seed: int = 0,
        n: int | None = None,
        attribute_probs: Any = None,
        cache: bool = False,
    ) -> None:
        if split not in SPLITS:
            raise ConfigError(f"toyfaces has splits {', '.join(SPLITS)}, not {split!r}")
        self.size, self.split, self.seed = size, split, seed
        self.n = DEFAULT_SPLIT_SIZES[split] if n is None else n
        self.probs = attribute_probabilities(attribute_probs)
        self.cache_file = self._ensure_cache() if cache else None
        self._frames: np.ndarray | None = None

    def __len__(self) -> int:
        return self.n

    def labels(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(attributes, identity) of face ``index``, without drawing it."""
        if not 0 <= index < self.n:
            raise IndexError(f"toyfaces {self.split} has {self.n} faces, no index {index}")
        return sample_face(self.seed, self.split, index, self.probs)

    def arrays(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``render_arrays`` of face ``index``, from the cache when there is one."""
        if self.cache_file is None:
            return render_arrays(*self.labels(index), self.size)
        if self._frames is None:
            self._frames = np.load(self.cache_file, mmap_mode="r")
        frame = np.array(self._frames[index])
        return frame[..., :3], frame[..., 3], frame[..., 4]

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        attributes, identity = self.labels(index)
        rgb, edges, mask = self.arrays(index)
        edges, mask = _layer_tensors(edges, mask)
        return {
            "image": _image_tensor(rgb),
            "attributes": torch.from_numpy(attributes),
            "identity": torch.from_numpy(identity),
            "edges": edges,
            "mask": mask,
        }

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_frames": None}  # workers open their own memory map

    def cache_key(self) -> str:
        settings = {"probs": self.probs, "version": RENDER_VERSION}
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
        return f"{self.split}_{self.size}px_seed{self.seed}_n{self.n}_{digest[:12]}"

    def _ensure_cache(self) -> Path:
        """Render every face into ``<cache_dir>/<cache_key>.npy`` unless it is there already.

        Written to a temporary file and renamed, so concurrent processes never read half a file.
        """
        path = cache_dir() / f"{self.cache_key()}.npy"
        if path.exists():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        log.warning("rendering %d toyfaces into %s (once)", self.n, path)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        shape = (self.n, self.size, self.size, 5)
        frames = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=shape)
        workers = min(8, usable_cpus()) if self.n >= 2000 else 0
        # its own generator: iterating a DataLoader draws a seed, and rendering the cache must
        # not move the global RNG (a run's initial weights would depend on whether it exists)
        loader = DataLoader(
            _Frames(self),
            batch_size=250,
            num_workers=workers,
            collate_fn=np.stack,
            generator=torch.Generator(),
        )
        start = 0
        for batch in loader:
            frames[start : start + len(batch)] = batch
            start += len(batch)
        frames.flush()
        del frames
        os.replace(partial, path)
        return path


class _Frames(Dataset):
    """Faces as (size, size, 5) uint8 arrays (RGB, edge quarters, mask), for the cache."""

    def __init__(self, faces: ToyFaces) -> None:
        self.faces = faces

    def __len__(self) -> int:
        return len(self.faces)

    def __getitem__(self, index: int) -> np.ndarray:
        rgb, edges, mask = render_arrays(*self.faces.labels(index), self.faces.size)
        return np.concatenate([rgb, edges[..., None], mask[..., None]], axis=-1)


STAGE_SPLITS = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}


class ToyFacesDataModule(ImageDataModule):
    name = "toyfaces"
    attribute_names = ATTRIBUTES
    identity_names = tuple(IDENTITY_FIELDS)

    def __init__(
        self,
        size: int = 64,
        channels: int = 3,
        batch_size: int = 64,
        n_train: int = 20000,
        n_val: int = 2000,
        n_test: int = 2000,
        seed: int = 0,
        shuffle_seed: int = 0,
        num_workers: int = 0,
        attribute_probs: Any = None,
        cache: bool = True,
    ) -> None:
        super().__init__(channels)
        self.size, self.batch_size, self.num_workers = size, batch_size, num_workers
        self.split_sizes = {"train": n_train, "val": n_val, "test": n_test}
        self.seed, self.shuffle_seed, self.cache = seed, shuffle_seed, cache
        self.attribute_probs = attribute_probabilities(attribute_probs)
        self.datasets: dict[str, ToyFaces] = {}

    @property
    def image_size(self) -> int:
        return self.size

    def setup(self, stage: str | None = None) -> None:
        for split in STAGE_SPLITS.get(stage, SPLITS):
            self.split_dataset(split)

    def split_dataset(self, split: str) -> ToyFaces:
        """The ``train``, ``val`` or ``test`` faces (rendered into the cache on first use)."""
        if split not in SPLITS:
            raise ConfigError(f"toyfaces has splits {', '.join(SPLITS)}, not {split!r}")
        if split not in self.datasets:
            self.datasets[split] = ToyFaces(
                self.size,
                split,
                self.seed,
                self.split_sizes[split],
                self.attribute_probs,
                self.cache,
            )
        return self.datasets[split]

    def render_face(self, attributes: Tensor, identity: Tensor) -> Tensor:
        """(3, size, size) in [-1, 1]: the face of ``identity`` with ``attributes`` (the ground
        truth of an attribute translation)."""
        return render(attributes, identity, self.size)

    def attribute_table(self, split: str) -> Tensor:
        """(N, 10) attributes of every face of ``split``, from the seeds (nothing drawn)."""
        faces = self.split_dataset(split)
        return torch.from_numpy(np.stack([faces.labels(i)[0] for i in range(len(faces))]))

    def content_key(self) -> dict[str, Any]:
        """The settings that decide which images each split holds (stats cache keys)."""
        return {
            "size": self.size,
            "seed": self.seed,
            "split_sizes": self.split_sizes,
            "attribute_probs": self.attribute_probs,
            "version": RENDER_VERSION,
        }

    def describe(self) -> str:
        sizes = self.split_sizes
        return (
            f"toyfaces: procedural faces at {self.size} px, 3 channels, "
            f"{len(ATTRIBUTES)} attributes, {sizes['train']} train / {sizes['val']} val / "
            f"{sizes['test']} test (seed {self.seed}), batch {self.batch_size}"
        )

    def _loader(self, split: str, **kwargs: Any) -> DataLoader:
        return batch_loader(self.split_dataset(split), self.batch_size, self.num_workers, **kwargs)

    def train_dataloader(self) -> DataLoader:
        length = self.split_sizes["train"]
        return self._loader(
            "train", sampler=EpochShuffleSampler(length, self.shuffle_seed), drop_last=True
        )

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")
