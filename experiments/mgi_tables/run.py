"""MGI's Table 1 (FID of exemplar-based translations against the baselines) and Table 2
(FID of inversion-based 4x super-resolution) on ToyFaces, plus the error against ground
truth, which ToyFaces can draw and real data cannot: the structure's face rendered in the
exemplar's appearance.

    python experiments/mgi_tables/run.py experiments/mgi_tables/results [--n 24]  # 2 CPU: ~40 min
    # the stored tables (pre-change grid): add --blocks 1 2 3 --code-counts 4 8 16

Protocol (seed 0 for faces, codes and the warp):
- Translation inputs: the edge map of test face i (structure) and the photo of test face
  i + n (exemplar: another identity), i < n. Ground truth: face i's geometry (shape
  attributes and identity fields) with face i + n's appearance (hair colour, pale skin and
  the colour fields), which draws exactly face i's edge map.
- Super-resolution inputs: test face i average-pooled 4x (16 px); ground truth: the face.
- Methods: the warp alone (nearest 4x), bicubic 4x, single-code W+ optimisation
  (Image2StyleGAN, down(G(w)) fitted), style transfer (translation only: Gatys et al. with
  the paper's settings on the domain net's maps, content the structure, style the
  exemplar), PULSE (super-resolution only: its code's defaults, the
  latents searched on their spheres, DS = the 4x average pooling), mGANprior with fixed
  settings (its code's default
  composing layer 6, PGGAN features at 16 px, is block 2 here; N = 30) and MGI (every
  hypothesis of the grid, by default the paper's mapped onto the 64 px generator, blocks 1-3
  x 10-40 codes; the per-image decision, the paper's, and the per-batch one). All inversions
  run ``STEPS`` Adam steps at lr 0.05 with L2 + the domain LPIPS.
- FID-domain: the shipped domain net's features of the n outputs against 5,000 training
  faces (the data set, as the paper's tables; also the decisions' reference here) and
  against 2,000 samples of the generator (what ``task=translate`` decides against); biased
  upwards at small n, the same n for every method.
"""

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ganlab.assets import ASSET_DIR
from ganlab.callbacks.samples import preview_grid
from ganlab.data.toyfaces import (
    ATTRIBUTES,
    IDENTITY_FIELDS,
    ToyFacesDataModule,
    attribute_probabilities,
    render,
    sample_face,
)
from ganlab.features import get_extractor
from ganlab.inversion import psnr_from_mse
from ganlab.inversion.multi_code import (
    PAPER_CODE_COUNTS,
    Hypothesis,
    MultiCodeSettings,
    choose_per_batch,
    choose_per_image,
    multi_code_invert,
)
from ganlab.inversion.optimisation import OptimisationSettings, optimise_codes
from ganlab.inversion.pulse import pulse
from ganlab.methods.inversion.mgi import MultipleGANInversion
from ganlab.metrics.distribution import frechet_distance
from ganlab.style_transfer import transfer_style
from ganlab.tasks.user_images import save_images

FIXED = Hypothesis(2, 30)  # mGANprior's default composing layer 6 (16 px features), N = 30
STEPS = 100
APPEARANCE_FIELDS = (
    "iris_colour",
    "skin_tone",
    "hair_shade",
    "facial_hair_shade",
    "background_hue",
    "background_value",
    "clothes_hue",
)
APPEARANCE_ATTRIBUTES = ("black_hair", "blond_hair", "brown_hair", "pale_skin")


def ground_truth(structure_index: int, exemplar_index: int) -> torch.Tensor:
    """Face ``structure_index``'s geometry in face ``exemplar_index``'s appearance."""
    probs = attribute_probabilities()
    attributes, identity = sample_face(0, "test", structure_index, probs)
    look_attributes, look_identity = sample_face(0, "test", exemplar_index, probs)
    fields = list(IDENTITY_FIELDS)
    for name in APPEARANCE_FIELDS:
        identity[fields.index(name)] = look_identity[fields.index(name)]
    for name in APPEARANCE_ATTRIBUTES:
        attributes[ATTRIBUTES.index(name)] = look_attributes[ATTRIBUTES.index(name)]
    return render(attributes, identity)


