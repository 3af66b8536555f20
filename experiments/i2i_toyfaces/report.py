"""Table of an i2i_toyfaces sweep: per method, the mean and the std over seeds of FID, the
error against the ground-truth rendering (and of the untranslated input), the target
attribute's accuracy and the LPIPS diversity, A -> B (no eyeglasses -> eyeglasses).

python experiments/i2i_toyfaces/report.py outputs/i2i_toyfaces/<sweep folder>
"""

import sys
from pathlib import Path

from ganlab.compare import seed_table

FIGURES = [
    "fid_domain_200_a_to_b",
    "psnr_ground_truth_a_to_b",
    "psnr_input_a_to_b",
    "lpips_domain_ground_truth_a_to_b",
    "attribute_accuracy_a_to_b",
    "lpips_diversity_a_to_b",
]

if __name__ == "__main__":
    if len(sys.argv) != 2 or not Path(sys.argv[1]).is_dir():
        sys.exit("usage: report.py <sweep folder written by sweep.sh>")
    print("\n".join(seed_table(Path(sys.argv[1]), FIGURES, "method", first="cyclegan", decimals=3)))
