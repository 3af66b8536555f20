"""FFHQ-style face alignment from 68 dlib landmarks.

This is the alignment of the FFHQ dataset (Karras et al., "A Style-Based Generator
Architecture for Generative Adversarial Networks", CVPR 2019), which pSp and e4e also apply
to their inputs. From the eyes and the mouth corners of the 68-point iBUG landmarks,
``face_quad`` builds an oriented square (the *quad*) around the face; ``align_face`` then
shrinks very large images, crops around the quad, reflect-pads (with a blurred, faded
border) where the quad leaves the image, and warps the quad onto an upright square image.

Landmarks come from dlib (``FaceAligner``), which is optional: ``pip install dlib`` plus
the ``shape_predictor_68_face_landmarks.dat`` model, neither of which ganlab downloads.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import PIL.Image
from scipy.ndimage import gaussian_filter

from ganlab.errors import ConfigError, MissingWeightsError

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
PREDICTOR_URL = "http://dlib.net/files/shape_predictor_68_face_landmarks.dat.bz2"

_LEFT_EYE = slice(36, 42)
_RIGHT_EYE = slice(42, 48)
_MOUTH_LEFT, _MOUTH_RIGHT = 48, 54


def _rot(v: np.ndarray) -> np.ndarray:
    """Rotate a 2-vector by 90 degrees: (x, y) -> (-y, x)."""
    return np.array([-v[1], v[0]])


def face_quad(landmarks: np.ndarray) -> tuple[np.ndarray, float]:
    """The FFHQ crop square of a face.

    Args:
        landmarks: (68, 2) array of (x, y) pixel positions in dlib's 68-point order.

    Returns:
        ``(quad, qsize)``: quad is a (4, 2) float array of the corners in the order
        upper-left, lower-left, lower-right, upper-right (as seen in the aligned output),
        and qsize is the side length of the square in pixels.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"face_quad needs (68, 2) landmarks (dlib's 68 points), got {lm.shape}")
    eye_left = lm[_LEFT_EYE].mean(axis=0)
    eye_right = lm[_RIGHT_EYE].mean(axis=0)
    eye_avg = (eye_left + eye_right) / 2
    eye_to_eye = eye_right - eye_left
    mouth_avg = (lm[_MOUTH_LEFT] + lm[_MOUTH_RIGHT]) / 2
    eye_to_mouth = mouth_avg - eye_avg

    x = eye_to_eye - _rot(eye_to_mouth)
    x /= np.hypot(*x)
    x *= max(2.0 * np.hypot(*eye_to_eye), 1.8 * np.hypot(*eye_to_mouth))
    y = _rot(x)
    c = eye_avg + 0.1 * eye_to_mouth
    quad = np.stack([c - x - y, c - x + y, c + x + y, c + x - y])
    return quad, float(2.0 * np.hypot(*x))


def _pad_amounts(quad: np.ndarray, width: int, height: int, border: int) -> list[int]:
    """How far (plus ``border``) the quad overhangs the left, top, right, bottom edges."""
    lo = np.floor(quad.min(axis=0)).astype(int)
    hi = np.ceil(quad.max(axis=0)).astype(int)
    return [
        max(-lo[0] + border, 0),
        max(-lo[1] + border, 0),
        max(hi[0] - width + border, 0),
        max(hi[1] - height + border, 0),
    ]


