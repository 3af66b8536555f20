"""``python -m ganlab.compare DIR [DIR ...]``: runs side by side, read from local files only.

Each DIR is a run dir, a multirun sweep dir or any folder above them; run dirs (a folder holding
``metrics.json`` or ``config.yaml``) are found recursively. Prints one table row per run with its
final metrics (``metrics.json``) and writes a PNG of the curves against the generator step: the
periodic evaluations (``evaluations.jsonl``) and the losses (``loss/*`` in ``logs/metrics.csv``).
"""

import argparse
import csv
import json
import math
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from rich.console import Console
from rich.table import Table

from ganlab.errors import GanlabError

RUN_FILES = ("metrics.json", "config.yaml")
RUN_DIR_HINT = (
    "a run dir holds metrics.json or config.yaml, e.g. outputs/<name>/<timestamp>_<id>/ "
    "or a sweep member outputs/<name>/multirun_<timestamp>_<id>/0/"
)
NO_METRICS = "no metrics.json"

Curve = list[tuple[float, float]]  # (generator step, value) in file order


@dataclass(frozen=True)
class Run:
    """What one run dir says about itself; ``status`` is "ok" or why there are no figures."""

    path: Path
    status: str
    overrides: list[str] = field(default_factory=list)
    run_step: int | None = None
    train_seconds: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    curves: dict[str, Curve] = field(default_factory=dict)


