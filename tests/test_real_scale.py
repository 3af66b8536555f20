"""The FFHQ-scale runs end to end on stand-ins of the official files (issue 35): every file is
made here in its release's key layout and torch format (legacy for the 2017-20 releases, zip
for the later ones), with random weights and reduced widths where the layout allows (the
1024 px generator's channels and style size, the e4e map2style width); the data sets in
their official folder layouts, a few images each. Then, as the README's "Running on the real
data sets" says, with its CPU check overrides: ``experiment=uda_ffhq steps=1``, ``task=eval``,
``task=invert`` (the trained model, and the bare generator by optimisation),
``task=train_direction``, ``task=edit`` (256 px inputs beside the 1024 px generator's
output) and ``experiment=mgi_ffhq`` (256 px structures, 1024 px outputs), with tiny budgets.

Slow (minutes on 2 CPU cores): ``python -m pytest -m slow tests/test_real_scale.py``."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from ganlab.features.arcface import ARCFACE_FILE, save_random_arcface
from ganlab.features.inception import INCEPTION_FILE
from ganlab.nets.encoders import GradualStyleEncoder
from ganlab.nets.stylegan2 import Generator
from ganlab.run import run_task
from ganlab.torch_files import is_zip_format
from tests.conftest import TINY_G, compose_run
from tests.test_features import random_inception_state
from tests.test_real_data import CELEBA_ATTRIBUTES, write_attribute_file

pytestmark = pytest.mark.slow

LAYOUT_1024 = TINY_G.parent / "keys_ffhq_1024_config_f.json"
# config-f's key names and depth (18 W+ layers, 8 mapping layers) at reduced widths
CHANNELS = {4: 32, 8: 32, 16: 32, 32: 32, 64: 16, 128: 16, 256: 8, 512: 8, 1024: 8}
STYLE_DIM = 64
CHECK_RUN = ["data.num_workers=0", "callbacks.samples=null", "eval.n_samples=3"]


def save_release(payload: dict, path: Path, legacy: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path, _use_new_zipfile_serialization=not legacy)
    return path


def smooth_image(size: int, seed: int) -> Image.Image:
    """A smooth random colour image (compresses well, decodes fast)."""
    coarse = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(seed))
    pixels = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear")[0]
    return Image.fromarray((pixels.permute(1, 2, 0) * 255).byte().numpy())


def torchvision_release(arch: str, path: Path) -> None:
    """A torchvision ImageNet checkpoint in its layout and legacy format: random features,
    zero classifier (the LPIPS / correspondence nets read only the features)."""
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(weights=None)
    state = {
        k: (v if k.startswith("features.") else torch.zeros_like(v))
        for k, v in model.state_dict().items()
    }
    save_release(state, path, legacy=True)


def inception_release(path: Path) -> None:
    """torch-fidelity's FID Inception in its layout (random weights), zip format."""
    save_release(random_inception_state(), path, legacy=False)


def write_ffhq(root: Path, n: int) -> None:
    """FFHQ's layout: ``00000/00000.png ...`` (thumbnail-sized PNGs)."""
    for i in range(n):
        path = root / f"{i // 1000 * 1000:05d}" / f"{i:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        smooth_image(128, i).save(path)


def write_celebahq(root: Path, n: int, test: set[int]) -> None:
    """CelebAMask-HQ's layout with CelebA's whitespace partition file: CelebA-HQ image i is
    CelebA file 2i + 1, in the test partition when i is in ``test``."""
    for i in range(n):
        path = root / "CelebA-HQ-img" / f"{i}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        smooth_image(128, 100 + i).save(path)
    values = np.random.default_rng(0).choice([-1, 1], (n, len(CELEBA_ATTRIBUTES)))
    write_attribute_file(
        root / "CelebAMask-HQ-attribute-anno.txt", {f"{i}.jpg": values[i] for i in range(n)}
    )
    mapping = ["idx orig_idx orig_file"] + [f"{i} {2 * i} {2 * i + 1:06d}.jpg" for i in range(n)]
    (root / "CelebA-HQ-to-CelebA-mapping.txt").write_text("\n".join(mapping) + "\n")
    rows = [f"{2 * i + 1:06d}.jpg {2 if i in test else 0}" for i in range(n)]
    (root / "list_eval_partition.txt").write_text("\n".join(rows) + "\n")