def _pad_and_blend(img: np.ndarray, pad: list[int], qsize: float) -> np.ndarray:
    """Reflect-pad an (H, W, 3) uint8 image and fade the padding into blur and median colour."""
    left, top, right, bottom = pad
    out = np.pad(img.astype(np.float32), ((top, bottom), (left, right), (0, 0)), mode="reflect")
    h, w = out.shape[:2]
    xs = np.arange(w, dtype=np.float32)[None, :]
    ys = np.arange(h, dtype=np.float32)[:, None]
    # Fraction of the pad width still to go before the original image: 0 at the outer edge,
    # 1 at the original edge, negative inside; mask is 1 at the outer edge and falls to 0.
    ratio_x = np.minimum(xs / left, (w - 1 - xs) / right)
    ratio_y = np.minimum(ys / top, (h - 1 - ys) / bottom)
    mask = (1.0 - np.minimum(ratio_x, ratio_y))[..., None]
    sigma = 0.02 * qsize
    out += (gaussian_filter(out, [sigma, sigma, 0]) - out) * np.clip(3.0 * mask + 1.0, 0.0, 1.0)
    out += (np.median(out, axis=(0, 1)) - out) * np.clip(mask, 0.0, 1.0)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def align_face(
    image: PIL.Image.Image,
    landmarks: np.ndarray,
    output_size: int,
    transform_size: int | None = None,
) -> PIL.Image.Image:
    """Crop and warp a face to an upright ``output_size`` x ``output_size`` RGB image.

    Args:
        image: the photo, any PIL mode (converted to RGB).
        landmarks: (68, 2) dlib landmarks of the face in ``image`` pixel coordinates.
        output_size: side of the returned square image.
        transform_size: side the quad is warped to before a LANCZOS resize to
            ``output_size`` (FFHQ warps to 4096 for 1024); defaults to ``output_size``.
    """
    transform_size = transform_size or output_size
    img = image.convert("RGB")
    quad, qsize = face_quad(landmarks)

    shrink = math.floor(qsize / output_size * 0.5)
    if shrink > 1:
        size = (round(img.size[0] / shrink), round(img.size[1] / shrink))
        img = img.resize(size, PIL.Image.Resampling.LANCZOS)
        quad /= shrink
        qsize /= shrink

    border = max(round(0.1 * qsize), 3)
    lo = np.floor(quad.min(axis=0)).astype(int) - border
    hi = np.ceil(quad.max(axis=0)).astype(int) + border
    crop = (max(lo[0], 0), max(lo[1], 0), min(hi[0], img.size[0]), min(hi[1], img.size[1]))
    if crop[2] - crop[0] < img.size[0] or crop[3] - crop[1] < img.size[1]:
        img = img.crop(crop)
        quad -= crop[:2]

    pad = _pad_amounts(quad, img.size[0], img.size[1], border)
    if max(pad) > border - 4:
        pad = [max(p, round(0.3 * qsize), 1) for p in pad]
        img = PIL.Image.fromarray(_pad_and_blend(np.asarray(img), pad, qsize), "RGB")
        quad += pad[:2]

    img = img.transform(
        (transform_size, transform_size),
        PIL.Image.Transform.QUAD,
        tuple((quad + 0.5).flatten()),
        PIL.Image.Resampling.BILINEAR,
    )
    if transform_size > output_size:
        img = img.resize((output_size, output_size), PIL.Image.Resampling.LANCZOS)
    return img


class FaceAligner:
    """dlib face detection + 68-point landmarks + ``align_face``.

    With several faces in an image the largest detection (by box area) is used.
    """

    def __init__(self, predictor_path: str | Path):
        path = Path(predictor_path).expanduser()
        if not path.is_file():
            raise MissingWeightsError(
                f"face alignment needs dlib's landmark model {PREDICTOR_FILE}, not found at "
                f"{path}; download {PREDICTOR_URL} and unpack it there with bunzip2"
            )
        try:
            import dlib
        except ImportError:
            raise ConfigError(
                "face alignment needs dlib, which is not installed: pip install dlib "
                "(building it needs cmake and a C++ compiler)"
            ) from None
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(path))

    def landmarks(self, image: PIL.Image.Image) -> np.ndarray | None:
        """(68, 2) float landmarks of the largest face in ``image``, or None without a face."""
        pixels = np.asarray(image.convert("RGB"))
        faces = list(self._detector(pixels, 1))
        if not faces:
            return None
        face = max(faces, key=lambda r: r.width() * r.height())
        shape = self._predictor(pixels, face)
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)

    def align(self, image: PIL.Image.Image, output_size: int) -> PIL.Image.Image | None:
        """The aligned ``output_size`` square RGB face, or None when no face is found."""
        landmarks = self.landmarks(image)
        return None if landmarks is None else align_face(image, landmarks, output_size)


def aligned_or_warn(
    aligner: FaceAligner, image: PIL.Image.Image, path: str | Path, output_size: int
) -> PIL.Image.Image | None:
    """``aligner.align(image, output_size)``; without a face, print a note and return None."""
    aligned = aligner.align(image, output_size)
    if aligned is None:
        print(f"ganlab: no face found in {path}; skipped")
    return aligned
