"""Print a table of the metrics.json files under the given run dirs (or sweep dirs).

python experiments/digits_baselines/report.py outputs/gan_digits outputs/wgan_digits
"""

import json
import sys
from pathlib import Path

COLUMNS = (
    "run_step",
    "train_seconds",
    "digits_score",
    "digits_confidence",
    "digits_classes_covered",
)


def rows(roots: list[str]):
    for root in roots:
        for path in sorted(Path(root).rglob("metrics.json")):
            report = json.loads(path.read_text())
            values = {**report, **report.get("metrics", {})}
            yield path.parent, [values.get(column, "") for column in COLUMNS]


def main() -> None:
    print(" | ".join(("run", *COLUMNS)))
    for run_dir, values in rows(sys.argv[1:]):
        cells = [f"{v:.3g}" if isinstance(v, float) else str(v) for v in values]
        print(" | ".join((str(run_dir), *cells)))


if __name__ == "__main__":
    main()