def translation_inputs(test, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(structures, exemplars, ground truth) of Table 1: test face i's edge map, test face
    i + n's photo, and face i's geometry in face i + n's appearance, i < n."""
    structures = torch.stack([test[i]["edges"] * 2 - 1 for i in range(n)])
    exemplars = torch.stack([test[n + i]["image"] for i in range(n)])
    truth = torch.stack([ground_truth(i, n + i) for i in range(n)])
    return structures, exemplars, truth


def single_code(mgi: MultipleGANInversion, targets: torch.Tensor, perceptual) -> torch.Tensor:
    """Image2StyleGAN's W+ optimisation of down(G(w)) against the low-resolution targets."""
    generator, factor = mgi.generator, mgi.generator.size // targets.shape[-1]

    def synthesize(codes, noises):
        images = generator([codes], input_is_latent=True, randomize_noise=False)[0]
        return F.avg_pool2d(images, factor)

    def embed(images):  # the perceptual term on images brought back to full size, as MGI's
        return perceptual(F.interpolate(images, scale_factor=factor, mode="nearest"))

    settings = OptimisationSettings(steps=STEPS, lr=0.05, initial_noise=0.0)
    result = optimise_codes(
        synthesize, targets, mgi.latent_avg, generator.n_latent, 1.0, settings, embed
    )
    with torch.no_grad():
        return generator([result.codes], input_is_latent=True, randomize_noise=False)[0]


def pulse_outputs(mgi: MultipleGANInversion, low: torch.Tensor) -> torch.Tensor:
    """PULSE with its code's defaults (100 Adam steps at lr 0.4 on the spheres, 100 L2 +
    0.05 GEOCROSS) and the table's degradation as DS (4x average pooling)."""
    factor = mgi.generator.size // low.shape[-1]
    result = pulse(mgi.generator, low, lambda images: F.avg_pool2d(images, factor))
    return result.images.detach()


def scores(outputs, truth, references, features, perceptual) -> dict[str, float]:
    """FID-domain of the outputs against each reference (``fid_data``: training faces,
    ``fid_generator``: the generator's samples), PSNR and LPIPS-domain against the truth."""
    with torch.no_grad():
        outputs = outputs.clamp(-1, 1)
        mse = (outputs - truth).pow(2).flatten(1).mean(1)
        distance = (perceptual(outputs) - perceptual(truth)).pow(2).sum(1)
        output_features = features(outputs)
        fids = {
            f"fid_{name}": frechet_distance(reference, output_features)
            for name, reference in references.items()
        }
        return fids | {
            "psnr_gt": psnr_from_mse(mse).mean().item(),
            "lpips_gt": distance.mean().item(),
        }


def run_methods(mgi, low, truth, references, features, perceptual, label, timings) -> dict:
    """Every method on the low-resolution inputs ``low`` (n, 3, 16, 16); the MGI decisions
    are made against the training faces (``references["data"]``)."""
    outputs = {
        "warp only (nearest 4x)": F.interpolate(low, scale_factor=4, mode="nearest"),
        "bicubic 4x": F.interpolate(low, scale_factor=4, mode="bicubic").clamp(-1, 1),
    }
    start = time.time()
    outputs["single-code W+ (Image2StyleGAN)"] = single_code(mgi, low, perceptual)
    timings[f"{label}/single-code"] = time.time() - start
    if label == "super-resolution":  # the paper's Table 2 row; PULSE only upsamples
        start = time.time()
        outputs["PULSE (sphere search)"] = pulse_outputs(mgi, low)
        timings[f"{label}/PULSE"] = time.time() - start
    settings = MultiCodeSettings(steps=STEPS, lr=0.05, downsample=4)
    start = time.time()
    fixed = multi_code_invert(
        mgi.generator, low, [FIXED], mgi.latent_avg, settings, perceptual, progress=True
    )
    timings[f"{label}/mGANprior fixed"] = time.time() - start
    outputs[f"mGANprior ({FIXED.name})"] = fixed.images[:, 0]
    grid = mgi.hypotheses
    start = time.time()
    multi = multi_code_invert(
        mgi.generator, low, grid, mgi.latent_avg, settings, perceptual, progress=True
    )
    timings[f"{label}/MGI ({len(grid)} hypotheses)"] = time.time() - start
    with torch.no_grad():
        n, h = multi.images.shape[:2]
        feats = features(multi.images.flatten(0, 1).clamp(-1, 1)).view(n, h, -1)
    per_image = choose_per_image(feats, references["data"])
    chosen, fids = choose_per_batch(feats.transpose(0, 1), references["data"])
    outputs["MGI, per-image decision (the paper's)"] = multi.images[torch.arange(n), per_image]
    outputs[f"MGI, per-batch decision ({grid[chosen].name})"] = multi.images[:, chosen]
    table = {
        name: scores(x, truth, references, features, perceptual) for name, x in outputs.items()
    }
    hypotheses = {
        hyp.name: scores(multi.images[:, k], truth, references, features, perceptual)
        for k, hyp in enumerate(grid)
    }
    return {
        "methods": table,
        "hypotheses": hypotheses,
        "chosen": grid[chosen].name,
        "per_image_counts": {hyp.name: int((per_image == k).sum()) for k, hyp in enumerate(grid)},
        "outputs": outputs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--n", type=int, default=24)
    parser.add_argument(
        "--blocks", type=int, nargs="+", help="composing blocks (default: the paper's, 1 2 3)"
    )
    parser.add_argument(
        "--code-counts",
        type=int,
        nargs="+",
        default=list(PAPER_CODE_COUNTS),
        help="codes per hypothesis (default: the paper's, 10 20 30 40)",
    )
    parser.add_argument(
        "--correspondence",
        type=Path,
        default=ASSET_DIR / "correspondence_toyfaces.pt",
        help="the warp's checkpoint (default: the shipped correspondence_toyfaces.pt)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=sorted(ADDED_ROWS),
        help="add these rows to the results.json of a finished run in OUT, computing nothing else",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    n = args.n
    data = ToyFacesDataModule(size=64)
    data.setup()
    test, train = data.split_dataset("test"), data.split_dataset("train")
    features = get_extractor("domain_toyfaces")
    perceptual = get_extractor("lpips_domain_toyfaces")
    mgi = MultipleGANInversion(
        str(ASSET_DIR / "stylegan2_toyfaces_64.pt"),
        str(args.correspondence),
        "domain_toyfaces",
        args.blocks,
        args.code_counts,
        progress=False,
    )
    with torch.no_grad():
        train_images = torch.stack([train[i]["image"] for i in range(5000)])
        references = {
            "data": torch.cat([features(x) for x in train_images.split(500)]),
            "generator": mgi.reference(),  # 2,000 samples, as task=translate decides
        }
    if args.only:
        add_rows(args.out, args.only, mgi, test, references, features, perceptual)
        return
    structures, exemplars, truth = translation_inputs(test, n)
    warped = mgi.warp(structures, exemplars)
    timings: dict[str, float] = {}
    translation = run_methods(
        mgi, warped, truth, references, features, perceptual, "translation", timings
    )
    start = time.time()
    styled = style_transfer_outputs(structures, exemplars)
    timings["translation/style transfer (Gatys)"] = time.time() - start
    translation["outputs"]["style transfer (Gatys)"] = styled
    translation["methods"]["style transfer (Gatys)"] = scores(
        styled, truth, references, features, perceptual
    )
    photos = torch.stack([test[i]["image"] for i in range(n)])
    low = F.avg_pool2d(photos, 4)
    sr = run_methods(
        mgi, low, photos, references, features, perceptual, "super-resolution", timings
    )
    rows = {
        "structure": structures.expand(-1, 3, -1, -1)[:8],
        "exemplar": exemplars[:8],
        "ground truth": truth[:8],
    } | {name: images[:8] for name, images in translation["outputs"].items()}
    grid = preview_grid(rows, 8)
    save_images(grid[None] * 2 - 1, args.out, ["translations"])
    for part in (translation, sr):
        part.pop("outputs")
    results = {
        "n": n,
        "steps": STEPS,
        "hypotheses": [hypothesis.name for hypothesis in mgi.hypotheses],
        "decision_reference": "data (5,000 training faces)",
        "fixed": FIXED.name,
        "correspondence": str(args.correspondence),
        "translation": translation,
        "super_resolution": sr,
        "seconds": timings,
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    write_tables(args.out, results)


def style_transfer_outputs(structures: torch.Tensor, exemplars: torch.Tensor) -> torch.Tensor:
    """Gatys et al.'s style transfer with the paper's settings (white-noise start, alpha /
    beta = 1e-3, L-BFGS) on the domain net's maps: content the structure, style the
    exemplar."""
    maps = get_extractor("domain_toyfaces").maps
    return transfer_style(structures.expand(-1, 3, -1, -1), exemplars, maps)


ADDED_ROWS = {  # rows a finished run can gain with --only: (table, row name)
    "pulse": ("super_resolution", "PULSE (sphere search)"),
    "style_transfer": ("translation", "style transfer (Gatys)"),
}


def add_rows(out: Path, names: list[str], mgi, test, references, features, perceptual) -> None:
    """Rows of ``ADDED_ROWS`` added to the results.json of a run made without them."""
    results = json.loads((out / "results.json").read_text())
    n = results["n"]
    photos = torch.stack([test[i]["image"] for i in range(n)])
    for name in names:
        table, row = ADDED_ROWS[name]
        start = time.time()
        if name == "pulse":
            outputs, truth = pulse_outputs(mgi, F.avg_pool2d(photos, 4)), photos
        else:
            structures, exemplars, truth = translation_inputs(test, n)
            outputs = style_transfer_outputs(structures, exemplars)
        label = "translation" if table == "translation" else "super-resolution"
        results["seconds"][f"{label}/{row}"] = time.time() - start
        results[table]["methods"][row] = scores(outputs, truth, references, features, perceptual)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    write_tables(out, results)


def write_tables(out: Path, results: dict) -> None:
    lines = []
    for title, key, truth in (
        ("Table 1: exemplar-based translation (edges -> faces)", "translation", "ground truth"),
        ("Table 2: 4x super-resolution by inversion (16 -> 64 px)", "super_resolution", "HR"),
    ):
        part = results[key]
        lines += [
            f"## {title}",
            "",
            f"| method | FID-domain vs data ↓ | FID-domain vs G samples ↓ "
            f"| PSNR vs {truth} (dB) ↑ | LPIPS-domain vs {truth} ↓ |",
            "|---|---|---|---|---|",
        ]
        for name, s in part["methods"].items():
            lines.append(
                f"| {name} | {s['fid_data']:.1f} | {s['fid_generator']:.1f} "
                f"| {s['psnr_gt']:.2f} | {s['lpips_gt']:.3f} |"
            )
        lines += ["", "Every hypothesis (per-batch choice: " + part["chosen"] + "):", ""]
        lines += [
            "| hypothesis | FID-domain vs data | FID-domain vs G samples | PSNR (dB) "
            "| per-image picks |",
            "|---|---|---|---|---|",
        ]
        for name, s in part["hypotheses"].items():
            picks = part["per_image_counts"][name]
            lines.append(
                f"| {name} | {s['fid_data']:.1f} | {s['fid_generator']:.1f} "
                f"| {s['psnr_gt']:.2f} | {picks} |"
            )
        lines.append("")
    lines += ["## Seconds (2 CPU cores)", ""]
    lines += [f"- {name}: {value:.0f}" for name, value in results["seconds"].items()]
    (out / "tables.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
