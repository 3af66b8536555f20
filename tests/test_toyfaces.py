import hashlib
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from ganlab.data.toyfaces import (
    ATTRIBUTES,
    DEFAULT_ATTRIBUTE_PROBS,
    IDENTITY_FIELDS,
    MASK_CLASSES,
    ToyFaces,
    ToyFacesDataModule,
    face_geometry,
    palette,
)
from ganlab.errors import ConfigError
from tests.conftest import REPO, compose_run

SIZE = 64
CLASS = {name: i for i, name in enumerate(MASK_CLASSES)}


@pytest.fixture(scope="module")
def faces() -> ToyFaces:
    return ToyFaces(size=SIZE, split="val", n=2000)


def test_items_have_the_documented_shapes_dtypes_and_ranges(faces):
    for index in range(6):
        item = faces[index]
        assert item["image"].shape == (3, SIZE, SIZE) and item["image"].dtype == torch.float32
        assert item["image"].min() >= -1 and item["image"].max() <= 1
        assert item["attributes"].shape == (10,) and item["attributes"].dtype == torch.float32
        assert set(item["attributes"].tolist()) <= {0.0, 1.0}
        assert item["identity"].shape == (len(IDENTITY_FIELDS),)
        assert item["identity"].dtype == torch.float32
        assert item["identity"].min() >= 0 and item["identity"].max() <= 1
        assert item["edges"].shape == (1, SIZE, SIZE) and item["edges"].dtype == torch.float32
        assert item["edges"].min() >= 0 and item["edges"].max() == 1
        assert item["mask"].shape == (SIZE, SIZE) and item["mask"].dtype == torch.int64
        assert item["mask"].min() >= 0 and item["mask"].max() < len(MASK_CLASSES)
    attributes, identity = faces.labels(0)
    for size in (32, 128):
        assert ToyFaces.render(attributes, identity, size).shape == (3, size, size)
        edges, mask = ToyFaces.layers(attributes, identity, size)
        assert edges.shape == (1, size, size) and mask.shape == (size, size)
    assert ToyFaces.ATTRIBUTES == ATTRIBUTES and len(ATTRIBUTES) == 10
    with pytest.raises(IndexError):
        faces[len(faces)]


def test_at_most_one_hair_colour_and_every_hair_colour_occurs(faces):
    hair = np.stack([faces.labels(i)[0][:3] for i in range(len(faces))])
    assert hair.sum(1).max() == 1
    assert (hair.sum(0) > 0).all() and (hair.sum(1) == 0).any()  # black, blond, brown, grey
    attributes, identity = faces.labels(0)
    attributes[:3] = 1
    with pytest.raises(ValueError, match="at most one hair colour"):
        ToyFaces.render(attributes, identity)


def image_digest(seed: int) -> str:
    item = ToyFaces(size=SIZE, split="test", seed=seed, n=50)[17]
    return hashlib.sha256(item["image"].numpy().tobytes()).hexdigest()


def test_same_index_gives_the_same_bytes_in_another_process():
    """Per-face seeds come from (seed, split, index), never from Python's salted hash()."""
    code = (
        "import hashlib; from ganlab.data.toyfaces import ToyFaces; "
        f"item = ToyFaces(size={SIZE}, split='test', seed=3, n=50)[17]; "
        "print(hashlib.sha256(item['image'].numpy().tobytes()).hexdigest())"
    )
    other_process = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert other_process.stdout.strip() == image_digest(3) != image_digest(4)


def test_splits_are_fixed_and_disjoint():
    identities = {
        split: np.stack([ToyFaces(split=split).labels(i)[1] for i in range(500)])
        for split in ("train", "val", "test")
    }
    everything = np.concatenate(list(identities.values()))
    assert len(np.unique(everything, axis=0)) == len(everything)
    again = ToyFaces(split="train").labels(123)[1]
    assert np.array_equal(again, identities["train"][123])
    assert not np.array_equal(ToyFaces(split="train", seed=1).labels(123)[1], again)
    assert len(ToyFaces(split="train")) == 20000 and len(ToyFaces(split="test")) == 2000
    with pytest.raises(ConfigError, match="splits"):
        ToyFaces(split="holdout")


