"""Multiple GAN Inversion (ganlab.methods.inversion.mgi) through task=translate: a
correspondence file and a StyleGAN2 file make a translator with no training; it warps at a
quarter of the output size, inverts under every hypothesis of the paper's grid and keeps,
for each image, the hypothesis of lowest FID (or one per batch); conflicting settings and
bad files get clear errors."""

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from hydra.utils import instantiate
from PIL import Image

from ganlab.errors import ConfigError
from ganlab.inversion.multi_code import Hypothesis, MultiCodeSettings, build_optimizer
from ganlab.methods.instruments.correspondence import CorrespondenceTraining
from ganlab.methods.inversion.mgi import MultipleGANInversion, structure_from_image
from ganlab.nets.correspondence import (
    CorrespondenceNet,
    load_correspondence,
    save_correspondence,
)
from ganlab.run import run_task
from ganlab.tasks.user_images import read_user_images
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
    assert index["decision"] == "per_image"  # the paper's, by default
    decision = index["batches"][0]
    assert len(decision["image_choices"]) == len(decision["image_fids"]) == 3
    for fids, choice in zip(decision["image_fids"], decision["image_choices"], strict=True):
        assert choice == min(fids, key=fids.get)
    assert decision["batch_choice"] == min(decision["batch_fids"], key=decision["batch_fids"].get)
    assert Image.open(out / index["items"][0]["translations"]["0"]).size == (16, 16)


def tiny_mgi(correspondence_file, **settings) -> MultipleGANInversion:
    """MGI on the 16 px test generator and the untrained tiny correspondence net."""
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
    return MultipleGANInversion(**(common | settings))


def test_the_translation_is_each_images_own_hypothesis_or_the_batchs(correspondence_file):
    structures = torch.rand(3, 3, 16, 16) * 2 - 1
    exemplar = torch.rand(3, 16, 16) * 2 - 1
    for decision in ("per_image", "per_batch"):
        mgi = tiny_mgi(correspondence_file, decision=decision)
        images = mgi.translate(structures, exemplar)
        last = mgi.last
        assert last.warped.shape == (3, 3, 4, 4)  # a quarter of the 16 px output
        assert images.shape == (3, 3, 16, 16) and last.candidates.shape == (3, 4, 3, 16, 16)
        pick = [last.batch_choice] * 3 if decision == "per_batch" else last.image_choices
        assert last.picks.tolist() == list(pick)
        torch.testing.assert_close(images, last.candidates[torch.arange(3), last.picks])
        assert last.batch_choice == min(range(4), key=last.batch_fids.__getitem__)
        assert last.image_choices.tolist() == last.image_fids.argmin(1).tolist()
    assert tiny_mgi(correspondence_file).decision == "per_image"
    with pytest.raises(ConfigError, match="decision must be one of"):
        tiny_mgi(correspondence_file, decision="fid")


class MeanColour(torch.nn.Module):
    """A feature net for the decision test: an image's mean colour (B, 3)."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.mean((2, 3))


def test_each_image_keeps_its_own_best_hypothesis_where_the_batchs_choice_differs(
    monkeypatch, correspondence_file
):
    """Two images, two hypotheses; the features are the outputs' mean colours against a
    standard normal reference. Hypothesis 0 puts image 0 at the reference mean and image 1
    far off; hypothesis 1 puts both at one middling point. Each image alone: image 0 takes
    hypothesis 0 (||f - mu||^2 0 vs 0.48), image 1 hypothesis 1 (2.43 vs 0.48). As a batch,
    hypothesis 0's pair, spread like the reference, wins (FID 2.6 vs 3.5)."""
    colours = torch.tensor([[0.0, 0.4], [0.9, 0.4]])  # (image, hypothesis)
    candidates = colours.view(2, 2, 1, 1, 1).expand(2, 2, 3, 16, 16).contiguous()
    fake_inversion = SimpleNamespace(images=candidates, losses=torch.zeros(2, 2))
    monkeypatch.setattr(
        "ganlab.methods.inversion.mgi.multi_code_invert", lambda *a, **k: fake_inversion
    )
    reference = torch.randn(4000, 3, generator=torch.Generator().manual_seed(0))
    picks = {}
    for decision in ("per_image", "per_batch"):
        mgi = tiny_mgi(
            correspondence_file, blocks=[1], reference_features=reference, decision=decision
        )
        mgi.features = MeanColour()
        result = mgi.refine(torch.zeros(2, 3, 4, 4))
        picks[decision] = result.picks.tolist()
        torch.testing.assert_close(result.images, candidates[torch.arange(2), result.picks])
    assert picks == {"per_image": [0, 1], "per_batch": [0, 0]}


