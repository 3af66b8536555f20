"""``python -m ganlab.compare``: finding run dirs, the metrics table, the curves PNG, the errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ganlab.compare import find_runs, main, read_run, run_labels
from tests.conftest import REPO

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SEEDS = (1, 2, 3)


def fid(seed: int) -> float:
    return 10.0 * seed + 0.123456


def write_run(run_dir: Path, seed: int, finished: bool = True) -> None:
    """A fit run dir as ``python -m ganlab.run -m ... seed=<seed>`` leaves it."""
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "overrides.yaml").write_text(f"- logger=csv\n- seed={seed}\n")
    (run_dir / "config.yaml").write_text(
        f"name: sweep\nseed: {seed}\ntask: fit\nsteps: 40\n"
        "model:\n  _target_: ganlab.methods.dcgan.DCGAN\n"
        "data:\n  _target_: ganlab.data.digits.DigitsDataModule\n"
    )
    (run_dir / "logs").mkdir()
    rows = ["run_step,loss/discriminator,loss/generator,lr-Adam,step"]
    rows += [f"{s},{1.0 / s},{seed + 1.0 / s},,{2 * s - 1}" for s in range(1, 41)]
    rows += [",,,0.0002,79"]  # a row of other values only
    (run_dir / "logs" / "metrics.csv").write_text("\n".join(rows) + "\n")
    evaluations = [
        {"run_step": s, "global_step": 2 * s, "metrics": {"fid_domain_1k": fid(seed) + s}}
        for s in (20, 40)
    ]
    (run_dir / "evaluations.jsonl").write_text("".join(json.dumps(e) + "\n" for e in evaluations))
    if finished:
        report = {
            "task": "fit",
            "run_step": 40,
            "global_step": 80,
            "train_seconds": 12.5 * seed,
            "final_losses": {"loss/generator": 0.7},
            "metrics": {"fid_domain_1k": fid(seed), "digits_score": 1.5 + seed},
            "protocol": {"n_generated": 1000, "classifier": "logistic regression"},
        }
        (run_dir / "metrics.json").write_text(json.dumps(report))
    (run_dir / "checkpoints").mkdir()
    (run_dir / "checkpoints" / "config.yaml").write_text("never read\n")


@pytest.fixture
def sweep(tmp_path) -> Path:
    """A 3-member multirun dir; members created out of order to check the sweep order."""
    root = tmp_path / "outputs" / "sweep" / "multirun_x"
    for index in (2, 0, 1):
        write_run(root / str(index), SEEDS[index])
    (root / "multirun.yaml").write_text("hydra: {}\n")
    return root


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def table_rows(stdout: str) -> list[str]:
    """The table's data rows (rich draws cells between │ separators)."""
    return [line for line in stdout.splitlines() if line.startswith("│")]


def test_finds_the_sweep_members_in_order_and_not_inside_run_dirs(sweep):
    runs = find_runs([sweep.parent.parent])
    assert runs == [sweep / "0", sweep / "1", sweep / "2"]
    assert find_runs([sweep, sweep / "1"]) == runs


def test_reads_final_metrics_overrides_and_curves(sweep):
    run = read_run(sweep / "1")
    assert run.status == "ok"
    assert run.overrides == ["logger=csv", "seed=2"]
    assert (run.run_step, run.train_seconds) == (40, 25.0)
    assert run.metrics == {"fid_domain_1k": fid(2), "digits_score": 3.5}
    assert run.curves["fid_domain_1k"] == [(20.0, fid(2) + 20), (40.0, fid(2) + 40)]
    assert run.curves["loss/generator"][:2] == [(1.0, 3.0), (2.0, 2.5)]
    assert set(run.curves) == {"fid_domain_1k", "loss/generator", "loss/discriminator"}


def test_labels_are_the_overrides_that_differ_else_the_path(sweep, tmp_path):
    runs = [read_run(path) for path in find_runs([sweep])]
    assert run_labels(runs) == ["seed=1", "seed=2", "seed=3"]
    (sweep / "1" / ".hydra" / "overrides.yaml").unlink()
    runs = [read_run(path) for path in find_runs([sweep])]
    assert run_labels(runs) == ["logger=csv seed=1", "1", "logger=csv seed=3"]


