"""FFHQ face alignment (ganlab.data.alignment) on synthetic landmarks, without dlib."""

import sys
import types

import numpy as np
import PIL.Image
import pytest

from ganlab.data.alignment import (
    PREDICTOR_FILE,
    PREDICTOR_URL,
    FaceAligner,
    align_face,
    aligned_or_warn,
    face_quad,
)
from ganlab.errors import ConfigError, MissingWeightsError


def upright_landmarks(seed: int = 0) -> np.ndarray:
    """68 points: eyes centred at (80, 100) and (120, 100), mouth corners at y=140, rest random."""
    lm = np.random.default_rng(seed).uniform(0, 200, size=(68, 2))
    ring = np.array([[-6, 0], [-3, -2], [3, -2], [6, 0], [3, 2], [-3, 2]], dtype=float)
    lm[36:42] = ring + [80, 100]
    lm[42:48] = ring + [120, 100]
    lm[48] = [88, 140]
    lm[54] = [112, 140]
    return lm


def rotation(angle: float) -> np.ndarray:
    return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])


def test_upright_face_gives_axis_aligned_square():
    quad, qsize = face_quad(upright_landmarks())
    eye_avg = np.array([100.0, 100.0])
    eye_to_mouth = np.array([0.0, 40.0])
    centre = eye_avg + 0.1 * eye_to_mouth  # (100, 104)
    half = max(2 * 40, 1.8 * 40)  # |x| = 80
    assert qsize == pytest.approx(2 * half)
    expected = centre + half * np.array([[-1, -1], [-1, 1], [1, 1], [1, -1]])
    np.testing.assert_allclose(quad, expected, atol=1e-9)


def test_other_landmarks_do_not_matter():
    q0, s0 = face_quad(upright_landmarks(seed=0))
    q1, s1 = face_quad(upright_landmarks(seed=1))
    np.testing.assert_allclose(q0, q1)
    assert s0 == s1


@pytest.mark.parametrize("angle", [0.3, -1.1, np.pi / 2, 2.5])
def test_quad_rotates_with_the_face(angle):
    lm = upright_landmarks()
    pivot = np.array([37.0, -12.0])
    r = rotation(angle)
    quad, qsize = face_quad(lm)
    quad_r, qsize_r = face_quad((lm - pivot) @ r.T + pivot)
    np.testing.assert_allclose(quad_r, (quad - pivot) @ r.T + pivot, atol=1e-9)
    assert qsize_r == pytest.approx(qsize)


def test_quad_scales_and_translates_with_the_face():
    lm = upright_landmarks()
    quad, qsize = face_quad(lm)
    quad_s, qsize_s = face_quad(2.5 * lm + [7.0, -3.0])
    np.testing.assert_allclose(quad_s, 2.5 * quad + [7.0, -3.0], atol=1e-9)
    assert qsize_s == pytest.approx(2.5 * qsize)


def test_wide_eyes_set_the_size_through_the_mouth_term():
    lm = upright_landmarks()
    lm[48] = [88, 180]
    lm[54] = [112, 180]  # eye_to_mouth = 80 > eye_to_eye: |x| = 1.8 * 80
    _, qsize = face_quad(lm)
    assert qsize == pytest.approx(2 * 1.8 * 80)


@pytest.mark.parametrize("shape", [(67, 2), (68, 3), (136,), (2, 68)])
def test_wrong_landmark_shape_is_a_value_error(shape):
    with pytest.raises(ValueError, match=r"\(68, 2\)"):
        face_quad(np.zeros(shape))


RED, BLUE, GREEN, YELLOW, WHITE = (255, 0, 0), (0, 0, 255), (0, 255, 0), (255, 255, 0), (255,) * 3


def quadrant_image(size: int, centre: np.ndarray, blob: int = 8) -> PIL.Image.Image:
    """Quadrants around ``centre`` in red (top-left), blue (top-right), green (bottom-left),
    yellow (bottom-right), with a white square blob of half-side ``blob`` at ``centre``."""
    ys, xs = np.mgrid[:size, :size] + 0.5
    cx, cy = centre
    img = np.zeros((size, size, 3), np.uint8)
    img[(xs < cx) & (ys < cy)] = RED
    img[(xs >= cx) & (ys < cy)] = BLUE
    img[(xs < cx) & (ys >= cy)] = GREEN
    img[(xs >= cx) & (ys >= cy)] = YELLOW
    img[(abs(xs - cx) < blob) & (abs(ys - cy) < blob)] = WHITE
    return PIL.Image.fromarray(img)