def test_the_warp_is_a_quarter_of_the_output_and_a_conflicting_factor_is_refused(
    correspondence_file,
):
    mgi = tiny_mgi(correspondence_file)
    assert mgi.correspondence_size == 16 and mgi.settings.downsample == 4  # the paper's 4x
    warped = mgi.warp(torch.rand(2, 1, 16, 16), torch.rand(1, 3, 16, 16))
    assert warped.shape == (2, 3, 4, 4)
    with pytest.raises(ConfigError) as refused:  # a 32 px match warps at 8 px: 2x, not 4x
        tiny_mgi(correspondence_file, correspondence_size=32)
    message = str(refused.value)
    assert "model.correspondence_size=16 to keep downsample=4" in message
    assert "model.inversion.downsample=2 to refine this 8 px warp" in message
    old = tiny_mgi(correspondence_file, correspondence_size=32, inversion={"downsample": 2})
    assert old.warp(torch.rand(1, 1, 16, 16), torch.rand(1, 3, 16, 16)).shape[-1] == 8


def test_chunks_of_the_correlation_matrix_warp_as_the_whole_matrix(correspondence_file):
    structures, exemplar = torch.rand(2, 1, 16, 16), torch.rand(1, 3, 16, 16) * 2 - 1
    whole = tiny_mgi(correspondence_file).warp(structures, exemplar)
    in_chunks = tiny_mgi(correspondence_file, max_correlation_entries=5 * 16 * 2)  # 5 rows
    torch.testing.assert_close(in_chunks.warp(structures, exemplar), whole)
    with pytest.raises(ConfigError, match="max_correlation_entries must be >= 1"):
        tiny_mgi(correspondence_file, max_correlation_entries=0)


def test_toyfaces_runs_the_papers_grid_and_4x_refinement(tmp_path):
    """The 64 px generator keeps the whole grid (blocks 1-3: 8, 16, 32 px x 10-40 codes): a
    16 px warp refined into 64 px faces; the SGD option is mGANprior's plain SGD at lr 1."""
    overrides = ["experiment=mgi_toyfaces", "model.inversion.steps=1"]
    overrides += ["model.reference_samples=20", "model.progress=false"]
    cfg = compose_run(tmp_path, overrides)
    mgi = instantiate(cfg.model)
    expected = [Hypothesis(b, n) for b in (1, 2, 3) for n in (10, 20, 30, 40)]
    assert mgi.hypotheses == expected and mgi.decision == "per_image"
    warped = mgi.warp(torch.rand(1, 1, 64, 64), torch.rand(1, 3, 64, 64) * 2 - 1)
    assert warped.shape == (1, 3, 16, 16)
    result = mgi.refine(warped, [Hypothesis(1, 2)])
    assert result.images.shape == (1, 3, 64, 64)
    sgd = compose_run(tmp_path, ["experiment=mgi_toyfaces", "model.inversion.optimizer=sgd"])
    settings = MultiCodeSettings(**sgd.model.inversion)
    optimizer = build_optimizer([torch.zeros(1, requires_grad=True)], settings)
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.defaults["lr"] == 1.0
    assert optimizer.defaults["momentum"] == 0 and settings.steps == 2000
    assert settings.lr_rampup == settings.lr_rampdown == 0  # a constant lr, as mGANprior's


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
    monkeypatch.setattr("ganlab.methods.inversion.mgi.VGGFeatures", PooledPixels)
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
    assert set(index["batches"][0]["image_choices"]) <= set(index["hypotheses"])
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