def box_pixels(box: tuple[float, float, float, float], margin: int = 1) -> np.ndarray:
    """Pixels a box in image units touches, and ``margin`` more around it; ``margin=-1``:
    the pixels wholly inside it."""
    x0, y0, x1, y1 = (SIZE * value for value in box)
    region = np.zeros((SIZE, SIZE), dtype=bool)
    if margin >= 0:
        rows = slice(max(0, math.floor(y0) - margin), math.ceil(y1) + margin)
        cols = slice(max(0, math.floor(x0) - margin), math.ceil(x1) + margin)
    else:
        rows, cols = slice(math.ceil(y0), math.floor(y1)), slice(math.ceil(x0), math.floor(x1))
    region[rows, cols] = True
    return region


def dilate(region: np.ndarray, pixels: int) -> np.ndarray:
    tensor = torch.from_numpy(region).float()[None, None]
    grown = F.max_pool2d(tensor, 2 * pixels + 1, stride=1, padding=pixels)
    return grown[0, 0].numpy() > 0


def class_pixels(attributes: list[np.ndarray], identity: np.ndarray, names: list[str]):
    """Pixels of these mask classes in any of the faces, grown by two pixels: the mask holds
    each pixel's centre class, and slivers of a class can hide between thin features."""
    ids = [CLASS[name] for name in names]
    masks = [ToyFaces.layers(a, identity)[1].numpy() for a in attributes]
    return dilate(np.any([np.isin(mask, ids) for mask in masks], axis=0), 2)


def flip(attributes: np.ndarray, name: str) -> np.ndarray:
    """The same face with ``name`` toggled (a hair colour replaces the current one)."""
    flipped = attributes.copy()
    index = ATTRIBUTES.index(name)
    if index < 3:
        flipped[:3] = 0
    flipped[index] = 1 - attributes[index]
    return flipped


def allowed_region(name: str, faces: list[np.ndarray], identity: np.ndarray) -> np.ndarray:
    """Where flipping ``name`` may change pixels, from the face geometry or the mask."""
    geometries = [face_geometry(a, identity) for a in faces]
    boxes = {
        "bangs": "forehead_box",
        "smiling": "mouth_box",
        "no_beard": "beard_box",
        "eyeglasses": "eye_band",
    }
    if name in boxes:
        return np.any([box_pixels(getattr(g, boxes[name])) for g in geometries], axis=0)
    if name == "male":  # everything but the eyes, the nose and the mouth
        features = [box_pixels(box, margin=-1) for g in geometries for box in g.feature_boxes]
        return ~np.any(features, axis=0)
    classes = {"pale_skin": ["skin", "nose"], "young": ["skin"]}.get(name, ["hair"])
    return class_pixels(faces, identity, classes)


@pytest.mark.parametrize("name", ATTRIBUTES)
def test_flipping_an_attribute_changes_pixels_only_in_its_region(faces, name):
    changed_faces = 0
    for index in range(10):
        attributes, identity = faces.labels(index)
        flipped = flip(attributes, name)
        before, after = ToyFaces.render(attributes, identity), ToyFaces.render(flipped, identity)
        changed = (before != after).any(0).numpy()
        outside = changed & ~allowed_region(name, [attributes, flipped], identity)
        assert not outside.any(), f"{name} changed {outside.sum()} pixels outside its region"
        changed_faces += changed.any()
    assert changed_faces >= 8  # a hair colour already on does not change


def test_attribute_frequencies_follow_the_configured_probabilities():
    probs = {"black_hair": 0.5, "blond_hair": 0.1, "brown_hair": 0.2, "eyeglasses": 0.15}
    faces = ToyFaces(split="train", n=2000, attribute_probs=probs)
    attributes = np.stack([faces.labels(i)[0] for i in range(len(faces))])
    expected = {**DEFAULT_ATTRIBUTE_PROBS, **probs}
    for name, frequency in zip(ATTRIBUTES, attributes.mean(0), strict=True):
        p = expected[name]
        assert abs(frequency - p) < 4 * math.sqrt(p * (1 - p) / len(faces)), name
    default = ToyFaces(split="train", n=2000)
    assert np.array_equal(default.labels(7)[1], faces.labels(7)[1])  # identity kept
    with pytest.raises(ConfigError, match="sum to <= 1"):
        ToyFaces(attribute_probs={"black_hair": 0.6, "blond_hair": 0.6})
    with pytest.raises(ConfigError, match="unknown toyfaces attributes"):
        ToyFaces(attribute_probs={"wavy_hair": 0.5})


