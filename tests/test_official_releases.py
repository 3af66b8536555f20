"""The official releases as users download them (issue 35), on small stand-ins made here in
the official key layouts and formats: generator files in torch's legacy format invert, edit,
train directions and dissect; encoder and other user files load in either format; preview
grids of inputs and outputs of different sizes, written after index.json; the perceptual
term at 256 px; SeFa's reference weights; UDA's FID against the evaluation images; the file
lists and messages of the real-data runs."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

from ganlab import torch_files
from ganlab.callbacks.samples import at_one_size, cover_and_crop, preview_grid
from ganlab.checkpoints import save_model_file
from ganlab.data.domains import UDADataModule
from ganlab.data.toyfaces import ToyFacesDataModule
from ganlab.editing import load_direction, modulation_weights
from ganlab.editing.directions import Direction
from ganlab.editing.sefa import convs_by_layer
from ganlab.errors import CheckpointError, ConfigError, GanlabError, MissingWeightsError
from ganlab.inversion import OptimisationSettings, is_generator_file, optimise_codes
from ganlab.inversion.loading import settings_from
from ganlab.inversion.multi_code import MultiCodeSettings, multi_code_objective
from ganlab.inversion.optimisation import perceptual_view
from ganlab.metrics.evaluator import Evaluator
from ganlab.nets.correspondence import CorrespondenceNet, save_correspondence
from ganlab.nets.encoders import GradualStyleEncoder, load_net_weights
from ganlab.nets.segmenter import Segmenter, save_segmenter
from ganlab.nets.stylegan2 import Generator, load_stylegan2
from ganlab.run import check_required_files, run_task
from ganlab.torch_files import is_zip_format, load_tensor_file
from tests.conftest import TINY_G, compose_run
from tests.test_real_data import celeba_values, write_attribute_file, write_image

LAYOUT_1024 = TINY_G.parent / "keys_ffhq_1024_config_f.json"
NO_PERCEPTUAL = ["inversion.steps=2", "inversion.perceptual=null"]


def save_release(payload: dict, path: Path, legacy: bool) -> Path:
    """``torch.save`` as a release of 2019-20 (legacy format) or of PyTorch >= 1.6 (zip)."""
    torch.save(payload, path, _use_new_zipfile_serialization=not legacy)
    return path


def rosinality_release(generator: Generator, latent_avg: torch.Tensor) -> dict:
    """What rosinality's convert_weight.py writes: ``g_ema`` and ``latent_avg``, no config."""
    return {"g_ema": generator.state_dict(), "latent_avg": latent_avg}


@pytest.fixture(scope="module")
def legacy_generator(tmp_path_factory) -> Path:
    """The 16 px fixture generator as an official release in the legacy format."""
    saved = torch.load(TINY_G, weights_only=True)
    path = tmp_path_factory.mktemp("release") / "stylegan2-tiny-config-f.pt"
    return save_release({"g_ema": saved["g_ema"], "latent_avg": saved["latent_avg"]}, path, True)


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    """Three photos of another shape than any model's (40 x 32)."""
    folder = tmp_path_factory.mktemp("faces")
    for i in range(3):
        write_image(folder / f"face{i}.png", seed=i, size=(40, 32))
    return folder


# ---- item 1: either torch file format ------------------------------------------------------
@pytest.mark.parametrize("legacy", [True, False])
def test_a_64px_rosinality_release_loads_in_either_format(tmp_path, monkeypatch, legacy):
    torch.manual_seed(0)
    channels = {4: 16, 8: 16, 16: 16, 32: 8, 64: 8}  # reduced widths, the official key names
    generator = Generator(64, 32, 8, channels=channels).eval()
    official = list(json.loads(LAYOUT_1024.read_text()))
    assert set(generator.state_dict()) <= set(official)
    latent_avg = torch.randn(32)
    path = save_release(rosinality_release(generator, latent_avg), tmp_path / "g.pt", legacy)
    assert is_zip_format(path) is not legacy
    mapped = []

    def spy(*args, **kwargs):
        mapped.append(kwargs["mmap"])
        return torch.serialization.load(*args, **kwargs)

    monkeypatch.setattr(torch_files.torch, "load", spy)
    assert is_generator_file(path)
    loaded, loaded_avg = load_stylegan2(path)
    assert mapped and set(mapped) == {not legacy}  # only zip files are memory-mapped
    assert (loaded.size, loaded.style_dim, loaded.channels) == (64, 32, channels)
    torch.testing.assert_close(loaded_avg, latent_avg)
    w = torch.randn(2, 32)
    with torch.no_grad():
        expected = generator([w], input_is_latent=True, randomize_noise=False)[0]
        got = loaded.eval()([w], input_is_latent=True, randomize_noise=False)[0]
    torch.testing.assert_close(got, expected)


