"""UDA-Inversion's Table III on ToyFaces (edits of inverted test faces, source and target
domains), plus what ToyFaces lets us measure and real data does not: whether the edit
flips the attribute (the attribute classifier) and keeps the others and the identity.
Also: optimisation vs encoder vs hybrid inversion (PSNR against iterations).

    python experiments/editing/run.py experiments/editing/results

Models: ``uda_toyfaces`` (ours: the base encoder's W+ codes + HFGI conditions from the
image), ``psp_toyfaces`` (the source-only base encoder, codes alone) and hybrid inversion
(pSp's codes refined by 50 optimisation steps); each inverts once. Images: the first
``--n`` ToyFaces test faces, clean (source) and degraded as UDA-Inversion's evaluation
degrades them (target). Directions: the shipped InterfaceGAN boundaries in W (generated
samples labelled by the attribute classifier) and W+ boundaries fitted on the base
encoder's codes of 3,000 labelled training faces (the label-file route). Each face is
pushed towards the opposite of its attribute: strength -s if the classifier sees the
attribute on its reconstruction, +s if not; W+ edits are also swept over strengths. Writes
``table.md``, ``results.json``, ``inversion.md`` and grids.
"""

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import OmegaConf

from ganlab.callbacks.samples import preview_grid
from ganlab.data.toyfaces import ATTRIBUTES
from ganlab.editing import Direction, move, resolve_direction, train_boundary
from ganlab.features import get_extractor
from ganlab.features.domain import load_domain_net
from ganlab.inversion import LatentModel, psnr_from_mse
from ganlab.metrics.distribution import frechet_distance
from ganlab.tasks.models import load_model
from ganlab.tasks.user_images import save_images

EDITED = ("smiling", "young", "eyeglasses", "male")
STRENGTHS = {"w": 5.0, "w+": 10.0}
SWEEP = (4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0)  # W+ strengths for the edit curves
HYBRID_STEPS = 50


def test_faces(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, object]:
    """(clean, degraded, their true attributes, all clean test faces) and the UDA data module."""
    with initialize_config_module("ganlab.conf", version_base=None):
        cfg = compose("config", overrides=["experiment=uda_toyfaces"])
    data = instantiate(cfg.data)
    pairs = data.target_pairs("test")
    items = [pairs[i] for i in range(n)]
    every = torch.stack([pairs.dataset[i]["image"] for i in range(len(pairs))])
    labels = torch.stack([pairs.dataset[i]["attributes"] for i in range(n)]) > 0.5
    clean = torch.stack([it["clean"] for it in items])
    return clean, torch.stack([it["degraded"] for it in items]), labels, every, data


def model(asset: str, kind: str = "auto", **settings) -> LatentModel:
    run = OmegaConf.create(
        {"asset": asset, "task": "invert", "inversion": {"kind": kind, **settings}}
    )
    latent, _ = load_model(run)
    latent.progress = False
    return latent


def labelled_wplus_directions(encoder: LatentModel, data, n: int = 3000) -> dict[str, Direction]:
    """W+ boundaries from the encoder's codes of ``n`` training faces and their true labels."""
    train = data.base.split_dataset("train")
    images = torch.stack([train[i]["image"] for i in range(n)])
    labels = torch.stack([train[i]["attributes"] for i in range(n)])
    with torch.no_grad():
        codes = torch.cat([encoder.encode_images(x)[0] for x in images.split(250)])
    directions = {}
    for name in EDITED:
        boundary = train_boundary(codes.flatten(1), labels[:, ATTRIBUTES.index(name)], seed=0)
        directions[name] = Direction(
            name,
            boundary.normal.view(codes.shape[1:]),
            "w+",
            "interfacegan",
            encoder.source,
            encoder.fingerprint,
            details={"validation_accuracy": boundary.validation_accuracy, "n_samples": n},
        )
    return directions


@dataclass
class Inverted:
    """One model's inversion of one domain's faces, and the classifier's reading of it."""

    latent: LatentModel
    codes: torch.Tensor
    conditions: tuple[torch.Tensor, torch.Tensor] | None
    reconstruction: torch.Tensor
    attributes: torch.Tensor  # (B, 10) bool, read off the reconstruction


@torch.no_grad()
def classify(net, images: torch.Tensor) -> torch.Tensor:
    return torch.cat([net(x)["attribute_logits"] > 0 for x in images.split(100)])


