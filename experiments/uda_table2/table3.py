"""UDA-Inversion's Table III on ToyFaces: FID of edited inversions of the first 200 test
faces, clean (source) and degraded (target), three edits each at one strength for every
face (the paper's protocol: "the same editing scalar in each attribute").

    python experiments/uda_table2/table3.py OUT RUN_ROOT [RUN_ROOT ...]

Every folder below the RUN_ROOTs with ``checkpoints/last.ckpt`` and ``config.yaml`` is one
trained encoder, its row the run's experiment ``name`` (ours, no adaptation, supervised, or
any variant); the base encoder E0 (``asset:psp_toyfaces``, codes alone) is always a row.
UDA encoders keep their HFGI conditions, computed from the unedited image, for the edit.

The paper edits Age, Pose and Smile of CelebA-HQ faces with InterfaceGAN and GANSpace.
ToyFaces' stand-ins: Age -> ``young`` and Smile -> ``smiling``, the shipped InterfaceGAN
W boundaries (``toyfaces/young``, ``toyfaces/smiling``). ToyFaces faces have no pose, so
Pose's column is the paper's other editing method instead: GANSpace's first principal
component of w on the coarse layers 0-3, where GANSpace finds pose on FFHQ. On the ToyFaces
generator that component moves the background and hair colour (none of the first eight
moves the head's geometry), so it is an unsupervised coarse edit, not a pose.
FID-domain: the domain net's features of the 200 edits against all 2,000 clean test faces
(biased upwards at 200, as the paper's). Writes ``table3.md`` and ``table3.json`` under OUT.
"""

import argparse
import importlib.util
import json
import statistics
from pathlib import Path

import torch
import yaml
from omegaconf import OmegaConf

from ganlab.editing import Direction, move, resolve_direction
from ganlab.features.domain import load_domain_net
from ganlab.metrics.distribution import frechet_distance
from ganlab.tasks.models import load_model
from ganlab.tasks.train_direction import ganspace_directions

INTERFACEGAN_STRENGTH = 5.0  # W boundary steps, as experiments/editing's W edits
GANSPACE_STRENGTH = 3.0  # standard deviations of w along the component
GANSPACE_LAYERS = [0, 1, 2, 3]  # the coarse layers (4 and 8 px)
GANSPACE_SAMPLES = 10_000
E0_ROW = "base encoder E0 (psp_toyfaces)"
PAPER = {  # Table III as printed: editing FID on the first 200 CelebA-HQ test faces
    "Src HFGI": (57.66, 67.12, 61.64),
    "Src E2Style": (106.51, 91.84, 84.08),
    "Src Ours": (57.06, 62.15, 61.19),
    "Trg HFGI": (59.53, 69.89, 63.40),
    "Trg E2Style": (108.68, 94.42, 85.48),
    "Trg Ours": (60.59, 68.60, 64.82),
}


def editing_helpers():
    """experiments/editing/run.py's face loader (first n test faces, clean and degraded)."""
    path = Path(__file__).parents[1] / "editing" / "run.py"
    spec = importlib.util.spec_from_file_location("editing_run", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def trained_runs(roots: list[Path]) -> list[tuple[str, int, Path]]:
    """(experiment name, seed, last.ckpt) of every run below ``roots``."""
    found = []
    for root in roots:
        for checkpoint in sorted(root.rglob("checkpoints/last.ckpt")):
            config = yaml.safe_load((checkpoint.parents[1] / "config.yaml").read_text())
            found.append((config["name"], int(config["seed"]), checkpoint))
    return found


def latent_model(**run):
    latent, _ = load_model(OmegaConf.create({"task": "invert", **run}))
    latent.progress = False
    return latent


def pose_direction(latent) -> Direction:
    """GANSpace's first component of w (one std per unit strength) on the coarse layers, as
    ``task=train_direction direction_method=ganspace`` makes it."""
    settings = {"seed": 0, "n_samples": GANSPACE_SAMPLES, "n_components": 1}
    cfg = OmegaConf.create(settings | {"layers": GANSPACE_LAYERS})
    return ganspace_directions(latent, cfg, latent.source)[0]


@torch.no_grad()
def edit_fids(latent, images: torch.Tensor, edits: dict, features, reference) -> dict:
    """FID-domain of the reconstructions and of each edit, every face moved by the same step."""
    result = latent.invert_detailed(images)
    codes, conditions = result.codes, result.conditions
    fids = {
        "reconstruction": frechet_distance(reference, features(latent.decode(codes, conditions)))
    }
    for column, (direction, strength) in edits.items():
        edited = latent.decode(move(codes, direction, strength), conditions)
        fids[column] = frechet_distance(reference, features(edited))
    return fids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("roots", type=Path, nargs="*", help="folders holding trained runs")
    parser.add_argument("--n", type=int, default=200, help="first n test faces")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    clean, degraded, _, every, _ = editing_helpers().test_faces(args.n)
    net, _ = load_domain_net("toyfaces")

    def features(images: torch.Tensor) -> torch.Tensor:
        return torch.cat([net.features(x) for x in images.split(100)])

    with torch.no_grad():
        reference = features(every)
    models = [(E0_ROW, 0, {"asset": "psp_toyfaces"})] + [
        (name, seed, {"ckpt_path": str(path)}) for name, seed, path in trained_runs(args.roots)
    ]
    rows = []
    for name, seed, run in models:
        latent = latent_model(**run)
        edits = {
            "Age: young": (resolve_direction("toyfaces/young"), INTERFACEGAN_STRENGTH),
            "Pose: GANSpace 0": (pose_direction(latent), GANSPACE_STRENGTH),
            "Smile: smiling": (resolve_direction("toyfaces/smiling"), INTERFACEGAN_STRENGTH),
        }
        for domain, images in (("source", clean), ("target", degraded)):
            fids = edit_fids(latent, images, edits, features, reference)
            rows.append({"model": name, "seed": seed, "domain": domain} | fids)
            print(rows[-1], flush=True)
    settings = {
        "n": args.n,
        "interfacegan_strength": INTERFACEGAN_STRENGTH,
        "ganspace_strength": GANSPACE_STRENGTH,
        "ganspace_layers": GANSPACE_LAYERS,
        "reference": "all 2,000 clean ToyFaces test faces, domain net features",
    }
    (args.out / "table3.json").write_text(json.dumps({"rows": rows} | settings, indent=2) + "\n")
    (args.out / "table3.md").write_text(markdown(rows))
    print(markdown(rows))


def markdown(rows: list[dict]) -> str:
    """Mean ± sample std over seeds per (model, domain); the paper's cells below."""
    columns = [k for k in rows[0] if k not in ("model", "seed", "domain")]
    lines = [
        "| model | domain | n seeds | " + " | ".join(f"FID ↓ {c}" for c in columns) + " |",
        "|---|---|---|" + "---|" * len(columns),
    ]
    keys = dict.fromkeys((r["model"], r["domain"]) for r in rows)
    for model, domain in keys:
        group = [r for r in rows if (r["model"], r["domain"]) == (model, domain)]
        cells = []
        for column in columns:
            values = [r[column] for r in group]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):.1f} ± {spread:.1f}")
        lines.append(f"| {model} | {domain} | {len(group)} | " + " | ".join(cells) + " |")
    lines += ["", "Paper (CelebA-HQ, Inception FID; Age / Pose / Smile):", ""]
    lines += [f"- {row}: {' / '.join(f'{v:.2f}' for v in cells)}" for row, cells in PAPER.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
