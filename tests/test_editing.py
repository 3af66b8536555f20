"""Latent editing (ganlab.editing): InterfaceGAN recovers a known boundary and projects out
conditions, GANSpace's components are orthonormal and ordered, SeFa's are eigenvectors of
A^T A; directions move the layers they name; the registry and the edit verbs."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ganlab.data.toyfaces import attribute_probabilities, render, sample_face
from ganlab.editing import (
    Direction,
    check_generator,
    conditional_direction,
    factorize,
    load_direction,
    modulation_weights,
    move,
    principal_components,
    resolve_direction,
    train_boundary,
)
from ganlab.errors import ConfigError
from ganlab.nets.stylegan2 import load_stylegan2
from ganlab.run import run_task
from tests.conftest import TINY_G, compose_run


def test_interfacegan_recovers_the_normal_of_a_separable_labelling():
    rng = torch.Generator().manual_seed(0)
    codes = torch.randn(2000, 16, generator=rng)
    normal = torch.randn(16, generator=rng)
    normal /= normal.norm()
    scores = codes @ normal + 0.05 * torch.randn(2000, generator=rng)
    found = train_boundary(codes, scores)  # the reference's top / bottom 2 %
    assert torch.dot(found.normal, normal) >= 0.95
    assert found.normal.norm() == pytest.approx(1.0)
    labels = (codes @ normal > 0.3).float()  # two values: every sample, with its label
    by_labels = train_boundary(codes, labels)
    assert torch.dot(by_labels.normal, normal) >= 0.95
    assert by_labels.n_positive + by_labels.n_negative == 2000
    assert by_labels.validation_accuracy > 0.95


def test_conditional_direction_is_orthogonal_to_the_conditions():
    rng = torch.Generator().manual_seed(1)
    n, c1, c2 = (v / v.norm() for v in torch.randn(3, 8, generator=rng))
    one = conditional_direction(n, [c1])
    expected = n - torch.dot(n, c1) * c1  # InterfaceGAN eq. 5, one condition
    torch.testing.assert_close(one, expected / expected.norm())
    two = conditional_direction(n, [c1, c2])
    assert abs(torch.dot(two, c1)) < 1e-5 and abs(torch.dot(two, c2)) < 1e-5
    assert torch.dot(two, n) > 0 and two.norm() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="span of the conditions"):
        conditional_direction(c1, [c1])


def test_ganspace_components_are_orthonormal_and_ordered_by_variance():
    rng = torch.Generator().manual_seed(2)
    w = torch.randn(3000, 6, generator=rng) * torch.tensor([5.0, 3.0, 2.0, 1.0, 0.5, 0.1])
    w = w @ torch.linalg.qr(torch.randn(6, 6, generator=rng)).Q.T + 4.0
    components = principal_components(w, 4)
    gram = components.directions @ components.directions.T
    torch.testing.assert_close(gram, torch.eye(4), atol=1e-5, rtol=0)
    assert (components.variances[:-1] > components.variances[1:]).all()
    torch.testing.assert_close(components.stds**2, components.variances, rtol=1e-3, atol=0)
    torch.testing.assert_close(components.mean, w.mean(0), atol=1e-4, rtol=0)


def test_sefa_directions_are_eigenvectors_of_a_transpose_a():
    generator, _ = load_stylegan2(TINY_G)
    weights = modulation_weights(generator)
    torch.testing.assert_close(
        modulation_weights(generator, [0]), generator.conv1.conv.modulation.weight
    )
    directions, eigenvalues = factorize(weights)
    a = weights.double() / weights.double().norm(dim=1, keepdim=True)
    gram = a.T @ a
    for direction, value in zip(directions.double(), eigenvalues.double(), strict=True):
        torch.testing.assert_close(gram @ direction, value * direction, atol=1e-4, rtol=1e-4)
    assert (eigenvalues[:-1] >= eigenvalues[1:]).all()
    torch.testing.assert_close(
        directions @ directions.T, torch.eye(len(directions)), atol=1e-5, rtol=0
    )
    with pytest.raises(ValueError, match=r"layers \[99\] are not W\+ layers"):
        modulation_weights(generator, [99])


def test_a_direction_moves_only_its_layers_by_its_strengths():
    codes = torch.zeros(2, 6, 4)
    direction = Direction("d", torch.ones(4), "w", "user", "g", "", layers=[2, 3])
    moved = move(codes, direction, torch.tensor([1.0, -2.0]))
    assert moved[:, [0, 1, 4, 5]].abs().sum() == 0
    torch.testing.assert_close(moved[0, 2], torch.ones(4))
    torch.testing.assert_close(moved[1, 3], -2 * torch.ones(4))
    everywhere = Direction("e", torch.ones(4), "w", "user", "g", "")
    torch.testing.assert_close(move(torch.zeros(2, 4), everywhere, 3.0), torch.full((2, 4), 3.0))
    with pytest.raises(ConfigError, match=r"has shape \(5,\), which does not fit codes"):
        move(codes, Direction("f", torch.ones(5), "w", "user", "g", ""), 1.0)
    with pytest.raises(ConfigError, match="lives in Z"):
        move(codes, Direction("z", torch.ones(4), "z", "user", "g", ""), 1.0)


def test_directions_round_trip_and_the_registry_names_what_it_ships(tmp_path):
    made = Direction(
        "x", torch.randn(6, 4), "w+", "sefa", "asset:g.pt", "sha256:1", [0, 1], {"k": 1}
    )
    loaded = load_direction(made.save(tmp_path / "x.pt"))
    assert (loaded.name, loaded.space, loaded.layers, loaded.details) == (
        "x",
        "w+",
        [0, 1],
        {"k": 1},
    )
    torch.testing.assert_close(loaded.vector, made.vector)
    smiling = resolve_direction("toyfaces/smiling")
    assert (
        smiling.method == "interfacegan" and smiling.generator == "asset:stylegan2_toyfaces_64.pt"
    )
    assert smiling.vector.shape == (128,) and smiling.vector.norm() == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="unknown direction 'toyfaces/grumpy'.*toyfaces/smiling"):
        resolve_direction("toyfaces/grumpy")
    with pytest.raises(ConfigError, match="was made for the generator of asset:g.pt"):
        check_generator(made, "sha256:2", "other.pt")
    pickled = tmp_path / "evil.pt"
    torch.save({"direction": np.float64}, pickled)  # not loadable with weights_only
    with pytest.raises(ConfigError, match="cannot be read"):
        load_direction(pickled)


@pytest.fixture
def three_faces(tmp_path):
    folder = tmp_path / "faces"
    folder.mkdir()
    probs = attribute_probabilities()
    for i in range(3):
        face = render(*sample_face(0, "test", i, probs))
        Image.fromarray(((face.permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()).save(
            folder / f"face{i}.png"
        )
    return folder


def test_edit_a_folder_with_a_shipped_direction(tmp_path, three_faces):
    """The acceptance command (with 20 optimisation steps instead of 200, to keep the suite
    quick): no model given, so the direction's generator inverts the faces by
    optimisation, then the grid and index."""
    out = tmp_path / "edit"
    overrides = ["task=edit", f"input={three_faces}", "direction=toyfaces/smiling"]
    overrides.append("inversion.steps=20")
    run_task(compose_run(out, [*overrides, "strengths=[-3,0,3]", "interpolate_steps=4"]))
    index = json.loads((out / "index.json").read_text())
    assert index["model"].endswith("stylegan2_toyfaces_64.pt")
    assert index["strengths"] == [-3.0, 0.0, 3.0] and len(index["items"]) == 3
    assert Image.open(out / "edits.png").size[0] > 4 * 64  # input + 3 strengths
    assert (out / "interpolation.png").is_file()
    zero = np.asarray(Image.open(out / index["items"][0]["edited"]["0"]), dtype=float)
    plus = np.asarray(Image.open(out / index["items"][0]["edited"]["3"]), dtype=float)
    assert np.abs(zero - plus).mean() > 1.0  # the edit changes the image


def test_train_directions_with_sefa_ganspace_and_a_label_file(tmp_path, three_faces):
    common = ["task=train_direction", "asset=stylegan2_toyfaces_64", "n_components=3"]
    run_task(compose_run(tmp_path / "sefa", [*common, "direction_method=sefa", "layers=[0,1,2]"]))
    sefa = load_direction(tmp_path / "sefa" / "directions" / "sefa_0.pt")
    assert sefa.layers == [0, 1, 2] and sefa.details["factorised_layers"] == [0, 1, 2]
    run_task(compose_run(tmp_path / "pca", [*common, "direction_method=ganspace", "n_samples=300"]))
    index = json.loads((tmp_path / "pca" / "index.json").read_text())
    variances = [item["variance"] for item in index["items"]]
    assert (
        variances == sorted(variances, reverse=True)
        and (tmp_path / "pca" / "previews.png").is_file()
    )
    inverted = tmp_path / "inv"
    run_task(compose_run(inverted, ["task=invert", f"input={three_faces}", "asset=psp_toyfaces"]))
    labels = tmp_path / "labels.csv"
    labels.write_text("name,smiling\nface0,0\nface1,1\nface2,0\n")
    run_task(
        compose_run(
            tmp_path / "labelled",
            [
                "task=train_direction",
                "asset=psp_toyfaces",
                f"codes={inverted / 'codes.pt'}",
                f"labels={labels}",
                "space=w+",
                "split_ratio=1.0",
            ],
        )
    )
    made = load_direction(tmp_path / "labelled" / "directions" / "smiling.pt")
    assert made.space == "w+" and made.vector.shape == (10, 128)
    labels.write_text("name,smiling\nface0,0\n")
    with pytest.raises(ConfigError, match=r"has no row for codes \['face1', 'face2'\]"):
        run_task(
            compose_run(
                tmp_path / "bad",
                [
                    "task=train_direction",
                    "asset=psp_toyfaces",
                    f"codes={inverted / 'codes.pt'}",
                    f"labels={labels}",
                ],
            )
        )
