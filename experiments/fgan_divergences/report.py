"""Summarise an f-GAN sweep over divergences: finiteness, critic objective trend, sample score.

    python -m ganlab.run -m experiment=fgan_digits \
        divergence=kl,reverse_kl,pearson,neyman,hellinger,js,gan,tv steps=300
    python experiments/fgan_divergences/report.py outputs/fgan_digits/multirun_<...>
"""

import csv
import json
import math
import sys
from pathlib import Path


def objective_trend(log: Path, window: int = 50) -> tuple[float, float, bool]:
    """Mean critic objective over the first and last ``window`` logged steps; all finite?"""
    with log.open() as f:
        values = [
            float(r["critic/objective"]) for r in csv.DictReader(f) if r.get("critic/objective")
        ]
    first, last = values[:window], values[-window:]
    return sum(first) / len(first), sum(last) / len(last), all(math.isfinite(v) for v in values)


def main() -> None:
    print("divergence | steps | finite | objective first 50 | objective last 50 | digits_score")
    for member in sorted(p for p in Path(sys.argv[1]).iterdir() if (p / "metrics.json").exists()):
        report = json.loads((member / "metrics.json").read_text())
        divergence = (
            (member / "config.yaml").read_text().split("divergence:\n  name: ")[1].split()[0]
        )
        first, last, finite = objective_trend(member / "logs" / "metrics.csv")
        cells = [
            divergence,
            report["run_step"],
            finite,
            f"{first:.4g}",
            f"{last:.4g}",
            f"{report['metrics']['digits_score']:.3f}",
        ]
        print(" | ".join(str(c) for c in cells))


if __name__ == "__main__":
    main()
