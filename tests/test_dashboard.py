"""``python -m ganlab.dashboard``: a W&B workspace over a sweep, offline here (the spec is
written beside the runs); every panel must name values the runs really logged."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from ganlab.dashboard import RUN_GROUP_KEY, RunInfo, main, plan_dashboard, run_info_from_wandb
from ganlab.wandb_files import records, summary, wait_until_complete
from tests.conftest import run_cli


def panel_keys(node, found=None) -> list[str]:
    """Every metric or media key the workspace spec's panels name."""
    found = [] if found is None else found
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("metrics", "mediaKeys") and isinstance(value, list):
                found += value
            panel_keys(value, found)
    elif isinstance(node, list):
        for item in node:
            panel_keys(item, found)
    return found


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("dashboard")
    tiny = ["model.generator.width=8", "model.discriminator.width=8", "eval.n_samples=100"]
    callbacks = [
        "callbacks=default",
        "callbacks.progress=null",
        "callbacks.samples.every_n_steps=1",
        "callbacks.evaluation.every_n_steps=1",
        "callbacks.evaluation.n_samples=50",
    ]
    sweep_args = ["-m", "loss=nsgan,hinge", "seed=1,2", "steps=2", "logger=wandb", "name=dash"]
    env = {"HOME": str(tmp), "WANDB_API_KEY": "", "WANDB_CONFIG_DIR": str(tmp / "wandb-config")}
    result = run_cli(
        [*sweep_args, *tiny, *callbacks, f"hydra.sweep.dir={tmp / 'sweep'}"], tmp, env=env
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for run_file in (tmp / "sweep").glob("*/wandb/offline-run-*/run-*.wandb"):
        wait_until_complete(run_file)
    return tmp / "sweep"


def test_an_offline_sweep_gets_a_workspace_spec_naming_only_logged_values(
    sweep, monkeypatch, capsys
):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(sweep.parent))
    assert main([str(sweep)]) == 0
    printed = capsys.readouterr().out
    spec_file = sweep / "wandb_workspace.json"
    assert f"wrote the workspace spec to {spec_file}" in printed and "wandb sync" in printed
    record = json.loads(spec_file.read_text())
    run_files = sorted(sweep.glob("*/wandb/offline-run-*/run-*.wandb"))
    assert len(run_files) == 4
    infos = [summary(path) for path in run_files]
    logged = set().union(*(info["history_keys"] for info in infos))
    named = panel_keys(record["workspace"]["spec"])
    assert {"loss/generator", "eval/fid_domain_50", "final/fid_domain_100", "samples"} <= set(named)
    for key in named:  # an image is logged as <key>/_type, <key>/filenames, ...
        assert key in logged or f"{key}/_type" in logged, key
    # grouped by the loss (a config group: its choice is logged), seeds drawn as a spread
    assert record["grouped_by"] == ["choices.loss"] and record["seed_spread"]
    assert sorted(json.loads(info["config"]["choices.loss"]) for info in infos) == [
        "hinge",
        "hinge",
        "nsgan",
        "nsgan",
    ]
    spec = json.dumps(record["workspace"])
    assert '"groupArea": "stddev"' in spec  # seeds: mean and spread
    assert '{"section": "config", "name": "choices.loss.value"}' in spec  # flat config key
    assert '"name": "group"}, "op": "IN", "value": ["dash"]' in spec  # the sweep's W&B group

    assert main([str(sweep)]) == 0  # never overwrites: a second spec beside the first
    assert (sweep / "wandb_workspace_2.json").is_file()
    assert json.loads(spec_file.read_text()) == record


def test_the_run_files_hold_the_flattened_config(sweep):
    (run_file,) = sweep.glob("0/wandb/offline-run-*/run-*.wandb")
    config = summary(run_file)["config"]
    assert json.loads(config["seed"]) == 1 and "model.generator.width" in config
    assert any(r.WhichOneof("record_type") == "exit" for r in records(run_file))


def run_info(overrides: dict[str, str], logged: set[str]) -> RunInfo:
    return RunInfo(Path("run"), overrides, frozenset({"seed"}), frozenset(logged), "g", "ganlab")


def test_source_and_target_metrics_make_the_table_ii_panels_and_seeds_alone_one_group():
    finals = {"final/psnr_source", "final/psnr_target", "final/fid_source", "final/mse"}
    runs = [run_info({"seed": str(seed)}, finals) for seed in (0, 1)]
    plan = plan_dashboard(runs)
    assert plan.paired == ["final/psnr"]  # fid has no target column, mse no pair at all
    assert plan.group_by == [RUN_GROUP_KEY] and plan.seed_spread
    assert plan.name == "g: by seed"


def test_help_explains_publishing(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "wandb sync" in text and "API key" in text and "run the same command again" in text


def test_no_runs_is_one_message_and_exit_code_2(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert "no run dirs under" in capsys.readouterr().err


def test_a_wandb_group_is_read_from_wandb_only(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["group:dash"]) == 2  # offline: W&B cannot be asked
    assert "group:<name> reads the runs of a W&B group" in capsys.readouterr().err
    # what the W&B API gives for a sweep member (name = Hydra's override_dirname)
    members = [
        SimpleNamespace(
            id=f"r{i}",
            name=f"loss={loss},name=dash,seed={seed}",
            config={"seed": seed, "choices.loss": loss, "name": "dash"},
            summary={"loss/generator": 0.7, "final/fid_domain_1k": 80.0, "_step": 12},
            group="dash",
            project="ganlab",
        )
        for i, (loss, seed) in enumerate([("hinge", 1), ("hinge", 2), ("nsgan", 1)])
    ]
    plan = plan_dashboard([run_info_from_wandb(run) for run in members])
    assert plan.group_by == ["choices.loss"] and plan.seed_spread
    assert plan.losses == ["loss/generator"] and plan.finals == ["final/fid_domain_1k"]
