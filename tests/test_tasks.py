"""The user-facing tasks: invert, edit and translate a folder of the user's own images with
a trained model (checkpoint or published asset), their argument checks and one-line
refusals; init_from (weights only) next to ckpt_path (full resume)."""

import hashlib
import json

import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from ganlab.checkpoints import initialise_from, read_checkpoint
from ganlab.errors import CheckpointError, ConfigError
from ganlab.run import run_task
from tests.conftest import TINY_G, compose_run, run_cli
from tests.methods.latent_encoder import LatentEncoder
from tests.test_engine import TOY_DOMAINS, TOY_ENCODER

QUIET = [
    "callbacks=default",
    "callbacks.progress=null",
    "callbacks.samples=null",
    "callbacks.evaluation=null",
    "callbacks.lr_monitor=null",
]


@pytest.fixture(scope="module")
def encoder_checkpoint(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("encoder") / "run"
    run_task(compose_run(run_dir, [*TOY_ENCODER, "steps=4", *QUIET]))
    return run_dir / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def cycle_checkpoint(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("cycle") / "run"
    run_task(compose_run(run_dir, [*TOY_DOMAINS, "steps=2", *QUIET]))
    return run_dir / "checkpoints" / "last.ckpt"


@pytest.fixture
def photos(tmp_path):
    """Three user images of other sizes and aspects (one in a subfolder, one a JPEG); the
    images a task refuses are in test_bad_inputs.py."""
    folder = tmp_path / "photos"
    (folder / "more").mkdir(parents=True)
    Image.new("RGB", (80, 60), (200, 30, 30)).save(folder / "wide.png")
    Image.new("RGB", (40, 100), (90, 90, 90)).save(folder / "tall.jpg")
    Image.new("RGB", (32, 32), (10, 200, 10)).save(folder / "more" / "small.png")
    return folder


def test_invert_writes_codes_reconstructions_and_an_index(tmp_path, encoder_checkpoint, photos):
    out = tmp_path / "invert"
    run_task(
        compose_run(out, ["task=invert", f"input={photos}", f"ckpt_path={encoder_checkpoint}"])
    )
    index = json.loads((out / "index.json").read_text())
    assert [item["code"] for item in index["items"]] == ["small", "tall", "wide"]
    assert index["code_shape"] == [6, 64]  # W+ of the 16 px generator
    codes = torch.load(out / "codes.pt", weights_only=True)
    assert sorted(codes) == ["small", "tall", "wide"] and codes["wide"].shape == (6, 64)
    for item in index["items"]:
        assert Image.open(out / item["reconstruction"]).size == (16, 16)
    assert (out / "before_after.png").is_file()
    module = LatentEncoder(str(TINY_G))
    checkpoint = read_checkpoint(encoder_checkpoint)
    module.restore_frozen_state(checkpoint)
    module.load_state_dict(checkpoint["state_dict"])
    red = torch.zeros(1, 3, 16, 16)
    red[:, 0], red[:, 1:] = 200 / 127.5 - 1, 30 / 127.5 - 1
    expected, _ = module.eval().invert(red)
    torch.testing.assert_close(codes["wide"], expected[0], atol=1e-5, rtol=1e-5)


def test_edit_moves_codes_along_a_direction(tmp_path, encoder_checkpoint, photos):
    inverted = tmp_path / "invert"
    run_task(
        compose_run(inverted, ["task=invert", f"input={photos}", f"ckpt_path={encoder_checkpoint}"])
    )
    direction = tmp_path / "direction.pt"
    torch.save({"direction": torch.ones(64)}, direction)  # broadcasts over the 6 W+ layers
    out = tmp_path / "edit"
    run_task(
        compose_run(
            out,
            [
                "task=edit",
                f"codes={inverted / 'codes.pt'}",
                f"direction={direction}",
                "strengths=[0.0,3.0]",
                f"ckpt_path={encoder_checkpoint}",
            ],
        )
    )
    index = json.loads((out / "index.json").read_text())
    assert index["strengths"] == [0.0, 3.0] and len(index["items"]) == 3
    unchanged = Image.open(out / index["items"][0]["edited"]["0"])
    reconstruction = Image.open(inverted / "reconstructions" / "small.png")
    assert list(unchanged.getdata()) == list(reconstruction.getdata())
    moved = Image.open(out / index["items"][0]["edited"]["3"])
    assert list(moved.getdata()) != list(unchanged.getdata())
    torch.save(torch.ones(5), direction)
    with pytest.raises(
        ConfigError,
        match=r"direction .* has shape \(5,\), which does not fit codes of shape \(6, 64\)",
    ):
        run_task(
            compose_run(
                tmp_path / "bad",
                [
                    "task=edit",
                    f"codes={inverted / 'codes.pt'}",
                    f"direction={direction}",
                    f"ckpt_path={encoder_checkpoint}",
                ],
            )
        )


def test_translate_to_a_domain(tmp_path, cycle_checkpoint, photos):
    out = tmp_path / "translate"
    run_task(
        compose_run(
            out, ["task=translate", f"input={photos}", "target=b", f"ckpt_path={cycle_checkpoint}"]
        )
    )
    index = json.loads((out / "index.json").read_text())
    assert index["target"] == "b" and len(index["items"]) == 3
    assert Image.open(out / index["items"][0]["translations"]["0"]).size == (32, 32)
    with pytest.raises(
        ConfigError, match="target=c is not a domain of this model; it translates to a, b"
    ):
        run_task(
            compose_run(
                tmp_path / "c",
                ["task=translate", f"input={photos}", "target=c", f"ckpt_path={cycle_checkpoint}"],
            )
        )
    with pytest.raises(ConfigError, match="TinyCycle takes target=, not attributes="):
        run_task(
            compose_run(
                tmp_path / "attr",
                [
                    "task=translate",
                    f"input={photos}",
                    "attributes=[smiling]",
                    f"ckpt_path={cycle_checkpoint}",
                ],
            )
        )


def test_verbs_check_their_arguments(tmp_path, encoder_checkpoint, cycle_checkpoint, photos):
    cases = [
        (["task=invert", f"input={photos}"], "needs a trained model: ckpt_path="),
        (
            ["task=invert", f"input={tmp_path / 'none'}", f"ckpt_path={encoder_checkpoint}"],
            "is not a folder of images",
        ),
        (
            ["task=invert", f"input={photos}", f"ckpt_path={cycle_checkpoint}"],
            "task=invert: TinyCycle cannot invert images",
        ),
        (
            ["task=edit", "direction=x.pt", f"ckpt_path={cycle_checkpoint}"],
            "task=edit: TinyCycle cannot decode",
        ),
        (
            ["task=edit", "direction=x.pt", f"ckpt_path={encoder_checkpoint}"],
            "takes codes=<codes.pt of a task=invert run> or input=",
        ),
        (
            ["task=translate", f"input={photos}", f"ckpt_path={cycle_checkpoint}"],
            "takes one of target=<domain>",
        ),
        (
            ["task=translate", f"input={photos}", "target=b", f"ckpt_path={encoder_checkpoint}"],
            "LatentEncoder cannot translate",
        ),
        (["task=eval", "asset=nothing"], "no published model asset=nothing; shipped:"),
    ]
    for i, (overrides, message) in enumerate(cases):
        with pytest.raises(ConfigError, match=message):
            run_task(compose_run(tmp_path / f"case{i}", overrides))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="holds no image file"):
        run_task(
            compose_run(
                tmp_path / "e", ["task=invert", f"input={empty}", f"ckpt_path={encoder_checkpoint}"]
            )
        )


def test_a_gan_refuses_invert_in_one_line_with_exit_code_2(tmp_path, photos):
    train = tmp_path / "gan"
    run_task(
        compose_run(
            train, ["model.generator.width=8", "model.discriminator.width=8", "steps=2", *QUIET]
        )
    )
    result = run_cli(
        [
            "task=invert",
            f"input={photos}",
            f"ckpt_path={train / 'checkpoints' / 'last.ckpt'}",
            f"hydra.run.dir={tmp_path / 'refused'}",
        ],
        tmp_path,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == (
        "ganlab: error: task=invert: GAN cannot invert images into latent codes; use a model "
        "of a method that does (README, 'Tasks')"
    )


def test_init_from_loads_weights_only_and_checks_them(tmp_path, encoder_checkpoint):
    module = LatentEncoder(str(TINY_G))
    assert initialise_from(module, encoder_checkpoint) == ["encoder", "encoder_ema", "latent_avg"]
    saved = read_checkpoint(encoder_checkpoint)["state_dict"]
    assert torch.equal(module.encoder[0].weight, saved["encoder.0.weight"])
    assert module.run_step == 0  # weights only: the step counters start afresh
    wrong = tmp_path / "wrong.pt"
    torch.save({"encoder.0.weight": torch.zeros(1)}, wrong)
    with pytest.raises(CheckpointError, match=r"does not fit: shape mismatches encoder.0.weight"):
        initialise_from(module, wrong)
    torch.save({"other.weight": torch.zeros(1)}, wrong)
    with pytest.raises(CheckpointError, match="has none of this model's weights"):
        initialise_from(module, wrong)
    with pytest.raises(ConfigError, match="exclude each other"):
        run_task(
            compose_run(
                tmp_path / "both",
                [
                    *TOY_ENCODER,
                    f"init_from={encoder_checkpoint}",
                    f"ckpt_path={encoder_checkpoint}",
                ],
            )
        )
    out = tmp_path / "fine_tuned"
    run_task(compose_run(out, [*TOY_ENCODER, "steps=2", *QUIET, f"init_from={encoder_checkpoint}"]))
    assert read_checkpoint(out / "checkpoints" / "last.ckpt")["ganlab"]["phase_steps"] == {
        "encoder": 2
    }


def test_a_published_asset_that_does_not_match_its_manifest_is_refused(tmp_path, monkeypatch):
    import ganlab.assets
    from ganlab.checkpoints import model_source

    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "encoder.pt").write_bytes(b"published bytes")
    digest = hashlib.sha256(b"published bytes").hexdigest()
    (assets / "manifest.json").write_text(json.dumps({"encoder.pt": {"sha256": digest}}))
    monkeypatch.setattr(ganlab.assets, "ASSET_DIR", assets)
    cfg = OmegaConf.create({"task": "invert", "asset": "encoder", "ckpt_path": None})
    assert model_source(cfg) == assets / "encoder.pt"
    (assets / "encoder.pt").write_bytes(b"replaced bytes")
    with pytest.raises(CheckpointError, match="does not match the sha256 in .*manifest.json"):
        model_source(cfg)
    with pytest.raises(ConfigError, match="no published model asset=other; shipped: encoder"):
        model_source(OmegaConf.merge(cfg, {"asset": "other"}))
