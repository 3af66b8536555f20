"""``task=translate input=<folder> target=<domain>``: the user's images in another domain.

The model must translate (an image-to-image method). ``target=`` names a domain of a
two-domain method; ``attributes=`` (attribute translation) and ``exemplar=`` (exemplar-based
translation) are the other kinds of target, for the methods that take them. ``seeds=[...]``
draws several styles of a multimodal method. Writes ``translations/<name>_<seed>.png``,
``translations.png`` (inputs above their translations, written after ``index.json``, so a
failing preview loses no output; inputs and outputs of other sizes share its size) and
``index.json``. Under torchrun
the batches are shared among the processes (``ganlab.tasks.sharding``).
"""

from typing import Any

import torch
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig

from ganlab.callbacks.samples import preview_grid
from ganlab.checkpoints import load_trained, model_source
from ganlab.data.images import RESAMPLE
from ganlab.errors import ConfigError
from ganlab.evaluation import Translates
from ganlab.tasks.models import image_shape_of, require
from ganlab.tasks.run_dir import prepare_run_dir
from ganlab.tasks.sharding import process_share, sharded_batches
from ganlab.tasks.user_images import read_user_images, save_images, unique_stems, write_index

TARGET_KINDS = ("target", "attributes", "exemplar")


def translator(cfg: DictConfig) -> tuple[Any, str, tuple[int, int, int]]:
    """(module, where it came from, the (C, H, W) its inputs take): a trained model from
    ``ckpt_path``/``asset``, or, with neither, a translator that needs no training (MGI)
    built from ``model=``."""
    target = cfg.get("model", {}).get("_target_", "")
    built = target and not getattr(get_class(target), "needs_training", True)
    if built and not cfg.get("ckpt_path") and not cfg.get("asset"):
        module = instantiate(cfg.model)
        if torch.cuda.is_available():
            module = module.cuda()
        return module, f"model={target.rsplit('.', 1)[-1]}", module.input_shape()
    source = model_source(cfg)
    module, trained = load_trained(source)
    return module, str(source), image_shape_of(trained)


def run(cfg: DictConfig) -> None:
    given = [kind for kind in TARGET_KINDS if cfg.get(kind) is not None]
    if len(given) != 1:
        raise ConfigError(
            "task=translate takes one of target=<domain>, attributes=<list>, exemplar=<image>"
            f"{f'; got {given}' if given else ''}"
        )
    share = process_share()  # before the model is built: each process takes its own GPU
    module, source, shape = translator(cfg)
    require(module, Translates, "translate", "translate images")
    if given[0] != module.translation_kind:
        raise ConfigError(
            f"task=translate: {type(module).__name__} takes {module.translation_kind}=, "
            f"not {given[0]}="
        )
    target = cfg.get(given[0])
    if given[0] == "target" and target not in module.translation_targets:
        raise ConfigError(
            f"target={target} is not a domain of this model; it translates to "
            f"{', '.join(module.translation_targets)}"
        )
    resample = getattr(module, "input_resample", RESAMPLE)
    paths, images = read_user_images(cfg.input, shape, resample=resample)
    run_dir = prepare_run_dir(cfg, is_rank_zero=share.writes)
    names = unique_stems(paths)
    seeds = [int(seed) for seed in cfg.seeds]
    entries = [{"input": str(path), "translations": {}} for path in paths]
    rows = {"input": images[:16]}
    batches: list[Any] = []
    for seed in seeds:

        def translate(chunk: torch.Tensor, seed: int = seed) -> tuple[torch.Tensor, Any]:
            outputs = module.translate(chunk, target, seed=seed)
            return outputs, getattr(module, "batch_details", lambda: None)()

        results = sharded_batches(translate, images, cfg.batch_size, module.device, share)
        if results is None:  # another process writes
            continue
        outputs = torch.cat([part for part, _ in results])
        batches += [details for _, details in results if details is not None]
        files = save_images(outputs, run_dir / "translations", [f"{n}_{seed}" for n in names])
        for entry, file in zip(entries, files, strict=True):
            entry["translations"][str(seed)] = file
        rows[f"seed {seed}"] = outputs[:16]
    if not share.writes:
        return
    listed = given[0] == "attributes" and not isinstance(target, str)
    shown = [str(item) for item in target] if listed else str(target)
    about = {"task": "translate", "model": source, given[0]: shown, "seeds": seeds}
    if hasattr(module, "index_details"):
        about |= module.index_details(batches)
    if share.world_size > 1:
        about["processes"] = share.world_size
    write_index(run_dir, entries, about)  # before the preview: the outputs are complete
    save_images(preview_grid(rows, 16)[None] * 2 - 1, run_dir, ["translations"])
    print(f"ganlab: translated {len(paths)} image(s) to {target} in {run_dir}")
