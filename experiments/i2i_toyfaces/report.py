"""Tables of the i2i_toyfaces sweeps: per method, the mean and the std over seeds of FID, the
error against the ground-truth rendering (and of the untranslated input), the target
attribute's accuracy and the LPIPS diversity, A -> B (not pale -> pale skin) and back; and,
given the domain-adaptation sweep too, each row's accuracy on both digit domains.

python experiments/i2i_toyfaces/report.py <sweep.sh folder> [<da_sweep.sh folder>]
"""

import sys
from pathlib import Path

from ganlab.compare import seed_table

DIRECTIONS = ("a_to_b", "b_to_a")
TRANSLATION = (
    "fid_domain_200",
    "psnr_ground_truth",
    "psnr_input",
    "lpips_domain_ground_truth",
    "lpips_domain_input",
    "attribute_accuracy",
    "lpips_diversity",
)
ADAPTATION = ["da_accuracy_printed", "da_accuracy_handwritten"]

if __name__ == "__main__":
    folders = [Path(arg) for arg in sys.argv[1:]]
    if not 1 <= len(folders) <= 2 or not all(folder.is_dir() for folder in folders):
        sys.exit("usage: report.py <sweep.sh folder> [<da_sweep.sh folder>]")
    for direction in DIRECTIONS:
        figures = [f"{figure}_{direction}" for figure in TRANSLATION]
        print("\n".join(seed_table(folders[0], figures, "method", first="cyclegan", decimals=3)))
        print()
    if len(folders) == 2:
        print("\n".join(seed_table(folders[1], ADAPTATION, "row", first="unit_a", decimals=3)))
