"""``task=train_direction``: make editing directions for a StyleGAN2 generator.

``direction_method=interfacegan`` (default) samples ``n_samples`` codes, labels their images
with an attribute classifier (ganlab's ToyFaces domain net) and fits one linear-SVM
boundary per attribute; or, with ``codes=<codes.pt> labels=<file.csv>``, fits them on the
user's own labelled codes (e.g. a ``task=invert`` run over labelled photos; the CSV has a
``name`` column matching the codes and one numeric column per attribute).
``direction_method=ganspace`` keeps the first ``n_components`` principal components of w
(strength in standard deviations); ``sefa`` the first eigenvectors of the modulation
weights (``sefa_weights=reference``: genforce/sefa's, each W+ layer's style conv and the
output ToRGB; ``all``: every ToRGB too). Writes ``directions/<name>.pt`` (what ``task=edit
direction=`` takes), ``index.json`` and then ``previews.png`` (a row per direction over
``preview_strengths``).
"""

import csv
from pathlib import Path

import torch
from omegaconf import DictConfig
from torch import Tensor

from ganlab.callbacks.samples import preview_grid
from ganlab.checkpoints import model_source
from ganlab.data.toyfaces import ATTRIBUTES
from ganlab.editing import (
    SEFA_WEIGHTS,
    Direction,
    factorize,
    labelled_samples,
    modulation_weights,
    move,
    principal_components,
    train_boundary,
)
from ganlab.errors import ConfigError
from ganlab.features.domain import load_domain_net
from ganlab.inversion import LatentModel
from ganlab.nets.stylegan2 import sample_w
from ganlab.tasks.edit import read_codes
from ganlab.tasks.models import load_model
from ganlab.tasks.run_dir import prepare_run_dir
from ganlab.tasks.user_images import save_images, write_index

METHODS = ("interfacegan", "ganspace", "sefa")
CLASSIFIERS = {"domain_toyfaces": ("toyfaces", ATTRIBUTES)}


def read_labels(path: str, names: list[str]) -> tuple[list[str], Tensor]:
    """(attribute names, (N, A) scores) of a CSV with a ``name`` column, in ``names`` order."""
    file = Path(str(path)).expanduser()
    if not file.is_file():
        raise ConfigError(f"labels={file}: no such file (a CSV: name,<attribute>,...)")
    with file.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "name" not in rows[0] or len(rows[0]) < 2:
        raise ConfigError(f"labels={file} needs a header 'name,<attribute>,...' and rows")
    attributes = [key for key in rows[0] if key != "name"]
    by_name = {row["name"]: row for row in rows}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise ConfigError(f"labels={file} has no row for codes {missing[:5]}")
    try:
        scores = [[float(by_name[n][a]) for a in attributes] for n in names]
    except ValueError as error:
        raise ConfigError(f"labels={file}: every score must be a number ({error})") from error
    return attributes, torch.tensor(scores)


def classifier_labels(model: LatentModel, cfg: DictConfig) -> tuple[list[str], Tensor, Tensor]:
    """(attribute names, (N, D) sampled w, (N, A) classifier logits of their images)."""
    if cfg.classifier not in CLASSIFIERS:
        raise ConfigError(
            f"classifier={cfg.classifier} is not an attribute classifier; known: "
            f"{', '.join(CLASSIFIERS)} (or give codes= and labels=)"
        )
    dataset, names = CLASSIFIERS[cfg.classifier]
    net, _ = load_domain_net(dataset)
    net = net.to(model.device)
    truncation = float(cfg.truncation)

    def sample(n: int, rng: torch.Generator) -> Tensor:
        return sample_w(model.generator, n, truncation, model.latent_avg[None], rng)

    def score(images: Tensor) -> Tensor:
        return net(images)["attribute_logits"]

    w, logits = labelled_samples(
        sample, model.decode, score, int(cfg.n_samples), int(cfg.batch_size), int(cfg.seed)
    )
    return list(names), w, logits