def invert_faces(latent: LatentModel, images: torch.Tensor, net, keep_conditions: bool) -> Inverted:
    """Invert once (encoder, or hybrid refinement); edits keep the conditions if asked."""
    result = latent.invert_detailed(images)
    conditions = result.conditions if keep_conditions else None
    reconstruction = latent.decode(result.codes, conditions)
    return Inverted(latent, result.codes, conditions, reconstruction, classify(net, reconstruction))


@torch.no_grad()
def edit_scores(inverted: Inverted, direction, strength, net, identity, reference):
    """Success, preservation, identity and FID of pushing every face across ``direction``."""
    before = inverted.attributes
    k = ATTRIBUTES.index(direction.name)
    signs = torch.where(before[:, k], -strength, strength)
    edited = inverted.latent.decode(move(inverted.codes, direction, signs), inverted.conditions)
    after = classify(net, edited)
    kept = [(after[:, j] == before[:, j]).float().mean().item() for j in range(10) if j != k]
    same = torch.nn.functional.cosine_similarity(
        identity(edited), identity(inverted.reconstruction)
    )
    scores = {
        "success": (after[:, k] != before[:, k]).float().mean().item(),
        "kept_min": min(kept),
        "kept_worst": [a for a in ATTRIBUTES if a != direction.name][kept.index(min(kept))],
        "kept_mean": sum(kept) / len(kept),
        "identity": same.mean().item(),
    }
    return scores, edited


def inversion_curves(images: dict[str, torch.Tensor]) -> dict:
    """Per-domain PSNR of encoder, W+ optimisation and hybrid inversion along the iterations."""
    curves = {}
    runs = {
        "optimisation (W+, from mean w)": model("stylegan2_toyfaces_64", "optimisation"),
        "hybrid (encoder codes, lr 0.1)": model("psp_toyfaces", "hybrid", initial_noise=0.0),
        "hybrid (encoder codes, lr 0.02)": model(
            "psp_toyfaces", "hybrid", lr=0.02, initial_noise=0.0
        ),
    }
    encoder = model("psp_toyfaces", "encoder")
    for domain, x in images.items():
        start = time.time()
        encoded = encoder.invert_with_encoder(x)
        curves[f"encoder/{domain}"] = psnr_from_mse(encoded.mse_history[-1]).mean().item()
        for name, latent in runs.items():
            result = latent.invert_detailed(x)
            curves[f"{name}/{domain}"] = psnr_from_mse(result.mse_history).mean(1).tolist()
        print(f"inversion {domain}: {time.time() - start:.0f} s", flush=True)
    return curves