def test_edges_and_mask_agree_with_the_image(faces):
    for index in range(20):
        item = faces[index]
        attributes, identity = faces.labels(index)
        image, edges, mask = item["image"].numpy(), item["edges"][0].numpy(), item["mask"].numpy()
        background = palette(attributes, identity)[0] / 127.5 - 1.0
        flat_background = (mask == CLASS["background"]) & (edges == 0)
        assert flat_background.sum() > SIZE * SIZE / 10
        assert np.allclose(image[:, flat_background].T, background, atol=1e-6)
        # colours change only across part boundaries, and those are in the edge map
        for axis in (1, 2):
            step = np.abs(np.diff(image, axis=axis)).max(0) > 0
            near_edge = (edges[:-1] + edges[1:] if axis == 1 else edges[:, :-1] + edges[:, 1:]) > 0
            assert not (step & ~near_edge).any()
        present = set(np.unique(mask).tolist())
        on = dict(zip(ATTRIBUTES, attributes > 0.5, strict=True))
        assert {CLASS[c] for c in ("skin", "hair", "eyes", "nose", "mouth")} <= present
        assert (CLASS["eyeglasses"] in present) == on["eyeglasses"]
        assert (CLASS["beard"] in present) == (not on["no_beard"])


def test_cache_gives_the_same_items_and_is_built_once(tmp_path, monkeypatch):
    monkeypatch.setenv("GANLAB_CACHE", str(tmp_path))
    torch.manual_seed(0)
    cached = ToyFaces(size=32, split="test", n=12, cache=True)
    # rendering leaves the global RNG alone: a run's initial weights do not depend on it
    assert torch.rand(1).item() == torch.rand(1, generator=torch.Generator().manual_seed(0)).item()
    assert cached.cache_file.parent == tmp_path / "toyfaces" and cached.cache_file.exists()
    built = cached.cache_file.stat().st_mtime_ns
    fresh = ToyFaces(size=32, split="test", n=12)
    for index in (0, 5, 11):
        a, b = cached[index], fresh[index]
        assert all(torch.equal(a[key], b[key]) for key in a)
    assert ToyFaces(size=32, split="test", n=12, cache=True).cache_file.stat().st_mtime_ns == built
    other = ToyFaces(size=32, split="test", n=12, attribute_probs={"young": 0.9}, cache=True)
    assert other.cache_file != cached.cache_file


def test_datamodule_from_the_config(tmp_path, monkeypatch):
    monkeypatch.setenv("GANLAB_CACHE", str(tmp_path))
    overrides = ["data=toyfaces", "data.size=32", "data.batch_size=8", "data.n_train=24"]
    overrides += ["data.n_val=10", "data.n_test=10", "seed=5"]
    data = instantiate(compose_run(tmp_path / "run", overrides).data)
    assert isinstance(data, ToyFacesDataModule) and data.shuffle_seed == 5
    assert data.name == "toyfaces" and data.channels == 3 and data.image_size == 32
    assert data.attribute_names == ToyFaces.ATTRIBUTES
    assert "24 train / 10 val / 10 test" in data.describe() and "\n" not in data.describe()
    data.setup("fit")
    batch = next(iter(data.train_dataloader()))
    shapes = {key: tuple(value.shape) for key, value in batch.items()}
    assert shapes == {
        "image": (8, 3, 32, 32),
        "attributes": (8, 10),
        "identity": (8, len(IDENTITY_FIELDS)),
        "edges": (8, 1, 32, 32),
        "mask": (8, 32, 32),
    }
    assert len(data.train_dataloader()) == 3 and len(data.split_dataset("test")) == 10
    again = next(iter(data.train_dataloader()))
    assert torch.equal(batch["identity"], again["identity"])  # seeded order
    with pytest.raises(ConfigError, match="splits"):
        data.split_dataset("holdout")
