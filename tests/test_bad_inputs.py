"""Bad input, task by task: each mistake a user can make ends with one message naming the
offending thing and what to do, exit code 2, and no output a later run could take for a
result. The README's "Errors" section lists this matrix."""

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganlab.run import run_reporting_errors
from tests.conftest import TINY, compose_run, run_cli

RESULTS = ("metrics.json", "index.json", "checkpoints", "reconstructions", "edited", "translations")
INVERT = ["task=invert", "asset=uda_toyfaces", "inversion=encoder"]
EDIT = ["task=edit", "asset=uda_toyfaces", "inversion=encoder", "strengths=[1.0]"]
TRANSLATE = ["experiment=mgi_toyfaces", "model.inversion.steps=2"]
GAN = ["model=gan", "data=digits", *TINY, "model.discriminator.width=8"]
EVAL = [*GAN, "task=eval"]


class Files:
    """The files the cases point at, made once in ``root``."""

    def __init__(self, root: Path, checkpoint: Path):
        self.root, self.checkpoint = root, checkpoint
        self.faces = self.folder("faces", face=(64, 64, "RGB"))
        self.empty = self.folder("empty")
        self.not_image = self.folder("not_image", face=(64, 64, "RGB"))
        (self.not_image / "notes.png").write_text("a text file with an image's name")
        self.truncated = self.folder("truncated", face=(64, 64, "RGB"))
        whole = (self.truncated / "face.png").read_bytes()
        (self.truncated / "cut.png").write_bytes(whole[: len(whole) // 2])
        self.grey = self.folder("grey", face=(64, 64, "L"))
        self.transparent = self.folder("transparent", face=(64, 64, "RGBA"))
        self.small = self.folder("small", face=(32, 32, "RGB"))
        self.truncated_ckpt = root / "truncated.ckpt"
        self.truncated_ckpt.write_bytes(checkpoint.read_bytes()[:1000])
        self.pickled = root / "pickled.ckpt"
        torch.save({"state_dict": {}, "ganlab": {}, "payload": Pickled()}, self.pickled)
        self.finished = root / "finished"
        (self.finished / "checkpoints").mkdir(parents=True)
        (self.finished / "metrics.json").write_text('{"earlier": true}')
        self.inverted = root / "inverted"
        self.inverted.mkdir()
        (self.inverted / "index.json").write_text('{"earlier": true}')

    def folder(self, name: str, face: tuple[int, int, str] | None = None) -> Path:
        path = self.root / name
        path.mkdir()
        if face is not None:
            width, height, mode = face
            pixels = np.random.default_rng(0).integers(0, 255, (height, width, 4), np.uint8)
            pixels[..., 3] = np.where(np.arange(width) < width // 2, 0, 255)  # half see-through
            Image.fromarray(pixels, "RGBA").convert(mode).save(path / "face.png")
        return path


class Pickled:
    """An object in a checkpoint: only a full unpickle (never done) could build it."""


@dataclass(frozen=True)
class Case:
    name: str
    overrides: list[str]  # "{attr}" is filled from Files
    names: list[str]  # the message must contain each ("{attr}" filled the same way)

    def fill(self, text: str, files: Files) -> str:
        return text.format(**{k: getattr(files, k) for k in vars(files)})


CASES = [
    # fit
    Case("fit: negative steps", [*GAN, "steps=-5"], ["steps=-5", "integer >= 1"]),
    Case("fit: lr 0", [*GAN, "model.generator_optimizer.lr=0"], ["model.generator_optimizer.lr=0"]),
    Case("fit: batch > dataset", [*GAN, "data.batch_size=5000"], ["data.batch_size=5000", "1617"]),
    Case("fit: one eval sample", [*GAN, "eval.n_samples=1"], ["eval.n_samples=1"]),
    Case("fit: missing data root", [*GAN, "data=folder", "data.root={root}/nope"], ["{root}/nope"]),
    Case(
        "fit: degradation out of its domain",
        ["experiment=uda_toyfaces", "degradation=blur", "degradation.sigma=[3,1]"],
        ["sigma", "min <= max"],
    ),
    Case(
        "fit: run dir of a finished run",
        [*GAN, "hydra.run.dir={finished}"],
        ["{finished}", "never"],
    ),
    Case(
        "fit: FID weights missing",
        [*GAN, "features=inception"],
        ["weights-inception", "features.weights_path"],
    ),
    # eval
    Case(
        "eval: no checkpoint file",
        [*EVAL, "ckpt_path={root}/missing.ckpt"],
        ["{root}/missing.ckpt", "not found"],
    ),
    Case(
        "eval: truncated checkpoint",
        [*EVAL, "ckpt_path={truncated_ckpt}"],
        ["{truncated_ckpt}", "cannot read"],
    ),
    Case(
        "eval: checkpoint refused by weights_only",
        [*EVAL, "ckpt_path={pickled}"],
        ["{pickled}", "weights_only", "never unpickling"],
    ),
    Case(
        "fit: resume from a checkpoint of another method",
        ["model=wgan", "data=digits", "ckpt_path={checkpoint}"],
        ["{checkpoint}", "ganlab.methods.noise.gan.GAN", "model="],
    ),
    Case(
        "fit: resume from a checkpoint of another architecture",
        [*GAN, "model.generator.width=16", "ckpt_path={checkpoint}"],
        ["{checkpoint}", "generator"],
    ),
    Case("eval: neither ckpt_path nor asset", EVAL, ["ckpt_path=", "asset="]),
    Case("eval: unknown asset", [*EVAL, "asset=nope"], ["asset=nope", "shipped"]),
    # invert
    Case("invert: missing folder", [*INVERT, "input={root}/nope"], ["{root}/nope", "folder"]),
    Case("invert: empty folder", [*INVERT, "input={empty}"], ["{empty}", "no image"]),
    Case("invert: not an image", [*INVERT, "input={not_image}"], ["notes.png", "decode"]),
    Case("invert: truncated image", [*INVERT, "input={truncated}"], ["cut.png", "decode"]),
    Case("invert: grayscale image", [*INVERT, "input={grey}"], ["face.png", "grayscale", "RGB"]),
    Case(
        "invert: transparent image",
        [*INVERT, "input={transparent}"],
        ["face.png", "transparent", "background"],
    ),
    Case("invert: image too small", [*INVERT, "input={small}"], ["face.png", "32x32 px < 64x64"]),
    Case(
        "invert: run dir of an earlier inversion",
        [*INVERT, "input={faces}", "hydra.run.dir={inverted}"],
        ["{inverted}", "never overwrites"],
    ),
    Case(
        "invert: landmark model missing",
        [*INVERT, "input={faces}", "align={root}/shape_predictor_68_face_landmarks.dat"],
        ["shape_predictor_68_face_landmarks.dat", "dlib"],
    ),
    # edit
    Case(
        "edit: unknown direction",
        [*EDIT, "input={faces}", "direction=toyfaces/nope"],
        ["toyfaces/nope", "toyfaces/smiling"],
    ),
    Case(
        "edit: unknown conditional attribute",
        [*EDIT, "input={faces}", "direction=toyfaces/smiling", "conditional=[toyfaces/nope]"],
        ["toyfaces/nope"],
    ),
    Case(
        "edit: layers outside W+",
        [*EDIT, "input={faces}", "direction=toyfaces/smiling", "layers=[99]"],
        ["99", "layers"],
    ),
    Case(
        "edit: codes file that will not load",
        [*EDIT, "codes={truncated_ckpt}", "direction=toyfaces/smiling"],
        ["codes file {truncated_ckpt}", "truncated"],
    ),
    Case(
        "edit: grayscale image",
        [*EDIT, "input={grey}", "direction=toyfaces/smiling"],
        ["face.png", "grayscale"],
    ),
    # dissect
    Case(
        "dissect: unknown layer",
        ["task=dissect", "asset=stylegan2_toyfaces_64", "layer=convs.99"],
        ["layer=convs.99", "conv1, convs.0"],
    ),
    Case(
        "dissect: segmenter missing",
        ["task=dissect", "asset=stylegan2_toyfaces_64", "segmenter={root}/seg.pt"],
        ["{root}/seg.pt", "experiment=segmenter_toyfaces"],
    ),
    Case(
        "dissect: not a generator",
        ["task=dissect", "ckpt_path={checkpoint}"],
        ["task=dissect needs a StyleGAN2 generator", "{checkpoint}"],
    ),
    # translate
    Case(
        "translate: missing folder",
        [*TRANSLATE, "input={root}/nope", "exemplar={faces}/face.png"],
        ["{root}/nope"],
    ),
    Case("translate: no exemplar", [*TRANSLATE, "input={faces}"], ["exemplar="]),
    Case(
        "translate: real-data weights missing",
        ["experiment=mgi_celebahq", "input={faces}", "exemplar={faces}/face.png"],
        [
            "4 file(s)",
            "stylegan2-ffhq-config-f.pt",
            "vgg19-dcbb9e9d.pth",
            "vgg16-397923af.pth",
            "weights-inception",
        ],
    ),
    Case(
        "translate: exemplar missing",
        [*TRANSLATE, "input={faces}", "exemplar={root}/nope.png"],
        ["{root}/nope.png"],
    ),
    Case(
        "translate: truncated input",
        [*TRANSLATE, "input={truncated}", "exemplar={faces}/face.png"],
        ["cut.png"],
    ),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Files:
    from ganlab.run import run_task

    root = tmp_path_factory.mktemp("bad_inputs")
    checkpointed = ["callbacks=default", "callbacks.progress=null", "callbacks.samples=null"]
    tiny = [*TINY, "model.discriminator.width=8", "steps=2", *checkpointed]
    run_task(compose_run(root / "trained", [*tiny, "callbacks.evaluation=null"]))
    return Files(root, root / "trained" / "checkpoints" / "last.ckpt")


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_bad_input_stops_with_one_message_exit_code_2_and_no_results(
    case, files, tmp_path, capsys
):
    overrides = [case.fill(o, files) for o in case.overrides]
    chosen = [o for o in overrides if o.startswith("hydra.run.dir=")]
    run_dir = Path(chosen[0].split("=", 1)[1]) if chosen else tmp_path / "run"
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    overrides = [o for o in overrides if o not in chosen]
    with pytest.raises(SystemExit) as stopped:
        run_reporting_errors(compose_run(run_dir, overrides))
    assert stopped.value.code == 2
    message = capsys.readouterr().err.strip()
    assert message.startswith("ganlab: error: ") and "Traceback" not in message
    for name in case.names:
        assert case.fill(name, files) in message, message
    if before:  # an earlier run's dir: nothing in it changed
        assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before
    else:
        assert not any((run_dir / name).exists() for name in RESULTS)


@pytest.mark.parametrize(
    "override, names",
    [("model.nope=1", ["model.nope"]), ("model=nope", ["model", "nope"])],
)
def test_an_unknown_config_option_is_named_with_exit_code_2(tmp_path, override, names):
    result = run_cli([override, f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path)
    assert result.returncode == 2
    assert all(name in result.stderr for name in names), result.stderr
    assert not (tmp_path / "run").exists()


def test_the_matrix_has_at_least_25_cases_over_every_task():
    tasks = {case.name.split(":")[0] for case in CASES}
    assert len(CASES) + 2 >= 25
    assert tasks == {"fit", "eval", "invert", "edit", "translate", "dissect"}


def test_pickled_objects_never_load(files):
    with pytest.raises(pickle.UnpicklingError):
        torch.load(files.pickled, weights_only=True)


def test_the_package_loads_files_only_with_weights_only_and_runs_no_shell():
    source = Path(__file__).resolve().parent.parent / "ganlab"
    for path in source.rglob("*.py"):
        text = path.read_text()
        for call in text.split("torch.load(")[1:]:
            assert "weights_only=True" in call.split(")")[0], f"{path}: torch.load without it"
        assert "shell=True" not in text and "os.system(" not in text, path
