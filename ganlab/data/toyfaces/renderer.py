"""The ToyFaces renderer: a face's attributes and identity parameters -> image, edge map and
segmentation mask (the drawing rules are in the package docstring, ``ganlab.data.toyfaces``)."""

import colorsys
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor

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