@pytest.fixture(scope="module")
def real_files(tmp_path_factory):
    """Every file of the README's table where it goes, $GANLAB_DATA, $GANLAB_PRETRAINED and
    $TORCH_HOME pointing at them; yields the folder of the user's own photos and edge maps."""
    root = tmp_path_factory.mktemp("real")
    data, pretrained, hub = root / "data", root / "pretrained", root / "torch" / "hub"
    torch.manual_seed(0)
    generator = Generator(1024, STYLE_DIM, 8, channels=CHANNELS)
    assert list(generator.state_dict()) == list(json.loads(LAYOUT_1024.read_text()))
    with torch.no_grad():
        latent_avg = generator.mean_latent(256, rng=torch.Generator().manual_seed(0))[0]
    release = {"g_ema": generator.state_dict(), "latent_avg": latent_avg}
    generator_file = save_release(release, pretrained / "stylegan2-ffhq-config-f.pt", True)
    assert not is_zip_format(generator_file)
    encoder = GradualStyleEncoder(18, 256, style_dim=STYLE_DIM, mode="e4e")
    state = {f"encoder.{k}": v for k, v in encoder.state_dict().items()}
    state |= {f"decoder.{k}": v for k, v in generator.state_dict().items()}
    e4e = {"state_dict": state, "latent_avg": latent_avg.repeat(18, 1), "opts": {"lr": 1e-4}}
    save_release(e4e, pretrained / "e4e_ffhq_encode.pt", legacy=False)
    checkpoints = hub / "checkpoints"
    checkpoints.mkdir(parents=True)
    save_random_arcface(checkpoints / ARCFACE_FILE)
    arcface = torch.load(checkpoints / ARCFACE_FILE, weights_only=True)
    save_release(arcface, checkpoints / ARCFACE_FILE, legacy=True)  # InsightFace's of 2019
    torchvision_release("alexnet", checkpoints / "alexnet-owt-7be5be79.pth")
    torchvision_release("vgg16", checkpoints / "vgg16-397923af.pth")
    torchvision_release("vgg19", checkpoints / "vgg19-dcbb9e9d.pth")
    inception_release(checkpoints / INCEPTION_FILE)
    write_ffhq(data / "ffhq", 6)
    write_celebahq(data / "celebahq", 6, test={1, 3, 4})
    mine = root / "mine"
    for i in range(2):
        (mine / "photos").mkdir(parents=True, exist_ok=True)
        smooth_image(1024, 200 + i).save(mine / "photos" / f"photo{i}.jpg", quality=90)
        edges = (np.random.default_rng(i).random((256, 256)) > 0.8).astype(np.uint8) * 255
        (mine / "edges").mkdir(exist_ok=True)
        Image.fromarray(edges, "L").convert("RGB").save(mine / "edges" / f"edges{i}.png")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GANLAB_DATA", str(data))
        patch.setenv("GANLAB_PRETRAINED", str(pretrained))
        patch.setenv("TORCH_HOME", str(root / "torch"))
        yield mine


@pytest.fixture(scope="module")
def uda_run(real_files, tmp_path_factory) -> Path:
    """``experiment=uda_ffhq steps=1`` with the README's CPU check overrides."""
    run_dir = tmp_path_factory.mktemp("uda_ffhq") / "run"
    run_task(
        compose_run(run_dir, ["experiment=uda_ffhq", "steps=1", "data.base.n_val=2", *CHECK_RUN])
    )
    return run_dir


