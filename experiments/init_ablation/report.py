"""Table of an INIT ablation sweep: per row (variant or baseline), the mean and the std over
seeds of FID, the attribute accuracies and the ground-truth error, from each run's
metrics.json.

python experiments/init_ablation/report.py outputs/init_ablation/<sweep folder>
"""

import sys
from pathlib import Path

from ganlab.compare import seed_table

FIGURES = [
    "fid_domain_500",
    "fid_domain_1k",
    "attribute_accuracy_mean",
    "attribute_accuracy_multi",
    "psnr_ground_truth",
    "lpips_domain_ground_truth",
    "psnr_input",
]

if __name__ == "__main__":
    if len(sys.argv) != 2 or not Path(sys.argv[1]).is_dir():
        sys.exit("usage: report.py <sweep folder written by sweep.sh>")
    print("\n".join(seed_table(Path(sys.argv[1]), FIGURES, "row", first="e_plain", decimals=3)))
