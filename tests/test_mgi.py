"""Multiple GAN Inversion (ganlab.methods.mgi) through task=translate: a correspondence file
and a StyleGAN2 file make a translator with no training; it warps, inverts under every
hypothesis and keeps the one of lowest FID; bad files get clear errors."""

import json
import os
import subprocess
import sys

import pytest
import torch
from PIL import Image

from ganlab.errors import ConfigError
from ganlab.methods.correspondence import CorrespondenceTraining
from ganlab.methods.mgi import MultipleGANInversion, structure_from_image
from ganlab.nets.correspondence import (
    CorrespondenceNet,
    load_correspondence,
    save_correspondence,
)
from ganlab.run import run_task
from ganlab.tasks.common import read_user_images
from tests.conftest import REPO, TINY_G, PooledPixels, compose_run


@pytest.fixture(scope="module")
def correspondence_file(tmp_path_factory):
    torch.manual_seed(0)
    net = CorrespondenceNet(structure_channels=1, width=8, adaptor_blocks=1, shared_blocks=1)
    path = tmp_path_factory.mktemp("corr") / "correspondence_tiny.pt"
    save_correspondence(net, path, {"structure": "edges", "n_mask_classes": 1})
    return path


@pytest.fixture(scope="module")
def structures_and_exemplar(tmp_path_factory):
    folder = tmp_path_factory.mktemp("structures")
    rng = torch.Generator().manual_seed(0)
    for i in range(3):
        edges = (torch.rand(16, 16, generator=rng) > 0.7).to(torch.uint8) * 255
        Image.fromarray(edges.numpy(), "L").convert("RGB").save(folder / f"edges_{i}.png")
    exemplar = folder.parent / "exemplar.png"
    pixels = (torch.rand(16, 16, 3, generator=rng) * 255).to(torch.uint8)
    Image.fromarray(pixels.numpy(), "RGB").save(exemplar)
    return folder, exemplar


def mgi_overrides(correspondence_file, extra=()):
    return [
        "task=translate",
        "model=mgi",
        f"model.generator_path={TINY_G}",
        f"model.correspondence_path={correspondence_file}",
        "model.features=domain_toyfaces",
        "model.blocks=[1,2]",
        "model.code_counts=[1,2]",
        "model.inversion.steps=3",
        "model.reference_samples=40",
        "model.progress=false",
        *extra,
    ]


def test_translate_runs_mgi_from_files_and_keeps_the_hypothesis_of_lowest_fid(
    tmp_path, correspondence_file, structures_and_exemplar
):
    folder, exemplar = structures_and_exemplar
    out = tmp_path / "mgi"
    overrides = mgi_overrides(correspondence_file, [f"input={folder}", f"exemplar={exemplar}"])
    run_task(compose_run(out, overrides))
    index = json.loads((out / "index.json").read_text())
    assert index["model"] == "model=MultipleGANInversion"
    assert index["hypotheses"] == ["block1_n1", "block1_n2", "block2_n1", "block2_n2"]
    decision = index["batches"][0]
    assert decision["chosen"] == min(decision["fids"], key=decision["fids"].get)
    assert len(decision["per_image"]) == 3
    assert Image.open(out / index["items"][0]["translations"]["0"]).size == (16, 16)


def test_the_translation_is_the_chosen_hypothesis_or_each_images_own(
    correspondence_file, structures_and_exemplar
):
    common = dict(
        generator_path=str(TINY_G),
        correspondence_path=str(correspondence_file),
        features="domain_toyfaces",
        blocks=[1, 2],
        code_counts=[1, 2],
        inversion={"steps": 2},
        reference_samples=40,
        progress=False,
    )
    structures = torch.rand(3, 3, 16, 16) * 2 - 1
    exemplar = torch.rand(3, 16, 16) * 2 - 1
    for decision in ("fid", "per_image"):
        mgi = MultipleGANInversion(**common, decision=decision)
        images = mgi.translate(structures, exemplar)
        last = mgi.last
        assert last.warped.shape == (3, 3, 4, 4) and last.candidates.shape == (3, 4, 3, 16, 16)
        pick = [last.chosen] * 3 if decision == "fid" else last.per_image.tolist()
        torch.testing.assert_close(images, last.candidates[torch.arange(3), pick])
        assert last.chosen == min(range(4), key=last.fids.__getitem__)
    with pytest.raises(ConfigError, match="decision must be one of"):
        MultipleGANInversion(**common, decision="psnr")


def test_structure_images_become_the_nets_input():
    grey = torch.full((1, 3, 2, 2), 0.5)
    assert structure_from_image(grey, "edges", 1).shape == (1, 1, 2, 2)
    ids = torch.tensor([[0.0, 1.0], [2.0, 9.0]])  # mask class ids as grey levels 0-255
    image = (ids / 127.5 - 1).expand(1, 3, 2, 2)
    one_hot = structure_from_image(image, "mask", 3)
    assert one_hot.argmax(1)[0].tolist() == [[0, 1], [2, 2]]  # ids past the classes clamp