def test_table_and_png(sweep, tmp_path, capsys):
    out = tmp_path / "curves.png"
    assert main([str(sweep), "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    rows = table_rows(stdout)
    assert len(rows) == 3
    for row, seed in zip(rows, SEEDS, strict=True):
        cells = [cell.strip() for cell in row.strip("│").split("│")]
        # run, status, run_step, train_seconds, digits_score, fid_domain_1k (sorted)
        assert cells == ["seed=" + str(seed), "ok", "40", f"{12.5 * seed:.4g}",
                         f"{1.5 + seed:.4g}", f"{fid(seed):.4g}"]  # fmt: skip
    assert "overrides shared by all runs: logger=csv" in stdout
    assert f"curves: {out}" in stdout
    data = out.read_bytes()
    assert data[:8] == PNG_MAGIC
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= 900 and height >= 300 and len(data) > 20_000


def test_metrics_option_chooses_columns(sweep, tmp_path, capsys):
    out = tmp_path / "c.png"
    assert main([str(sweep), "--out", str(out), "--metrics", "fid_domain_1k", "nope"]) == 0
    captured = capsys.readouterr()
    assert "digits_score" not in captured.out and "fid_domain_1k" in captured.out
    assert "no run has nope" in captured.err
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_existing_out_exits_2_and_is_untouched(sweep, tmp_path, capsys):
    out = tmp_path / "c.png"
    out.write_bytes(b"mine")
    assert main([str(sweep), "--out", str(out)]) == 2
    assert out.read_bytes() == b"mine"
    err = capsys.readouterr().err
    assert "already exists" in err and len(err.strip().splitlines()) == 1


def test_missing_dir_or_no_runs_exits_2_with_the_message(tmp_path, capsys):
    assert main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "c.png")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'nowhere'} is not a directory" in err and "metrics.json" in err
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty"), "--out", str(tmp_path / "c.png")]) == 2
    assert "no run dirs under" in capsys.readouterr().err
    assert not (tmp_path / "c.png").exists()


def test_unfinished_run_is_listed_with_its_status(sweep, tmp_path, capsys):
    write_run(sweep / "3", seed=4, finished=False)
    assert main([str(sweep), "--out", str(tmp_path / "c.png")]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert len(rows) == 4
    assert "seed=4" in rows[3] and "no metrics.json" in rows[3]


def test_no_curves_prints_the_table_and_no_png(tmp_path, capsys, monkeypatch):
    run_dir = tmp_path / "run"
    write_run(run_dir, seed=1)
    (run_dir / "evaluations.jsonl").unlink()
    (run_dir / "logs" / "metrics.csv").unlink()
    monkeypatch.chdir(tmp_path)
    assert main([str(run_dir)]) == 0
    stdout = capsys.readouterr().out
    assert len(table_rows(stdout)) == 1 and "no curves found" in stdout
    assert not list(tmp_path.glob("*.png"))


def test_command_line(sweep, tmp_path):
    out = tmp_path / "c.png"
    result = subprocess.run(
        [sys.executable, "-m", "ganlab.compare", str(sweep), "--out", str(out)],
        cwd=REPO,
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert all(f"seed={seed}" in result.stdout for seed in SEEDS)
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_seed_table_gives_each_row_the_mean_and_std_over_its_seeds(tmp_path):
    from ganlab.compare import seed_table

    for row, seeds in (("plain", (1, 2, 3)), ("full", (1, 3))):
        for seed in seeds:
            write_run(tmp_path / row / str(seed), seed)
    write_run(tmp_path / "full" / "9", 9, finished=False)  # no metrics.json: left out
    lines = seed_table(tmp_path, ["fid_domain_1k", "digits_score"], "variant", first="plain")
    assert lines[0] == "| variant | seeds | fid_domain_1k | digits_score |"
    # plain: fid 10.12, 20.12, 30.12 -> mean 20.1, std 10; score 2.5, 3.5, 4.5 -> 3.5 ± 1
    assert lines[2] == "| plain | 1,2,3 | 20.12 ± 10.00 | 3.50 ± 1.00 |"
    assert lines[3] == "| full | 1,3 | 20.12 ± 14.14 | 3.50 ± 1.41 |"