def assert_layout(out: PIL.Image.Image, size: int):
    """The output shows the quadrants upright and unflipped, with the blob at its centre."""
    assert out.size == (size, size) and out.mode == "RGB"
    px = np.asarray(out).astype(int)
    q = size // 8
    for (row, col), colour in {
        (q, q): RED,
        (q, size - 1 - q): BLUE,
        (size - 1 - q, q): GREEN,
        (size - 1 - q, size - 1 - q): YELLOW,
    }.items():
        np.testing.assert_allclose(px[row, col], colour, atol=40)
    centre = px[size // 2 - 1 : size // 2 + 1, size // 2 - 1 : size // 2 + 1]
    np.testing.assert_allclose(centre, np.full_like(centre, 255), atol=40)


@pytest.mark.parametrize(("output_size", "transform_size"), [(64, None), (32, None), (32, 128)])
def test_align_face_maps_the_quad_onto_the_output(output_size, transform_size):
    lm = upright_landmarks()  # quad: square (20, 24)-(180, 184), inside the 256 image
    quad, qsize = face_quad(lm)
    centre = quad.mean(axis=0)
    image = quadrant_image(256, centre, blob=round(0.06 * qsize))
    out = align_face(image, lm, output_size, transform_size)
    assert_layout(out, output_size)


def test_align_face_rotated_face_comes_out_upright():
    lm = upright_landmarks() + 72.0  # quad centre (172, 176) in a 400 image
    quad, qsize = face_quad(lm)
    centre = quad.mean(axis=0)
    image = quadrant_image(400, centre, blob=round(0.06 * qsize))
    # Rotating image and landmarks together about the same point leaves the output unchanged.
    angle = 30.0
    rotated = image.rotate(angle, resample=PIL.Image.Resampling.BICUBIC, center=tuple(centre))
    r = rotation(-np.deg2rad(angle))  # PIL turns counter-clockwise on screen, where y is down
    lm_r = (lm - centre) @ r.T + centre
    assert_layout(align_face(rotated, lm_r, 64), 64)


def test_align_face_pads_a_quad_overhanging_the_image():
    lm = upright_landmarks() - [70.0, 74.0]  # quad centre (30, 30): overhangs left and top
    quad, qsize = face_quad(lm)
    assert quad.min() < -40
    centre = quad.mean(axis=0)
    image = quadrant_image(128, centre, blob=round(0.06 * qsize))
    out = align_face(image.convert("L"), lm, 48)
    assert out.size == (48, 48) and out.mode == "RGB"
    px = np.asarray(out).astype(int)
    np.testing.assert_allclose(px[23:25, 23:25], np.full((2, 2, 3), 255), atol=40)
    assert np.ptp(px) > 0


def test_missing_predictor_names_the_file_and_its_source(tmp_path):
    path = tmp_path / "models" / PREDICTOR_FILE
    with pytest.raises(MissingWeightsError) as info:
        FaceAligner(path)
    message = str(info.value)
    assert PREDICTOR_FILE in message and str(path) in message
    assert PREDICTOR_URL in message and "bunzip2" in message


def test_missing_dlib_names_pip_install(tmp_path, monkeypatch):
    path = tmp_path / PREDICTOR_FILE
    path.write_bytes(b"")
    monkeypatch.setitem(sys.modules, "dlib", None)
    with pytest.raises(ConfigError, match="pip install dlib"):
        FaceAligner(path)


class FakeRect:
    def __init__(self, w, h):
        self.w, self.h = w, h

    def width(self):
        return self.w

    def height(self):
        return self.h


def install_fake_dlib(monkeypatch, faces, landmarks):
    """A stand-in dlib: the detector finds ``faces``; the predictor returns ``landmarks``
    for the face whose width is 2 and zeros for any other."""
    calls = {}

    def detector(pixels, upsample):
        calls["detect"] = (pixels.shape, upsample)
        return faces

    def shape_predictor(path):
        def predict(pixels, face):
            points = landmarks if face.width() == 2 else np.zeros((68, 2))
            parts = [types.SimpleNamespace(x=x, y=y) for x, y in points]
            return types.SimpleNamespace(parts=lambda: parts)

        return predict

    fake = types.SimpleNamespace(
        get_frontal_face_detector=lambda: detector, shape_predictor=shape_predictor
    )
    monkeypatch.setitem(sys.modules, "dlib", fake)
    return calls


def test_face_aligner_uses_the_largest_face(tmp_path, monkeypatch):
    lm = upright_landmarks()
    calls = install_fake_dlib(monkeypatch, [FakeRect(1, 1), FakeRect(2, 3), FakeRect(1, 5)], lm)
    (tmp_path / PREDICTOR_FILE).write_bytes(b"")
    aligner = FaceAligner(tmp_path / PREDICTOR_FILE)
    image = quadrant_image(256, face_quad(lm)[0].mean(axis=0), blob=10)
    np.testing.assert_array_equal(aligner.landmarks(image.convert("RGBA")), lm)
    assert calls["detect"] == ((256, 256, 3), 1)
    assert_layout(aligner.align(image, 64), 64)


def test_no_face_returns_none_and_says_so(tmp_path, monkeypatch, capsys):
    install_fake_dlib(monkeypatch, [], None)
    (tmp_path / PREDICTOR_FILE).write_bytes(b"")
    aligner = FaceAligner(tmp_path / PREDICTOR_FILE)
    image = PIL.Image.new("RGB", (32, 32))
    assert aligner.landmarks(image) is None
    assert aligned_or_warn(aligner, image, "photos/cat.jpg", 64) is None
    assert "ganlab: no face found in photos/cat.jpg; skipped" in capsys.readouterr().out