def natural_key(name: str) -> list[str | int]:
    """Sort key that puts sweep members ``2`` before ``10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def is_run_dir(folder: Path) -> bool:
    return any((folder / name).is_file() for name in RUN_FILES)


def walk_runs(folder: Path) -> list[Path]:
    """Run dirs at or below ``folder``, in natural order; never looks inside a run dir."""
    if is_run_dir(folder):
        return [folder]
    children = [
        child
        for child in folder.iterdir()
        if child.is_dir() and not child.is_symlink() and not child.name.startswith(".")
    ]
    return [
        run
        for child in sorted(children, key=lambda c: natural_key(c.name))
        for run in walk_runs(child)
    ]


def find_runs(dirs: list[Path]) -> list[Path]:
    """Run dirs under each of ``dirs`` (each found once, in the order given)."""
    for folder in dirs:
        if not folder.is_dir():
            raise GanlabError(
                f"{folder} is not a directory; give run dirs, sweep dirs or a folder above them "
                f"({RUN_DIR_HINT})"
            )
    found = {run.resolve(): run for folder in dirs for run in walk_runs(folder)}
    if not found:
        given = ", ".join(str(folder) for folder in dirs)
        raise GanlabError(f"no run dirs under {given}; {RUN_DIR_HINT}")
    return list(found.values())


def numbers(values: dict[str, Any]) -> dict[str, float]:
    """The numeric entries of a flat ``name -> value`` dict, as floats."""
    return {
        name: float(value)
        for name, value in values.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def read_overrides(run_dir: Path) -> list[str]:
    path = run_dir / ".hydra" / "overrides.yaml"
    return [str(item) for item in yaml.safe_load(path.read_text()) or []] if path.is_file() else []


STEP_KEYS = ("run_step", "generator_step")  # runs before the engine's rename wrote the second


def step_of(record: dict) -> float:
    return float(next(record[key] for key in STEP_KEYS if record.get(key) not in (None, "")))


def read_eval_curves(path: Path) -> dict[str, Curve]:
    """Each metric of ``evaluations.jsonl`` against the run step."""
    curves: dict[str, Curve] = {}
    if not path.is_file():
        return curves
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # blank, or the last line of a run still writing it
            continue
        for name, value in numbers(record.get("metrics", {})).items():
            curves.setdefault(name, []).append((step_of(record), value))
    return curves


def read_loss_curves(path: Path) -> dict[str, Curve]:
    """The ``loss/*`` columns of a CSVLogger file, against ``run_step`` (else ``step``)."""
    curves: dict[str, Curve] = {}
    if not path.is_file():
        return curves
    with path.open(newline="") as file:
        reader = csv.DictReader(file)
        columns = reader.fieldnames or []
        x_column = next((key for key in STEP_KEYS if key in columns), "step")
        losses = [column for column in columns if column.startswith("loss/")]
        for row in reader:
            if not row.get(x_column):
                continue
            for name in losses:
                if row.get(name):
                    curves.setdefault(name, []).append((float(row[x_column]), float(row[name])))
    return curves


def read_run(run_dir: Path) -> Run:
    """Final figures, overrides and curves of one run dir."""
    curves = {
        **read_eval_curves(run_dir / "evaluations.jsonl"),
        **read_loss_curves(run_dir / "logs" / "metrics.csv"),
    }
    overrides = read_overrides(run_dir)
    metrics_path = run_dir / "metrics.json"
    if not metrics_path.is_file():
        return Run(run_dir, NO_METRICS, overrides, curves=curves)
    try:
        report = json.loads(metrics_path.read_text())
    except json.JSONDecodeError:
        return Run(run_dir, "unreadable metrics.json", overrides, curves=curves)
    return Run(
        run_dir,
        "ok",
        overrides,
        run_step=report.get("run_step", report.get("generator_step")),
        train_seconds=report.get("train_seconds"),
        metrics=numbers(report.get("metrics", {})),
        curves=curves,
    )


def seed_table(
    root: Path, figures: list[str], label: str, first: str | None = None, decimals: int = 2
) -> list[str]:
    """A markdown table of a sweep of rows: each subfolder of ``root`` a row (a multirun over
    seeds), each figure of metrics.json as mean ± std over the row's seeds. ``first`` names
    the row printed first; the others follow in name order. Rows without a finished run and
    figures a run lacks are left out of the means; ``decimals`` after the point."""
    lines = [
        f"| {label} | seeds | " + " | ".join(figures) + " |",
        "|---" * (len(figures) + 2) + "|",
    ]
    rows = sorted(
        (p for p in root.iterdir() if p.is_dir()), key=lambda p: (p.name != first, p.name)
    )
    for row_dir in rows:
        runs = []
        for run_dir in walk_runs(row_dir):
            if (run_dir / "metrics.json").is_file():
                seed = yaml.safe_load((run_dir / "config.yaml").read_text())["seed"]
                runs.append((seed, json.loads((run_dir / "metrics.json").read_text())["metrics"]))
        if not runs:
            continue
        seeds = ",".join(str(seed) for seed, _ in sorted(runs, key=lambda run: run[0]))
        cells = []
        for name in figures:
            values = [metrics[name] for _, metrics in runs if name in metrics]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            mean = statistics.mean(values) if values else None
            cells.append(f"{mean:.{decimals}f} ± {spread:.{decimals}f}" if values else "-")
        lines.append(f"| {row_dir.name} | {seeds} | " + " | ".join(cells) + " |")
    return lines


def shared_overrides(runs: list[Run]) -> list[str]:
    """Overrides that every one of two or more runs was started with (empty otherwise)."""
    if len(runs) < 2 or not all(run.overrides for run in runs):
        return []
    common = set(runs[0].overrides).intersection(*(run.overrides for run in runs[1:]))
    return [item for item in runs[0].overrides if item in common]


def run_labels(runs: list[Run]) -> list[str]:
    """Short names: the overrides that set a run apart, else its path below the runs' parent."""
    shared = set(shared_overrides(runs))
    parent = Path(os.path.commonpath([run.path.resolve().parent for run in runs]))
    return [
        " ".join(item for item in run.overrides if item not in shared)
        or run.path.resolve().relative_to(parent).as_posix()
        for run in runs
    ]


def fmt(value: float | None) -> str:
    """4 significant digits (integers such as steps in full); ``-`` for a missing value."""
    if value is None:
        return "-"
    return str(value) if isinstance(value, int) else f"{value:.4g}"


def metric_names(runs: list[Run]) -> list[str]:
    """Every final metric any run reports, sorted."""
    return sorted({name for run in runs for name in run.metrics})


def table(runs: list[Run], metrics: list[str]) -> Table:
    """One row per run: label, status, generator step, training time and ``metrics``.

    Numbers are never cut: their columns are as wide as their longest cell and long headers fold.
    """
    shared = shared_overrides(runs)
    result = Table(
        title=f"{len(runs)} run{'s' if len(runs) != 1 else ''}",
        caption=f"overrides shared by all runs: {' '.join(shared)}" if shared else None,
    )
    result.add_column("run", overflow="fold")
    result.add_column("status", overflow="fold")
    rows = [
        [fmt(cell) for cell in (run.run_step, run.train_seconds, *map(run.metrics.get, metrics))]
        for run in runs
    ]
    for index, name in enumerate(["run_step", "train_seconds", *metrics]):
        width = max(len(row[index]) for row in rows)
        result.add_column(name, justify="right", overflow="fold", min_width=width)
    for label, run, row in zip(run_labels(runs), runs, rows, strict=True):
        result.add_row(label, run.status, *row)
    return result


def curve_names(runs: list[Run], metrics: list[str] | None = None) -> list[str]:
    """Curves to plot: the evaluation metrics (only ``metrics`` if given; spreads such as
    ``kid_*_std`` are left to the table), then the losses."""
    names = {name for run in runs for name in run.curves}
    losses = sorted(name for name in names if name.startswith("loss/"))
    evals = sorted(name for name in names - set(losses) if not name.endswith("_std"))
    return [name for name in evals if metrics is None or name in metrics] + losses


def run_style(index: int) -> dict[str, str]:
    """Line colour and dash of the ``index``-th run: 10 colours, then the next dash pattern."""
    return {"color": f"C{index % 10}", "linestyle": ("-", "--", ":", "-.")[index // 10 % 4]}


def plot_curves(runs: list[Run], names: list[str], out: Path) -> None:
    """One subplot per curve name, one line per run (same style in every subplot); a new PNG."""
    ncols = min(3, len(names))
    nrows = math.ceil(len(names) / ncols)
    figure = Figure(figsize=(4.5 * ncols, 3.2 * nrows + 0.6), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(nrows, ncols, squeeze=False).flatten()
    for ax, name in zip(axes, names, strict=False):
        for index, run in enumerate(runs):
            points = run.curves.get(name)
            if points:
                steps, values = zip(*points, strict=True)
                marker = "o" if len(points) == 1 else None
                ax.plot(steps, values, marker=marker, **run_style(index))
        ax.set_title(name)
        ax.set_xlabel("generator step")
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    plotted = [index for index, run in enumerate(runs) if set(run.curves) & set(names)]
    labels = run_labels(runs)
    figure.legend(
        [Line2D([], [], **run_style(index)) for index in plotted],
        [labels[index] for index in plotted],
        loc="outside lower center",
        ncols=min(4, len(plotted)),
    )
    with out.open("xb") as file:  # exclusive: never overwrites
        figure.savefig(file, format="png", dpi=100)


def default_out() -> Path:
    return Path(f"compare_{time.strftime('%Y%m%d-%H%M%S')}.png")


def check_out(out: Path) -> None:
    if out.exists():
        raise GanlabError(
            f"--out {out} already exists; ganlab never overwrites a file. Pick a new path"
        )
    if out.suffix.lower() != ".png":
        raise GanlabError(f"--out {out} must end in .png")
    if not out.parent.is_dir():
        raise GanlabError(f"--out {out}: folder {out.parent} does not exist; create it first")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ganlab.compare",
        description="Compare ganlab runs: a table of final metrics and a PNG of their curves.",
    )
    parser.add_argument(
        "dirs",
        nargs="+",
        type=Path,
        metavar="DIR",
        help="run dirs, sweep dirs or folders above them",
    )
    parser.add_argument(
        "--out", type=Path, help="PNG of the curves (default: compare_<YYYYmmdd-HHMMSS>.png here)"
    )
    parser.add_argument(
        "--metrics",
        nargs="+",
        metavar="NAME",
        help="final metrics to show and evaluation curves to plot (losses are always plotted)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.out or default_out()
    try:
        check_out(out)
        runs = [read_run(path) for path in find_runs(args.dirs)]
    except GanlabError as error:
        print(f"ganlab.compare: {error}", file=sys.stderr)
        return 2
    known = set(metric_names(runs)) | {name for run in runs for name in run.curves}
    unknown = [name for name in args.metrics or [] if name not in known]
    if unknown:
        available = ", ".join(sorted(known))
        print(
            f"ganlab.compare: no run has {', '.join(unknown)}; available: {available}",
            file=sys.stderr,
        )
    Console().print(table(runs, args.metrics or metric_names(runs)), crop=False)
    names = curve_names(runs, args.metrics)
    if not names:
        print(
            "no curves found (no evaluations.jsonl, no loss/* in logs/metrics.csv); no PNG written"
        )
        return 0
    plot_curves(runs, names, out)
    print(f"curves: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