def interfacegan_directions(model: LatentModel, cfg: DictConfig, source: str) -> list[Direction]:
    if cfg.get("labels"):
        if not cfg.get("codes"):
            raise ConfigError("labels= goes with codes=<codes.pt> (the codes the labels are of)")
        names, codes = read_codes(cfg.codes)
        if codes.ndim == 3 and cfg.space == "w":  # an encoder's W+ codes: their layer mean
            codes = codes.mean(1)
        attributes, scores = read_labels(cfg.labels, names)
        origin = {"labels": str(cfg.labels), "codes": str(cfg.codes)}
    else:
        attributes, codes, scores = classifier_labels(model, cfg)
        origin = {"classifier": cfg.classifier, "truncation": float(cfg.truncation)}
    wanted = list(cfg.attributes) if cfg.get("attributes") else attributes
    unknown = [a for a in wanted if a not in attributes]
    if unknown:
        raise ConfigError(f"unknown attribute(s) {unknown}; the labels have {attributes}")
    shape = codes.shape[1:]
    codes = codes.flatten(1)
    directions = []
    for attribute in wanted:
        column = scores[:, attributes.index(attribute)]
        boundary = train_boundary(
            codes, column, float(cfg.chosen_ratio), float(cfg.split_ratio), int(cfg.seed)
        )
        details = origin | {
            "n_samples": len(codes),
            "n_positive": boundary.n_positive,
            "n_negative": boundary.n_negative,
            "train_accuracy": boundary.train_accuracy,
            "validation_accuracy": boundary.validation_accuracy,
        }
        directions.append(
            Direction(
                attribute,
                boundary.normal.view(shape),
                "w+" if len(shape) == 2 else "w",
                "interfacegan",
                source,
                model.fingerprint,
                layers=layer_list(cfg),
                details=details,
            )
        )
    return directions


def ganspace_directions(model: LatentModel, cfg: DictConfig, source: str) -> list[Direction]:
    with torch.no_grad():
        rng = torch.Generator().manual_seed(int(cfg.seed))
        w = sample_w(model.generator, int(cfg.n_samples), rng=rng).cpu()
    components = principal_components(w, int(cfg.n_components), int(cfg.seed))
    return [
        Direction(
            f"ganspace_{k}",
            components.directions[k] * components.stds[k],
            "w",
            "ganspace",
            source,
            model.fingerprint,
            layer_list(cfg),
            {
                "component": k,
                "variance": float(components.variances[k]),
                "std": float(components.stds[k]),
                "n_samples": int(cfg.n_samples),
                "strength_unit": "one standard deviation of w along the component",
            },
        )
        for k in range(int(cfg.n_components))
    ]


def sefa_directions(model: LatentModel, cfg: DictConfig, source: str) -> list[Direction]:
    layers, weights = layer_list(cfg), str(cfg.sefa_weights)
    if weights not in SEFA_WEIGHTS:
        raise ConfigError(f"sefa_weights={weights} is unknown; valid: {', '.join(SEFA_WEIGHTS)}")
    vectors, eigenvalues = factorize(modulation_weights(model.generator.cpu(), layers, weights))
    model.generator.to(model.device)
    return [
        Direction(
            f"sefa_{k}",
            vectors[k],
            "w",
            "sefa",
            source,
            model.fingerprint,
            layers,
            {
                "eigenvalue": float(eigenvalues[k]),
                "factorised_layers": layers or "all",
                "factorised_weights": weights,
            },
        )
        for k in range(int(cfg.n_components))
    ]


def layer_list(cfg: DictConfig) -> list[int] | None:
    """``layers=[a,b,...]`` (the W+ layers moved), or null: all."""
    return None if cfg.get("layers") is None else [int(i) for i in cfg.layers]


BUILDERS = {
    "interfacegan": interfacegan_directions,
    "ganspace": ganspace_directions,
    "sefa": sefa_directions,
}


def run(cfg: DictConfig) -> None:
    if cfg.direction_method not in BUILDERS:
        raise ConfigError(
            f"direction_method={cfg.direction_method} is unknown; valid: {', '.join(METHODS)}"
        )
    source = model_source(cfg)
    model, _ = load_model(cfg, source)
    if not isinstance(model, LatentModel):
        raise ConfigError(
            f"task=train_direction needs a StyleGAN2 generator (or a method built on one); "
            f"{source} holds a {type(model).__name__}"
        )
    shown = model.source
    directions = BUILDERS[cfg.direction_method](model, cfg, shown)
    run_dir = prepare_run_dir(cfg)
    files = [
        str(d.save(run_dir / "directions" / f"{d.name}.pt").relative_to(run_dir))
        for d in directions
    ]
    strengths = [float(s) for s in cfg.preview_strengths]
    entries = [
        {"name": d.name, "file": f, "layers": d.layers, **d.details}
        for d, f in zip(directions, files, strict=True)
    ]
    about = {
        "task": "train_direction",
        "model": str(source),
        "direction_method": cfg.direction_method,
        "generator_fingerprint": model.fingerprint,
        "preview_strengths": strengths,
    }
    write_index(run_dir, entries, about)  # before the previews: the outputs are complete
    rng = torch.Generator().manual_seed(int(cfg.seed) + 1)
    start = sample_w(model.generator, 1, 0.7, model.latent_avg[None], rng)
    start = start[:, None].repeat(1, model.n_latent, 1)
    rows = {
        d.name: torch.cat([model.decode(move(start, d, s)).cpu() for s in strengths])
        for d in directions[:16]
    }
    save_images(preview_grid(rows, len(strengths))[None] * 2 - 1, run_dir, ["previews"])
    print(f"ganlab: {len(directions)} direction(s) in {run_dir / 'directions'}")
