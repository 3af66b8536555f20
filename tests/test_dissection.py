"""GAN dissection (ganlab.analysis.dissection, task=dissect) and its instrument, the
segmenter (experiment=segmenter_toyfaces)."""

import csv
import json

import pytest
import torch

from ganlab.analysis.dissection import (
    LayerProbe,
    class_shares,
    iou_counts,
    on_values,
    unit_class_iou,
    unit_thresholds,
)
from ganlab.errors import ConfigError
from ganlab.nets.segmenter import Segmenter, load_segmenter, save_segmenter
from ganlab.nets.stylegan2 import load_stylegan2
from ganlab.run import run_task
from tests.conftest import TINY_G, compose_run


def test_thresholds_leave_the_top_share_of_each_units_values_above():
    values = torch.arange(1.0, 101.0)  # one unit, 100 values over 4 samples x 5 x 5
    activations = torch.stack([values, 101 - values]).T.reshape(4, 25, 2).permute(0, 2, 1)
    thresholds = unit_thresholds(activations.reshape(4, 2, 5, 5), 0.9)
    torch.testing.assert_close(thresholds, torch.tensor([90.0, 90.0]))
    assert ((activations.reshape(4, 2, 25) > 90).sum((0, 2)) == 10).all()
    with pytest.raises(ValueError, match="quantile"):
        unit_thresholds(activations.reshape(4, 2, 5, 5), 1.0)


def test_iou_counts_on_a_hand_made_case():
    on = torch.tensor([[[[1, 1], [0, 0]]]], dtype=torch.bool)  # one unit, top row on
    masks = torch.tensor([[[0, 1], [1, 1]]])  # class 1 covers three pixels
    intersection, unit_area, class_area = iou_counts(on, masks, 2)
    assert intersection.tolist() == [[1.0, 1.0]]
    assert unit_area.tolist() == [2.0] and class_area.tolist() == [1.0, 3.0]


def test_a_unit_whose_map_is_a_class_mask_has_iou_one():
    rng = torch.Generator().manual_seed(0)
    masks = torch.zeros(6, 16, 16, dtype=torch.long)
    masks[:, 4:12, 4:12] = 1  # class 1: a quarter of the pixels
    masks[:, :2] = 2
    exact = (masks == 1).float()[:, None]
    noise = torch.rand(6, 1, 16, 16, generator=rng)
    activations = torch.cat([exact, noise], 1)  # unit 0 is the class mask, unit 1 noise
    thresholds = unit_thresholds(activations, 0.5)  # unit 0: t = 0, its map is the mask
    iou = unit_class_iou(activations, masks, thresholds, 3, chunk=4)
    assert iou[0, 1].item() == 1.0
    assert iou[1].max() < 0.6 and iou[0, 0] == 0 and iou[0, 2] == 0
    assert on_values(activations, thresholds)[0].item() == 1.0
    torch.testing.assert_close(class_shares(masks, 3), torch.tensor([0.625, 0.25, 0.125]))


def test_the_probe_reads_a_layer_and_sets_units_only_while_asked():
    generator, _ = load_stylegan2(TINY_G)
    generator.eval()
    w = torch.randn(2, generator.style_dim)
    probe = LayerProbe(generator, "convs.1")
    with torch.no_grad(), probe.active():
        plain = generator([w], input_is_latent=True, randomize_noise=False)[0]
        with probe.setting(torch.tensor([0, 2]), torch.zeros(2)):
            ablated = generator([w], input_is_latent=True, randomize_noise=False)[0]
        again = generator([w], input_is_latent=True, randomize_noise=False)[0]
    first, second, third = probe.captured
    assert first[:, [0, 2]].abs().sum() > 0 and second[:, [0, 2]].abs().sum() == 0
    torch.testing.assert_close(second[:, 1], first[:, 1])  # other units untouched
    assert not torch.equal(plain, ablated) and torch.equal(plain, again)
    with pytest.raises(ValueError, match="no layer 'convs.99'"):
        LayerProbe(generator, "convs.99")


@pytest.fixture(scope="module")
def tiny_segmenter(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("segmenter") / "segmenter_tiny.pt"
    save_segmenter(Segmenter(3, 4, width=8), path, {"class_names": ["bg", "a", "b", "c"]})
    return path


def test_task_dissect_writes_the_unit_class_table_and_interventions(tmp_path, tiny_segmenter):
    out = tmp_path / "dissect"
    overrides = [
        "task=dissect",
        f"ckpt_path={TINY_G}",
        f"segmenter={tiny_segmenter}",
        "layer=convs.1",
        "n_samples=12",
        "batch_size=5",
        "top_units=2",
        "quantile=0.9",
    ]
    run_task(compose_run(out, overrides))
    report = json.loads((out / "dissection.json").read_text())
    assert report["layer"] == "convs.1" and [c["class"] for c in report["classes"]] == [
        "bg",
        "a",
        "b",
        "c",
    ]
    with (out / "units.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == report["units"] and set(rows[0]) == {
        "unit",
        "best_class",
        "bg",
        "a",
        "b",
        "c",
    }
    for entry in report["classes"]:
        column = [float(row[entry["class"]]) for row in rows]
        assert entry["best_iou"] == pytest.approx(max(column), abs=1e-4)
        assert len(entry["top_units"]) == 2 and entry["best_unit"] == entry["top_units"][0]
        assert 0 <= entry["share_ablated"] <= 1 and 0 <= entry["share_inserted"] <= 1
    assert (out / "interventions.png").is_file() and (out / "index.json").is_file()


def test_a_missing_or_foreign_segmenter_is_refused_by_name(tmp_path):
    with pytest.raises(ConfigError, match="experiment=segmenter_toyfaces"):
        load_segmenter(tmp_path / "nope.pt")
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.ones(1)}, foreign)
    with pytest.raises(ConfigError, match="not a ganlab segmenter file"):
        load_segmenter(foreign)


def test_the_segmenter_learns_toyfaces_masks_beyond_the_majority_class(tmp_path):
    out = tmp_path / "seg"
    overrides = [
        "experiment=segmenter_toyfaces",
        "steps=30",
        "data.n_train=256",
        "eval.n_samples=64",
        "model.segmenter.width=16",
    ]
    run_task(compose_run(out, overrides))
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    segmenter, details = load_segmenter(out / "segmenter_toyfaces.pt")
    assert details["class_names"][2] == "hair" and segmenter.config["n_classes"] == 10
    # background is about half of a face image; the net must find the skin and hair too
    assert metrics["val_pixel_accuracy"] > 0.75 and metrics["val_iou_skin"] > 0.4
