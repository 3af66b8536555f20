"""UDA-Inversion's Table II on toyfaces: ours, the no-adaptation ablation and the supervised
baseline, each over seeds, source and target columns with their spread.

    python -m ganlab.run -m seed=0,1,2 \
        experiment=uda_toyfaces,uda_toyfaces_no_adaptation,uda_toyfaces_supervised
    python experiments/uda_table2/report.py outputs/uda_toyfaces/multirun_<...> [more run dirs]

Every run dir (any folder with metrics.json and config.yaml below the given paths) joins the
row of its experiment name. Prints a Markdown table: mean ± sample standard deviation over
the runs of a row, n the number of runs; then, per seed, ours minus each other row on the
target columns (runs of one seed share the data order and the initial weights, so these
paired differences show an effect smaller than the spread between seeds).
"""

import json
import statistics
import sys
from pathlib import Path

import yaml

ROWS = {
    "uda_toyfaces": "UDA-Inversion (ours)",
    "uda_toyfaces_no_adaptation": "no adaptation (lambda_uda = 0)",
    "uda_toyfaces_supervised": "supervised (paired LQ -> HQ)",
}
COLUMNS = [  # (metric, label, decimals)
    ("psnr", "PSNR ↑", 2),
    ("ssim", "SSIM ↑", 3),
    ("lpips_domain", "LPIPS-domain ↓", 3),
    ("mse", "MSE ↓", 4),
    ("fid_domain_1k", "FID-domain ↓", 1),
    ("identity_similarity", "ID ↑", 3),
]


def runs(paths: list[Path]) -> dict[str, list[dict]]:
    """metrics.json of every run below ``paths``, by the run's experiment name; each with
    its ``seed``."""
    found: dict[str, list[dict]] = {}
    for root in paths:
        for metrics in sorted(root.rglob("metrics.json")):
            config = yaml.safe_load((metrics.parent / "config.yaml").read_text())
            values = json.loads(metrics.read_text())["metrics"]
            found.setdefault(config["name"], []).append({**values, "seed": config["seed"]})
    return found


def cell(values: list[float], decimals: int) -> str:
    if not values:
        return "-"
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{decimals}f} ± {spread:.{decimals}f}"


def table(found: dict[str, list[dict]]) -> str:
    header = ["method", "n"] + [
        f"{label} {domain}" for domain in ("source", "target") for _, label, _ in COLUMNS
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, label in ROWS.items():
        members = found.get(name, [])
        cells = [label, str(len(members))]
        for domain in ("source", "target"):
            for metric, _, decimals in COLUMNS:
                key = f"{metric}_{domain}"
                cells.append(cell([m[key] for m in members if key in m], decimals))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired_differences(found: dict[str, list[dict]], ours: str = "uda_toyfaces") -> str:
    """Per seed, ours minus each other row on the target columns: mean ± sd over seeds."""
    header = ["ours minus", "seeds"] + [f"{label} target" for _, label, _ in COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    by_seed = {run["seed"]: run for run in found.get(ours, [])}
    for name, label in ROWS.items():
        if name == ours:
            continue
        others = [run for run in found.get(name, []) if run["seed"] in by_seed]
        pairs = [(by_seed[run["seed"]], run) for run in others]
        cells = [label, ",".join(str(a["seed"]) for a, _ in pairs)]
        for metric, _, decimals in COLUMNS:
            key = f"{metric}_target"
            cells.append(cell([a[key] - b[key] for a, b in pairs if key in a], decimals))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    found = runs([Path(p) for p in sys.argv[1:]])
    print(table(found))
    print()
    print(paired_differences(found))
