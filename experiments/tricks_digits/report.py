"""Table of a tricks sweep: per row (trick), the mean and the std over seeds of the digits
score, the classes covered and FID-domain, from each run's metrics.json.

python experiments/tricks_digits/report.py outputs/tricks_digits/<sweep folder>
"""

import sys
from pathlib import Path

from ganlab.compare import seed_table

FIGURES = ["digits_score", "digits_classes_covered", "fid_domain_1k"]

if __name__ == "__main__":
    if len(sys.argv) != 2 or not Path(sys.argv[1]).is_dir():
        sys.exit("usage: report.py <sweep folder written by sweep.sh>")
    print("\n".join(seed_table(Path(sys.argv[1]), FIGURES, "trick", first="none")))
