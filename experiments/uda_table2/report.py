"""UDA-Inversion's Table II on toyfaces: ours, the no-adaptation ablation and the supervised
baseline, each over seeds, source and target columns with their spread.

    python -m ganlab.run -m seed=0,1,2 \
        experiment=uda_toyfaces,uda_toyfaces_no_adaptation,uda_toyfaces_supervised
    python experiments/uda_table2/report.py outputs/uda_toyfaces/multirun_<...> [more run dirs]

Every run dir (any folder with metrics.json and config.yaml below the given paths) joins the
row of its experiment name. Prints a Markdown table: mean ± sample standard deviation over
the runs of a row, n the number of runs; then, per seed, each adapted row minus the
no-adaptation row of the same budget on the target columns (the paper's Fig. 5 ablation;
runs of one seed share the data order and the initial weights, so these paired differences
show an effect smaller than the spread between seeds).
"""

import json
import statistics
import sys
from pathlib import Path

import yaml

ROWS = {
    "uda_toyfaces": "UDA-Inversion (ours; official form)",
    "uda_toyfaces_paper": "UDA-Inversion, paper form (eq. 19-20 as written)",
    "uda_toyfaces_calibrated": "official form, per-layer calibrated distance",
    "uda_toyfaces_paper_calibrated": "paper form, per-layer calibrated distance",
    "uda_toyfaces_no_adaptation": "no adaptation (lambda_uda = 0)",
    "uda_toyfaces_supervised": "supervised (paired LQ -> HQ)",
    "uda_toyfaces_3x": "official form, 3x budget (1,800 steps)",
    "uda_toyfaces_paper_3x": "paper form, 3x budget",
    "uda_toyfaces_no_adaptation_3x": "no adaptation, 3x budget",
}
# Fig. 5's ablation, with minus without d_st, seed by seed, at each budget
WITH_AGAINST_WITHOUT = {
    name: "uda_toyfaces_no_adaptation_3x" if name.endswith("_3x") else "uda_toyfaces_no_adaptation"
    for name in ROWS
    if "no_adaptation" not in name
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
        if not members:
            continue
        cells = [label, str(len(members))]
        for domain in ("source", "target"):
            for metric, _, decimals in COLUMNS:
                key = f"{metric}_{domain}"
                cells.append(cell([m[key] for m in members if key in m], decimals))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired_differences(found: dict[str, list[dict]]) -> str:
    """Per seed, each row minus the no-adaptation row of its budget (Fig. 5: with minus
    without d_st) on the target columns: mean ± sd over the seeds both have."""
    header = ["row minus no adaptation", "seeds"] + [f"{label} target" for _, label, _ in COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, base in WITH_AGAINST_WITHOUT.items():
        by_seed = {run["seed"]: run for run in found.get(base, [])}
        pairs = [
            (run, by_seed[run["seed"]]) for run in found.get(name, []) if run["seed"] in by_seed
        ]
        if not pairs:
            continue
        cells = [ROWS[name], ",".join(str(a["seed"]) for a, _ in pairs)]
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
