"""``task=dissect``: GAN dissection of a StyleGAN2 generator (``ganlab.analysis.dissection``).

The samples are segmented by a segmenter trained on data with exact masks
(``experiment=segmenter_toyfaces``); for each class, the units of ``layer`` most aligned
with it are ablated and inserted on the same latents and noise, and the class's share of
the pixels is measured again. Writes ``dissection.json`` (the per-class summary), ``units.csv``
(every unit's IoU with every class), ``interventions.png`` and ``index.json``.
"""

import csv
import json
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from torch import Tensor

from ganlab.analysis.dissection import Dissection, LayerProbe, dissect, intervene
from ganlab.assets import weights_file
from ganlab.callbacks.samples import preview_grid
from ganlab.checkpoints import model_source
from ganlab.errors import ConfigError
from ganlab.inversion import LatentModel
from ganlab.nets.segmenter import load_segmenter
from ganlab.nets.stylegan2 import sample_w
from ganlab.tasks.models import load_model
from ganlab.tasks.run_dir import prepare_run_dir
from ganlab.tasks.user_images import save_images, write_index

PREVIEW = 8  # images per row of interventions.png


def class_summary(
    found: Dissection, cls: int, name: str, k: int, ablated: Tensor, inserted: Tensor
) -> dict[str, Any]:
    """What dissection.json says of one class."""
    ious = found.iou[:, cls]
    return {
        "class": name,
        "best_unit": int(ious.argmax()),
        "best_iou": float(ious.max()),
        "median_iou": float(ious.median()),
        "top_units": found.top_units(cls, k).tolist(),
        "share": float(found.shares[cls]),
        "share_ablated": float(ablated[cls]),
        "share_inserted": float(inserted[cls]),
    }


def write_units(path: Path, iou: Tensor, names: list[str]) -> None:
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["unit", "best_class", *names])
        for unit, row in enumerate(iou.tolist()):
            best = names[max(range(len(row)), key=row.__getitem__)]
            writer.writerow([unit, best, *(f"{value:.4f}" for value in row)])


def run(cfg: DictConfig) -> None:
    if cfg.n_samples < 2 or cfg.batch_size < 1 or cfg.top_units < 1:
        raise ConfigError("task=dissect needs n_samples >= 2, batch_size >= 1, top_units >= 1")
    source = model_source(cfg)
    model, _ = load_model(cfg, source)
    if not isinstance(model, LatentModel):
        raise ConfigError(
            f"task=dissect needs a StyleGAN2 generator (or a method built on one); {source} "
            f"holds a {type(model).__name__}"
        )
    segmenter, details = load_segmenter(weights_file(str(cfg.segmenter)))
    generator, device = model.generator, model.latent_avg.device
    segmenter = segmenter.to(device)
    n_classes = segmenter.config["n_classes"]
    names = list(details.get("class_names") or [str(c) for c in range(n_classes)])
    try:
        probe = LayerProbe(generator, str(cfg.layer))
    except ValueError as error:
        raise ConfigError(f"layer={cfg.layer}: {error}") from None
    run_dir = prepare_run_dir(cfg)
    sizes = [
        min(cfg.batch_size, cfg.n_samples - start)
        for start in range(0, cfg.n_samples, cfg.batch_size)
    ]

    @torch.no_grad()
    def draw(index: int) -> Tensor:
        rng = torch.Generator().manual_seed(int(cfg.seed) * 100_003 + index)
        w = sample_w(generator, sizes[index], cfg.truncation, model.latent_avg[None], rng)
        images = generator([w.to(device)], input_is_latent=True, randomize_noise=False)[0]
        return images.clamp(-1, 1)

    def segment(images: Tensor) -> Tensor:
        return segmenter.segment(images)

    found = dissect(draw, segment, probe, len(sizes), float(cfg.quantile), n_classes)
    rows = {"samples": draw(0)[:PREVIEW].cpu()}
    summary = []
    for cls, name in enumerate(names):
        units = found.top_units(cls, int(cfg.top_units))
        zeros = torch.zeros(len(units))
        ablated = intervene(draw, segment, probe, len(sizes), units, zeros, n_classes)
        inserted = intervene(
            draw, segment, probe, len(sizes), units, found.on_values[units], n_classes
        )
        summary.append(class_summary(found, cls, name, int(cfg.top_units), ablated, inserted))
        for kind, values in (("ablate", zeros), ("insert", found.on_values[units])):
            with probe.active(), probe.setting(units, values):
                rows[f"{kind} {name}"] = draw(0)[:PREVIEW].cpu()
            probe.captured.clear()
    about = {
        "task": "dissect",
        "model": str(source),
        "layer": found.layer,
        "units": int(found.iou.shape[0]),
        "n_samples": int(cfg.n_samples),
        "quantile": float(cfg.quantile),
        "segmenter": str(cfg.segmenter),
    }
    (run_dir / "dissection.json").write_text(json.dumps({**about, "classes": summary}, indent=1))
    write_units(run_dir / "units.csv", found.iou, names)
    write_index(run_dir, summary, about)  # before the preview: the outputs are complete
    save_images(preview_grid(rows, PREVIEW)[None] * 2 - 1, run_dir, ["interventions"])
    print(f"ganlab: dissected {found.layer} ({found.iou.shape[0]} units) in {run_dir}")
    for row in summary:
        print(
            f"  {row['class']:<11} best unit {row['best_unit']:>4} IoU {row['best_iou']:.3f} "
            f"(median {row['median_iou']:.3f}); share {row['share']:.3f} -> ablated "
            f"{row['share_ablated']:.3f}, inserted {row['share_inserted']:.3f}"
        )
