"""Table of a tricks sweep: per row (trick), the mean and the std over seeds of the digits
score, the classes covered and FID-domain, from each run's metrics.json.

python experiments/tricks_digits/report.py outputs/tricks_digits/<sweep folder>
"""

import json
import statistics
import sys
from pathlib import Path

import yaml

FIGURES = ("digits_score", "digits_classes_covered", "fid_domain_1k")


def runs_of(row_dir: Path) -> list[tuple[int, dict[str, float]]]:
    """(seed, metrics) of every finished run under one row's multirun folder."""
    runs = []
    for metrics_path in sorted(row_dir.glob("*/metrics.json")):
        config = yaml.safe_load((metrics_path.parent / "config.yaml").read_text())
        runs.append((config["seed"], json.loads(metrics_path.read_text())["metrics"]))
    return runs


def mean_and_std(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.2f} ± {spread:.2f}"


def main(root: Path) -> None:
    print("| trick | seeds | " + " | ".join(FIGURES) + " |")
    print("|---" * (len(FIGURES) + 2) + "|")
    rows = [p for p in root.iterdir() if p.is_dir()]
    rows.sort(key=lambda p: (p.name != "none", p.name))  # the row without tricks first
    for row_dir in rows:
        runs = runs_of(row_dir)
        if not runs:
            continue
        seeds = ",".join(str(seed) for seed, _ in sorted(runs, key=lambda run: run[0]))
        cells = [mean_and_std([metrics[name] for _, metrics in runs]) for name in FIGURES]
        print(f"| {row_dir.name} | {seeds} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if len(sys.argv) != 2 or not Path(sys.argv[1]).is_dir():
        sys.exit("usage: report.py <sweep folder written by sweep.sh>")
    main(Path(sys.argv[1]))