@pytest.fixture(scope="module")
def sefa_run(real_files, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("directions") / "run"
    generator = Path(real_files).parent / "pretrained" / "stylegan2-ffhq-config-f.pt"
    overrides = [
        "task=train_direction",
        f"ckpt_path={generator}",
        "direction_method=sefa",
        "n_components=2",
    ]
    run_task(compose_run(run_dir, overrides))
    return run_dir


def test_uda_ffhq_trains_a_step_and_scores_table_ii_on_the_celebahq_test_faces(uda_run):
    report = json.loads((uda_run / "metrics.json").read_text())
    metrics, protocol = report["metrics"], report["protocol"]
    for name in ("psnr", "ssim", "lpips_alex", "identity_similarity", "fid_inception_3"):
        for domain in ("source", "target"):
            assert np.isfinite(metrics[f"{name}_{domain}"]), (name, domain)
    assert protocol["fid_inception_3_target"]["reference"].startswith("celebahq test split, clean")
    assert protocol["fid_inception_3_target"]["n_reference"] == 3
    assert (uda_run / "uda_ffhq.pt").is_file()


def test_task_eval_scores_the_published_uda_model(uda_run, tmp_path):
    out = tmp_path / "eval"
    overrides = ["experiment=uda_ffhq", "task=eval", f"ckpt_path={uda_run / 'uda_ffhq.pt'}"]
    run_task(compose_run(out, [*overrides, *CHECK_RUN]))
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert np.isfinite(metrics["psnr_target"]) and "fid_inception_3_source" in metrics


def test_task_invert_with_the_uda_model_and_with_the_bare_legacy_generator(
    real_files, uda_run, tmp_path
):
    photos = real_files / "photos"
    encoded = tmp_path / "encoder"
    run_task(
        compose_run(
            encoded, ["task=invert", f"input={photos}", f"ckpt_path={uda_run / 'uda_ffhq.pt'}"]
        )
    )
    index = json.loads((encoded / "index.json").read_text())
    assert index["inversion"] == "encoder" and index["code_shape"] == [18, STYLE_DIM]
    assert Image.open(encoded / index["items"][0]["reconstruction"]).size == (256, 256)
    generator = real_files.parent / "pretrained" / "stylegan2-ffhq-config-f.pt"
    optimised = tmp_path / "optimisation"
    overrides = ["task=invert", f"input={photos}", f"ckpt_path={generator}", "inversion.steps=2"]
    run_task(compose_run(optimised, overrides))
    index = json.loads((optimised / "index.json").read_text())
    assert index["inversion"] == "optimisation" and index["settings"]["perceptual_size"] == 256
    assert Image.open(optimised / index["items"][0]["reconstruction"]).size == (1024, 1024)
    assert (optimised / "before_after.png").is_file()


def test_task_train_direction_makes_sefa_directions_of_the_legacy_generator(sefa_run):
    index = json.loads((sefa_run / "index.json").read_text())
    assert [item["factorised_weights"] for item in index["items"]] == ["reference"] * 2
    assert (sefa_run / "previews.png").is_file()


def test_task_edit_with_256px_inputs_and_the_1024px_generator(
    real_files, uda_run, sefa_run, tmp_path
):
    out = tmp_path / "edit"
    overrides = [
        "task=edit",
        f"input={real_files / 'photos'}",
        f"ckpt_path={uda_run / 'uda_ffhq.pt'}",
        f"direction={sefa_run / 'directions' / 'sefa_0.pt'}",
        "strengths=[-3,3]",
    ]
    run_task(compose_run(out, overrides))
    index = json.loads((out / "index.json").read_text())
    assert Image.open(out / index["items"][0]["edited"]["3"]).size == (1024, 1024)
    assert (out / "edits.png").is_file()


def test_mgi_ffhq_translates_256px_structures_into_1024px_faces(real_files, tmp_path):
    out = tmp_path / "mgi"
    overrides = [
        "experiment=mgi_ffhq",
        f"input={real_files / 'edges'}",
        f"exemplar={real_files / 'photos' / 'photo0.jpg'}",
        "model.correspondence_size=256",  # a 64 px warp refined 16x: VGG-19 at 256 px
        "model.inversion.downsample=16",
        "model.blocks=[3]",
        "model.code_counts=[2]",
        "model.inversion.steps=1",
        "model.reference_samples=4",
        "model.progress=false",
    ]
    run_task(compose_run(out, overrides))
    index = json.loads((out / "index.json").read_text())
    assert Image.open(out / index["items"][0]["translations"]["0"]).size == (1024, 1024)
    assert (out / "translations.png").is_file()