def test_correspondence_files_and_exemplars_fail_clearly(
    tmp_path, correspondence_file, structures_and_exemplar
):
    with pytest.raises(ConfigError, match="experiment=correspondence_toyfaces"):
        load_correspondence(tmp_path / "missing.pt")
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(ConfigError, match="is not a ganlab correspondence file"):
        load_correspondence(foreign)
    net, details = load_correspondence(correspondence_file)
    assert details["structure"] == "edges" and not net.training
    folder, _ = structures_and_exemplar
    overrides = mgi_overrides(
        correspondence_file, [f"input={folder}", f"exemplar={tmp_path / 'none.png'}"]
    )
    with pytest.raises(ConfigError, match="no such image file"):
        run_task(compose_run(tmp_path / "bad", overrides))


def test_fitting_mgi_is_refused_with_the_task_to_use(tmp_path, correspondence_file):
    overrides = mgi_overrides(correspondence_file, ["task=fit"])
    with pytest.raises(ConfigError, match="MultipleGANInversion trains nothing: run it with task"):
        run_task(compose_run(tmp_path / "fit", overrides))


def test_correspondence_training_refuses_a_net_that_reads_another_structure():
    net = CorrespondenceNet(structure_channels=1, width=8)
    with pytest.raises(ConfigError, match="structure=mask gives 10 channel"):
        CorrespondenceTraining(net, torch.optim.Adam, "toyfaces", "mask", n_mask_classes=10)


def test_frozen_vgg_correspondence_translates_masks_read_by_nearest_neighbour(
    tmp_path, monkeypatch, structures_and_exemplar
):
    monkeypatch.setattr("ganlab.methods.mgi.VGGFeatures", PooledPixels)
    _, exemplar = structures_and_exemplar
    masks = tmp_path / "masks"
    masks.mkdir()
    ids = torch.arange(4).repeat_interleave(8).view(1, 32).expand(32, 32)  # 4 stripes
    Image.fromarray(ids.to(torch.uint8).numpy(), "L").save(masks / "stripes.png")  # 32 px
    overrides = mgi_overrides(
        "vgg19",
        [
            "model.structure=mask",
            "model.n_mask_classes=4",
            "model.correspondence_size=16",
            f"input={masks}",
            f"exemplar={exemplar}",
        ],
    )
    cfg = compose_run(tmp_path / "mgi", overrides)
    mgi = MultipleGANInversion(**{k: v for k, v in cfg.model.items() if k != "_target_"})
    assert mgi.input_shape() == (1, 16, 16)
    _, read = read_user_images(masks, mgi.input_shape(), resample=mgi.input_resample)
    grey_levels = ((read + 1) * 127.5).round().unique().tolist()
    assert grey_levels == [0.0, 1.0, 2.0, 3.0]  # class ids intact, no blend at the borders
    run_task(cfg)
    index = json.loads((tmp_path / "mgi" / "index.json").read_text())
    assert index["batches"][0]["chosen"] in index["hypotheses"]
    output = Image.open(tmp_path / "mgi" / index["items"][0]["translations"]["0"])
    assert output.size == (16, 16) and output.mode == "RGB"


def test_two_processes_share_the_batches_and_write_what_one_process_writes(
    tmp_path, correspondence_file, structures_and_exemplar
):
    """torchrun, 2 CPU processes: process r translates batches r, r + 2 (the same images per
    batch as alone, so the same decisions); rank 0 writes everything."""
    folder, exemplar = structures_and_exemplar
    args = mgi_overrides(
        correspondence_file, [f"input={folder}", f"exemplar={exemplar}", "batch_size=2"]
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    outs, outputs = {}, {}
    for processes in (1, 2):
        out = tmp_path / f"p{processes}"
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        command = [*launcher, f"--nproc_per_node={processes}", "-m", "ganlab.run"]
        result = subprocess.run(
            [*command, *args, f"hydra.run.dir={out}"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        outs[processes], outputs[processes] = out, result.stdout
    one = json.loads((outs[1] / "index.json").read_text())
    two = json.loads((outs[2] / "index.json").read_text())
    assert two.pop("processes") == 2
    assert len(one["batches"]) == 2  # 3 images in batches of 2 and 1
    assert two["batches"] == one["batches"] and two["items"] == one["items"]
    assert "process 1 of 2 ran batch(es) [1] of 2" in outputs[2]
    for item in one["items"]:
        name = item["translations"]["0"]
        assert (outs[1] / name).read_bytes() == (outs[2] / name).read_bytes(), name