def first_reaching(curve: list[float], level: float) -> int | None:
    return next((i + 1 for i, value in enumerate(curve) if value >= level), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--n", type=int, default=200, help="first n test faces for the edits")
    parser.add_argument(
        "--n-inversion", type=int, default=32, help="faces for the inversion curves"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    clean, degraded, labels, every, data = test_faces(args.n)
    net, _ = load_domain_net("toyfaces")
    identity = get_extractor("identity_toyfaces")
    with torch.no_grad():
        reference = torch.cat([net.features(x) for x in every.split(500)])
    models = {  # name: (latent model, keep its conditions for the edit)
        "UDA-Inversion (ours)": (model("uda_toyfaces"), True),
        "pSp (source only)": (model("psp_toyfaces"), False),
        f"hybrid (pSp + {HYBRID_STEPS} steps)": (
            model("psp_toyfaces", "hybrid", steps=HYBRID_STEPS, initial_noise=0.0),
            False,
        ),
    }
    inverted, reading = {}, {}
    for method, (latent, keep) in models.items():
        for domain, images in (("source", clean), ("target", degraded)):
            start = time.time()
            inverted[method, domain] = inv = invert_faces(latent, images, net, keep)
            agree = (inv.attributes == labels).float().mean(0)
            reading[f"{method}/{domain}"] = dict(zip(ATTRIBUTES, agree.tolist(), strict=True))
            print(f"inverted {method} {domain}: {time.time() - start:.0f} s", flush=True)
    families = {
        "w": {name: resolve_direction(f"toyfaces/{name}") for name in EDITED},
        "w+": labelled_wplus_directions(models["pSp (source only)"][0], data),
    }
    rows, grids = [], {}
    for space, directions in families.items():
        for (method, domain), inv in inverted.items():
            for name, direction in directions.items():
                scores, edited = edit_scores(
                    inv, direction, STRENGTHS[space], net, identity, reference
                )
                scores["fid"] = frechet_distance(reference, net.features(edited))
                rows.append(
                    {"space": space, "model": method, "domain": domain, "attribute": name} | scores
                )
                if domain == "target":
                    images = degraded[:8]
                    key = f"{space}_{method.split()[0]}_{name}"
                    grids[key] = (images, inv.reconstruction[:8], edited[:8])
                print(rows[-1], flush=True)
    sweep = []
    for (method, domain), inv in inverted.items():
        for name in ("eyeglasses", "smiling"):
            for strength in SWEEP:
                scores, _ = edit_scores(
                    inv, families["w+"][name], strength, net, identity, reference
                )
                sweep.append(
                    {"model": method, "domain": domain, "attribute": name, "strength": strength}
                    | scores
                )
    for key, (inputs, recon, edited) in grids.items():
        grid = preview_grid({"input": inputs, "reconstruction": recon, "edited": edited}, 8)
        save_images(
            grid[None] * 2 - 1, args.out / "grids", [key.replace(" ", "_").replace("+", "plus")]
        )
    n = args.n_inversion
    curves = inversion_curves({"source": clean[:n], "target": degraded[:n]})
    (args.out / "results.json").write_text(
        json.dumps(
            {
                "edits": rows,
                "strengths": STRENGTHS,
                "sweep": sweep,
                "attribute_reading": reading,
                "n": args.n,
                "inversion": curves,
                "n_inversion": n,
                "wplus_validation_accuracy": {
                    k: d.details["validation_accuracy"] for k, d in families["w+"].items()
                },
            },
            indent=2,
        )
        + "\n"
    )
    write_tables(args.out, rows, curves, sweep, reading)


def write_tables(
    out: Path, rows: list[dict], curves: dict, sweep: list[dict], reading: dict
) -> None:
    lines = [
        "| directions | model | domain | attribute | FID-domain ↓ | flipped ↑ "
        "| others kept (min / mean) ↑ | worst kept | identity ↑ |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['space']} | {r['model']} | {r['domain']} | {r['attribute']} | {r['fid']:.1f} "
            f"| {r['success']:.2f} | {r['kept_min']:.2f} / {r['kept_mean']:.2f} "
            f"| {r['kept_worst']} | {r['identity']:.3f} |"
        )
    lines += [
        "",
        "## W+ strength sweep (flipped / worst other kept)",
        "",
        "| model | domain | attribute | " + " | ".join(f"{s:g}" for s in SWEEP) + " |",
        "|---|---|---|" + "---|" * len(SWEEP),
    ]
    for key in dict.fromkeys((r["model"], r["domain"], r["attribute"]) for r in sweep):
        cells = [
            f"{r['success']:.2f} / {r['kept_min']:.2f}"
            for r in sweep
            if (r["model"], r["domain"], r["attribute"]) == key
        ]
        lines.append(f"| {' | '.join(key)} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## The classifier's reading of the reconstructions (agreement with the true labels)",
        "",
        "| model / domain | " + " | ".join(ATTRIBUTES) + " |",
        "|---|" + "---|" * len(ATTRIBUTES),
    ]
    for key, agree in reading.items():
        lines.append(f"| {key} | " + " | ".join(f"{agree[a]:.2f}" for a in ATTRIBUTES) + " |")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    lines = [
        "| inversion | domain | PSNR at 25 / 50 / 100 / 200 iterations (dB) "
        "| iterations to reach W+ optimisation's final PSNR |",
        "|---|---|---|---|",
    ]
    for domain in ("source", "target"):
        lines.append(
            f"| encoder (pSp, one pass) | {domain} | {curves[f'encoder/{domain}']:.2f} | - |"
        )
        target = curves[f"optimisation (W+, from mean w)/{domain}"][-1]
        for name in (
            "optimisation (W+, from mean w)",
            "hybrid (encoder codes, lr 0.1)",
            "hybrid (encoder codes, lr 0.02)",
        ):
            curve = curves[f"{name}/{domain}"]
            at = " / ".join(f"{curve[i - 1]:.2f}" for i in (25, 50, 100, 200) if i <= len(curve))
            lines.append(f"| {name} | {domain} | {at} | {first_reaching(curve, target)} |")
    (out / "inversion.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