def test_a_foreign_or_pickled_file_is_refused_by_name_in_either_format(tmp_path):
    for legacy in (True, False):
        pickled = save_release({"opts": np.float64}, tmp_path / f"p{legacy}.pt", legacy)
        with pytest.raises(CheckpointError, match="weights_only=True, never unpickling"):
            load_tensor_file(pickled, "generator file")
    (tmp_path / "damaged.pt").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CheckpointError, match="cannot read generator file .*damaged.pt"):
        load_tensor_file(tmp_path / "damaged.pt", "generator file")


@pytest.mark.parametrize("legacy", [True, False])
def test_e4e_layout_encoders_and_directions_load_in_either_format(tmp_path, legacy):
    """An e4e release: ``state_dict`` with ``encoder.*`` and ``decoder.*`` entries, the
    ``latent_avg`` and pSp's ``opts`` dict (plain values)."""
    torch.manual_seed(0)
    encoder = GradualStyleEncoder(10, 64, style_dim=32, backbone="conv", width=16, mode="e4e")
    state = {f"encoder.{k}": v for k, v in encoder.state_dict().items()}
    state |= {"decoder.style.1.weight": torch.randn(32, 32)}
    release = {"state_dict": state, "latent_avg": torch.randn(10, 32), "opts": {"lr": 1e-4}}
    path = save_release(release, tmp_path / "e4e_ffhq_encode.pt", legacy)
    copy = GradualStyleEncoder(10, 64, style_dim=32, backbone="conv", width=16, mode="e4e")
    load_net_weights(copy, path, "encoder.", "encoder")
    pairs = zip(copy.state_dict().values(), encoder.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
    made = Direction("smile", torch.randn(32), "w", "sefa", "g.pt", "sha256:1")
    record = torch.load(made.save(tmp_path / "made.pt"), weights_only=True)
    direction = save_release(record, tmp_path / "smile.pt", legacy)
    assert torch.equal(load_direction(direction).vector, made.vector)


# ---- the acceptance line: a legacy-format generator in every task ---------------------------
def test_a_legacy_format_generator_inverts_trains_directions_and_edits(
    tmp_path, legacy_generator, faces
):
    inverted = tmp_path / "invert"
    run_task(
        compose_run(
            inverted,
            ["task=invert", f"input={faces}", f"ckpt_path={legacy_generator}", *NO_PERCEPTUAL],
        )
    )
    index = json.loads((inverted / "index.json").read_text())
    assert index["inversion"] == "optimisation" and index["code_shape"] == [6, 64]
    assert len(index["items"]) == 3 and (inverted / "before_after.png").is_file()
    assert index["settings"]["perceptual_size"] == 256

    directions = tmp_path / "directions"
    run_task(
        compose_run(
            directions,
            [
                "task=train_direction",
                f"ckpt_path={legacy_generator}",
                "direction_method=sefa",
                "n_components=2",
            ],
        )
    )
    sefa = load_direction(directions / "directions" / "sefa_0.pt")
    assert sefa.details["factorised_weights"] == "reference"
    assert (directions / "index.json").is_file() and (directions / "previews.png").is_file()

    edited = tmp_path / "edit"
    overrides = [
        "task=edit",
        f"input={faces}",
        f"ckpt_path={legacy_generator}",
        f"direction={directions / 'directions' / 'sefa_0.pt'}",
        "strengths=[-2,2]",
        "interpolate_steps=3",
        *NO_PERCEPTUAL,
    ]
    run_task(compose_run(edited, overrides))
    index = json.loads((edited / "index.json").read_text())
    assert index["direction_method"] == "sefa" and len(index["items"]) == 3
    assert index["interpolation"] == "interpolation.png" and (edited / "edits.png").is_file()
    assert (edited / "interpolation.png").is_file()
    assert Image.open(edited / index["items"][0]["edited"]["2"]).size == (16, 16)


def test_a_legacy_format_generator_dissects(tmp_path, legacy_generator):
    torch.manual_seed(0)
    segmenter = tmp_path / "segmenter.pt"
    save_segmenter(Segmenter(3, 3, width=8), segmenter, {"class_names": ["bg", "a", "b"]})
    out = tmp_path / "dissect"
    overrides = [
        "task=dissect",
        f"ckpt_path={legacy_generator}",
        f"segmenter={segmenter}",
        "layer=convs.1",
        "n_samples=6",
        "batch_size=3",
        "top_units=1",
    ]
    run_task(compose_run(out, overrides))
    report = json.loads((out / "dissection.json").read_text())
    assert report["layer"] == "convs.1" and len(report["classes"]) == 3
    assert (out / "index.json").is_file() and (out / "interventions.png").is_file()


# ---- item 2: grids across sizes; outputs first ---------------------------------------------
def test_preview_rows_of_other_sizes_share_the_smallest_size():
    small, large = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    grid = preview_grid({"input": small, "output": large}, 2)
    assert grid.shape == preview_grid({"input": small, "output": small}, 2).shape
    pooled = cover_and_crop(large, (16, 16))
    torch.testing.assert_close(pooled, F.avg_pool2d(large, 4))  # area-averaged, not resampled
    wide = torch.arange(2 * 8 * 12, dtype=torch.float).view(2, 1, 8, 12)
    torch.testing.assert_close(cover_and_crop(wide, (8, 8)), wide[..., 2:10])  # the centre
    grown = cover_and_crop(torch.rand(1, 3, 4, 4), (8, 8))
    assert grown.shape == (1, 3, 8, 8)
    assert [b.shape[-1] for b in at_one_size([large, small, large])] == [16, 16, 16]


@pytest.fixture(scope="module")
def uda_model_with_small_inputs(tmp_path_factory) -> Path:
    """A published UDA-Inversion model (untrained) whose encoder reads 32 px images and whose
    generator draws 64 px ones, as uda_ffhq's reads 256 px and draws 1024."""
    folder = tmp_path_factory.mktemp("uda")
    overrides = [
        "experiment=uda_toyfaces",
        "model.encoder_path=null",
        "model.train_encoder=true",
        "model.encoder.width=16",
        "model.consultation.widths=[8,8,8]",
        "model.condition_size=16",
        "data.base.size=32",
        "data.base.n_train=8",
        "data.base.n_val=4",
        "data.base.n_test=4",
    ]
    cfg = compose_run(folder / "unused", overrides)
    torch.manual_seed(0)
    module = instantiate(cfg.model)
    path = folder / "uda_small_inputs.pt"
    save_model_file(module, OmegaConf.to_container(cfg, resolve=True), path)
    return path


def test_edit_and_invert_with_inputs_smaller_than_the_generator(
    tmp_path, uda_model_with_small_inputs, faces
):
    model = f"ckpt_path={uda_model_with_small_inputs}"
    edited = tmp_path / "edit"
    overrides = ["task=edit", f"input={faces}", model, "direction=toyfaces/smiling"]
    run_task(compose_run(edited, [*overrides, "strengths=[-2,0,2]"]))
    index = json.loads((edited / "index.json").read_text())
    assert Image.open(edited / index["items"][0]["edited"]["2"]).size == (64, 64)
    rows = {f"face{i}": torch.zeros(4, 3, 32, 32) for i in range(3)}  # input + 3 strengths
    grid = preview_grid(rows, 4)  # at the inputs' 32 px
    assert Image.open(edited / "edits.png").size == (grid.shape[2], grid.shape[1])
    inverted = tmp_path / "invert"
    run_task(compose_run(inverted, ["task=invert", f"input={faces}", model]))
    index = json.loads((inverted / "index.json").read_text())
    assert Image.open(inverted / index["items"][0]["reconstruction"]).size == (32, 32)
    assert (inverted / "before_after.png").is_file()


def test_translate_grid_with_structures_smaller_than_the_output(tmp_path):
    """MGI's structure images at 8 px (a 2 px warp refined 8x) into the 16 px generator, as
    mgi_ffhq's 256 px edge maps into the 1024 px one."""
    torch.manual_seed(0)
    net = CorrespondenceNet(structure_channels=1, width=8, adaptor_blocks=1, shared_blocks=1)
    save_correspondence(net, tmp_path / "corr.pt", {"structure": "edges", "n_mask_classes": 1})
    edges = tmp_path / "edges"
    for i in range(2):
        write_image(edges / f"edges{i}.png", seed=i, size=(16, 16))
    write_image(tmp_path / "exemplar.png", seed=9, size=(16, 16))
    out = tmp_path / "translate"
    overrides = [
        "task=translate",
        "model=mgi",
        f"model.generator_path={TINY_G}",
        f"model.correspondence_path={tmp_path / 'corr.pt'}",
        "model.features=domain_toyfaces",
        "model.blocks=[1]",
        "model.code_counts=[1]",
        "model.inversion.steps=2",
        "model.reference_samples=20",
        "model.progress=false",
        "model.correspondence_size=8",
        "model.inversion.downsample=8",
        f"input={edges}",
        f"exemplar={tmp_path / 'exemplar.png'}",
    ]
    run_task(compose_run(out, overrides))
    index = json.loads((out / "index.json").read_text())
    assert Image.open(out / index["items"][0]["translations"]["0"]).size == (16, 16)
    assert Image.open(out / "translations.png").size[1] == 2 * 10 + 2  # two 8 px rows


def test_a_failing_preview_leaves_the_outputs_and_their_index(
    tmp_path, monkeypatch, legacy_generator, faces
):
    def broken(*args, **kwargs):
        raise RuntimeError("the preview failed")

    monkeypatch.setattr("ganlab.tasks.invert.preview_grid", broken)
    out = tmp_path / "invert"
    overrides = ["task=invert", f"input={faces}", f"ckpt_path={legacy_generator}"]
    with pytest.raises(RuntimeError, match="the preview failed"):
        run_task(compose_run(out, [*overrides, *NO_PERCEPTUAL]))
    index = json.loads((out / "index.json").read_text())
    assert all((out / item["reconstruction"]).is_file() for item in index["items"])
    assert (out / "codes.pt").is_file()


# ---- item 3: the perceptual term at 256 px (here 16 of 64) ----------------------------------
class SeenSizes(torch.nn.Module):
    """A perceptual embedding that records the (H, W) of every batch it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[tuple[int, int]] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.sizes.append(tuple(images.shape[-2:]))
        return images.flatten(1)


def test_the_inversions_perceptual_term_sees_images_pooled_to_its_size():
    targets = torch.rand(2, 3, 64, 64) * 2 - 1
    pattern = torch.rand(1, 3, 64, 64)

    def synthesize(codes, noises):  # (B, n_latent, 4) -> 64 px images
        return torch.tanh(codes.mean(1)[:, :3, None, None] + pattern)

    for size, seen in ((16, (16, 16)), (None, (64, 64)), (256, (64, 64))):
        embedding = SeenSizes()
        settings = OptimisationSettings(steps=2, perceptual_size=size)
        optimise_codes(
            synthesize, targets, torch.zeros(4), 2, 1.0, settings, embedding, None, False
        )
        assert set(embedding.sizes) == {seen}, size
    torch.testing.assert_close(perceptual_view(targets, 16), F.avg_pool2d(targets, 4))
    assert perceptual_view(torch.zeros(1, 3, 48, 64), 16).shape[-2:] == (12, 16)
    with pytest.raises(ValueError, match="perceptual_size must be a side in pixels"):
        OptimisationSettings(perceptual_size=0)


def test_mgis_perceptual_term_compares_at_the_output_side_capped_at_its_size():
    targets = torch.rand(2, 3, 16, 16) * 2 - 1  # r of a 64 px generator, downsample 4
    outputs = torch.rand(2, 1, 3, 64, 64) * 2 - 1
    for size, seen in ((8, (8, 8)), (32, (32, 32)), (None, (64, 64)), (256, (64, 64))):
        embedding = SeenSizes()
        settings = MultiCodeSettings(steps=1, downsample=4, perceptual_size=size)
        multi_code_objective(targets, settings, embedding, 64)(outputs)
        assert set(embedding.sizes) == {seen}, size


def test_the_perceptual_size_defaults_to_the_projectors_256():
    cfg = compose_run(Path("unused"), ["task=invert"])
    assert settings_from(cfg.inversion)[2].perceptual_size == 256
    mgi = compose_run(Path("unused"), ["experiment=mgi_ffhq"])
    assert MultiCodeSettings(**mgi.model.inversion).perceptual_size == 256


# ---- item 4: SeFa's weights ----------------------------------------------------------------
def test_sefa_defaults_to_the_references_weights_without_the_intermediate_to_rgbs():
    generator, _ = load_stylegan2(TINY_G)
    to_rgbs = {generator.to_rgb1.conv, *(t.conv for t in generator.to_rgbs)}
    chosen = convs_by_layer(generator)
    modules = [conv for convs in chosen.values() for conv in convs]
    assert set(modules) & to_rgbs == {generator.to_rgbs[-1].conv}  # only the output ToRGB
    assert all(len(convs) == 1 for convs in chosen.values())  # one per W+ layer (genforce)
    styled = [generator.conv1.conv, *(c.conv for c in generator.convs)]
    assert modules == [*styled, generator.to_rgbs[-1].conv]
    rows = torch.cat([conv.modulation.weight for conv in modules])
    torch.testing.assert_close(modulation_weights(generator), rows.detach())
    without_output = modulation_weights(generator, list(range(generator.n_latent - 1)))
    assert len(without_output) == sum(c.modulation.weight.shape[0] for c in styled)
    every = [conv for convs in convs_by_layer(generator, "all").values() for conv in convs]
    assert to_rgbs <= set(every) and len(every) == len(styled) + len(to_rgbs)
    with pytest.raises(ValueError, match="SeFa weights must be one of"):
        modulation_weights(generator, weights="to_rgb")


# ---- item 5: UDA's FID against the evaluation images ---------------------------------------
def test_uda_ffhq_scores_fid_against_the_clean_evaluation_images(tmp_path):
    cfg = compose_run(tmp_path / "run", ["experiment=uda_ffhq"])
    assert cfg.eval.reference_split == "test"
    base = dict(size=32, n_train=8, n_val=2, n_test=2, cache=False, num_workers=0)
    data = UDADataModule(ToyFacesDataModule(**base), eval_base=ToyFacesDataModule(**base))
    evaluator = Evaluator(None, data, reference_split="test")
    assert evaluator.reference_name() == (
        "toyfaces test split, clean images (uda_toyfaces's evaluation images)"
    )
    assert (
        Evaluator(None, data, reference_split="train")
        .reference_name()
        .startswith("uda_toyfaces train split (the clean source half")
    )


# ---- item 6: the file lists and the messages -----------------------------------------------
def missing_files_message(tmp_path: Path, overrides: list[str]) -> str:
    with pytest.raises(ConfigError) as caught:
        check_required_files(compose_run(tmp_path / "run", overrides))
    return str(caught.value)


def test_uda_ffhq_lists_lpips_vgg_for_inverting_and_the_data_for_fit_and_eval(
    tmp_path, monkeypatch
):
    for variable, folder in (("GANLAB_DATA", "data"), ("GANLAB_PRETRAINED", "weights")):
        monkeypatch.setenv(variable, str(tmp_path / folder))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    fit = missing_files_message(tmp_path, ["experiment=uda_ffhq"])
    assert "needs 7 file(s)" in fit and "FFHQ images" in fit and "vgg16" not in fit
    assert "set TORCH_HOME to move it" in fit and str(tmp_path / "torch") in fit
    invert = missing_files_message(tmp_path, ["experiment=uda_ffhq", "task=invert"])
    assert "vgg16-397923af.pth" in invert and "FFHQ images" not in invert
    assert "weights-inception" not in invert and "e4e_ffhq_encode.pt" in invert


def test_a_bare_generator_without_lpips_vgg_stops_before_reading_images(
    tmp_path, monkeypatch, legacy_generator, faces
):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    out = tmp_path / "invert"
    overrides = ["task=invert", f"input={faces}", f"ckpt_path={legacy_generator}"]
    with pytest.raises(MissingWeightsError, match="vgg16-397923af.pth"):
        run_task(compose_run(out, [*overrides, "inversion.steps=2"]))
    assert not out.exists()


def test_celebas_partition_reads_from_kaggles_csv_too(tmp_path):
    root, values = tmp_path / "celebahq", celeba_values(9)
    for index in range(4):
        write_image(root / "images" / f"{index}.jpg", index)
    write_attribute_file(
        root / "list_attr_celeba.txt", {f"{i + 1:06d}.jpg": values[i] for i in range(9)}
    )
    mapping = ["idx orig_idx orig_file"] + [
        f"{i} {j} {j + 1:06d}.jpg" for i, j in enumerate((7, 2, 0, 5))
    ]
    (root / "CelebA-HQ-to-CelebA-mapping.txt").write_text("\n".join(mapping) + "\n")
    partition = {1: 0, 3: 2, 6: 1, 8: 2}  # CelebA file number -> 0 train, 1 val, 2 test
    rows = [f"{n:06d}.jpg,{partition.get(n, 0)}" for n in range(1, 10)]
    (root / "list_eval_partition.csv").write_text("image_id,partition\n" + "\n".join(rows))
    cfg = compose_run(
        tmp_path / "run",
        ["data=celebahq", f"data.root={root}", "data.test_split=celeba", "data.num_workers=0"],
    )
    data = instantiate(cfg.data)
    assert [p.name for p in data.split_dataset("test").paths] == ["0.jpg", "1.jpg"]
    assert [p.name for p in data.split_dataset("train").paths] == ["2.jpg", "3.jpg"]


def first_ganlab_error(error: BaseException) -> BaseException:
    """The GanlabError inside Hydra's wrappers of a nested instantiation."""
    while isinstance(error, InstantiationException) and error.__cause__ is not None:
        error = error.__cause__
    return error


def test_messages_about_uda_ffhqs_data_name_the_keys_to_set(tmp_path):
    ffhq = tmp_path / "ffhq"
    for i in range(3):
        write_image(ffhq / f"{i:05d}.png", seed=i)
    cfg = compose_run(
        tmp_path / "run",
        ["experiment=uda_ffhq", f"data.base.root={ffhq}", f"data.eval_base.root={tmp_path}/no"],
    )
    with pytest.raises(InstantiationException) as caught:
        instantiate(cfg.data)
    error = first_ganlab_error(caught.value)
    assert isinstance(error, GanlabError)
    assert f"data.base.root={ffhq.resolve()} holds 3 images; data.base.n_val=1000" in str(error)
    assert "lower data.base.n_val" in str(error) and "pass data.base.root=" in str(error)
    cfg.data.base.n_val = 1
    with pytest.raises(InstantiationException) as caught:
        instantiate(cfg.data)
    missing = (tmp_path / "no").resolve()
    assert f"data.eval_base.root={missing} does not exist" in str(first_ganlab_error(caught.value))
