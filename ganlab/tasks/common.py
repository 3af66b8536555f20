"""What the tasks share: the run dir, building the data and the method, a trained model from
a checkpoint or a published asset, weights-only initialisation (``init_from``), the user's
own image folders and the one-line refusal of a verb a method does not have."""

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf
from torch import Tensor
from torchvision.utils import save_image

from ganlab.assets import asset_path
from ganlab.checkpoints import (
    PARTIAL_SUFFIX,
    check_compatible,
    read_checkpoint,
    state_dict_mismatches,
)
from ganlab.data.alignment import FaceAligner, aligned_or_warn
from ganlab.data.base import DataModule
from ganlab.data.images import (
    INPUT_HINTS,
    RESAMPLE,
    cover_and_crop,
    input_problem,
    list_images,
    name_some,
    open_image,
    to_tensor,
    unreadable,
)
from ganlab.errors import CheckpointError, ConfigError
from ganlab.evaluation import Budget, Tools, build_tools, needed_tools
from ganlab.inversion import from_generator_file, from_method, is_generator_file
from ganlab.methods.base import AdversarialModule
from ganlab.preemption import resumable_checkpoint
from ganlab.torch_files import load_tensor_file


@runtime_checkable
class Inverts(Protocol):
    def invert(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """(B, C, H, W) images -> (latent codes (B, ...), reconstructions (B, C, H, W))."""
        ...


@runtime_checkable
class Decodes(Protocol):
    def decode(self, codes: Tensor) -> Tensor:
        """Latent codes (B, ...) -> images (B, C, H, W), the inverse of ``invert``'s codes."""
        ...


def prepare_run_dir(cfg: DictConfig, is_rank_zero: bool = True) -> Path:
    """The run dir, made and holding ``config.yaml``; a fit whose dir holds an interrupted run
    resumes it (``cfg.ckpt_path`` is set to its checkpoint). A finished run is never
    overwritten."""
    run_dir = Path(cfg.output_dir)
    resume_from = resumable_checkpoint(run_dir) if cfg.task == "fit" else None
    # every process refuses (none waits for a rank 0 that stopped); rank 0 writes the dir
    if resume_from is None and any(
        (run_dir / name).exists() for name in ("metrics.json", "checkpoints", "index.json")
    ):
        raise ConfigError(
            f"{run_dir} already holds a run; ganlab never overwrites one. Pick a new dir"
        )
    if is_rank_zero:  # DDP processes of rank > 0 share rank 0's run dir
        run_dir.mkdir(parents=True, exist_ok=True)
        if resume_from is None:
            (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
        else:
            print(f"ganlab: resuming the interrupted run in {run_dir} from {resume_from}")
            for partial in resume_from.parent.glob(f"*{PARTIAL_SUFFIX}"):
                partial.unlink()  # a save the stop cut short; the previous file is intact
    if resume_from is not None:
        cfg.ckpt_path = str(resume_from)
    return run_dir


def build_data(data_cfg: DictConfig) -> DataModule:
    datamodule = instantiate(data_cfg)
    if not isinstance(datamodule, DataModule):
        raise ConfigError(
            f"data._target_={data_cfg.get('_target_')} built a {type(datamodule).__name__}, "
            "not a ganlab DataModule (subclass ganlab.data.base.DataModule or ImageDataModule)"
        )
    return datamodule


def build_method(model_cfg: DictConfig) -> AdversarialModule:
    target = model_cfg.get("_target_") or ""
    if target and not getattr(get_class(target), "needs_training", True):
        raise ConfigError(
            f"{target.rsplit('.', 1)[-1]} trains nothing: run it with task=translate "
            "input=<structure images> exemplar=<image>"
        )
    module = instantiate(model_cfg)
    if not isinstance(module, AdversarialModule):
        raise ConfigError(
            f"model._target_={model_cfg.get('_target_')} built a {type(module).__name__}, not a "
            "ganlab method (subclass ganlab.methods.base.AdversarialModule)"
        )
    return module


def build_eval_tools(cfg: DictConfig, datamodule: Any, module: AdversarialModule) -> Tools:
    """The instruments the method's declared evaluations need (``features=null``: no FID),
    after checking the method offers what each evaluation calls."""
    for declared in module.evaluations():
        declared.check(module)
    return build_tools(cfg.get("features"), cfg.eval, datamodule, needed_tools(module))


def eval_budget(cfg: DictConfig) -> Budget:
    return Budget(cfg.eval.n_samples, cfg.eval.seed, cfg.eval.split)


def model_source(cfg: DictConfig) -> Path:
    """The file the verbs and task=eval take the model from: ``ckpt_path`` or ``asset``."""
    if cfg.get("ckpt_path") and cfg.get("asset"):
        raise ConfigError("give ckpt_path= or asset=, not both")
    if cfg.get("ckpt_path"):
        return Path(str(cfg.ckpt_path)).expanduser()
    if cfg.get("asset"):
        return asset_path(str(cfg.asset))
    raise ConfigError(
        f"task={cfg.task} needs a trained model: ckpt_path=<run dir>/checkpoints/last.ckpt "
        "(or a published model file), or asset=<name in ganlab/assets>"
    )


def load_trained(path: Path) -> tuple[AdversarialModule, DictConfig]:
    """The method a checkpoint or published model file holds, rebuilt from the config stored
    in it, with its weights (frozen nets re-loaded from their sources), in eval mode."""
    checkpoint = read_checkpoint(path)
    saved = checkpoint["ganlab"].get("config")
    if not saved:
        raise CheckpointError(f"{path} holds no run config; it cannot rebuild its model")
    config = OmegaConf.create(saved)
    module = build_method(config.model)
    check_compatible(checkpoint, module, path)
    module.restore_frozen_state(checkpoint)
    module.load_state_dict(checkpoint["state_dict"])
    module.phase_steps = {k: int(v) for k, v in checkpoint["ganlab"].get("phase_steps", {}).items()}
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return module.to(device).eval(), config


def load_model(cfg: DictConfig, source: Path | None = None) -> tuple[Any, tuple[int, int, int]]:
    """The model the verbs use and the (C, H, W) of the images it takes: a latent model
    (``ganlab.inversion``) for a bare StyleGAN2 file or a method built on one, inverting
    as ``inversion.kind`` says; any other method as it is."""
    source = source or model_source(cfg)
    options = cfg.get("inversion")
    if is_generator_file(source):
        model = from_generator_file(source, options)
        return model, (3, model.generator.size, model.generator.size)
    module, trained = load_trained(source)
    latent = from_method(module, source, trained, options)
    return (latent if latent is not None else module), image_shape_of(trained)


def initialise_from(module: AdversarialModule, path: str | Path) -> list[str]:
    """Load the weights of ``path`` (a ganlab checkpoint, a published model or a plain state
    dict) into every net of ``module`` they cover; optimizers and steps start fresh. Returns
    the nets initialised. Every loaded tensor must fit; nets the file lacks stay as built."""
    path = Path(str(path)).expanduser()
    if not path.is_file():
        raise CheckpointError(f"init_from={path}: no such file")
    saved = load_tensor_file(path, "init_from file")
    state = saved.get("state_dict", saved) if isinstance(saved, dict) else None
    if not isinstance(state, dict) or not any(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(f"init_from={path} holds no state dict of tensors")
    own = module.checkpoint_state_dict()
    # weights only: tensors (an image pool's history, say, is training state)
    shared = {k: v for k, v in state.items() if k in own and isinstance(v, Tensor)}
    if not shared:
        raise CheckpointError(
            f"init_from={path} has none of this model's weights (its keys start with "
            f"{sorted({k.split('.')[0] for k in state})[:6]}, the model's with "
            f"{sorted({k.split('.')[0] for k in own})[:6]})"
        )
    mismatched = state_dict_mismatches(shared, {k: own[k] for k in shared})
    if mismatched:
        raise CheckpointError(f"init_from={path} does not fit: {'; '.join(mismatched)}")
    module.load_state_dict(shared, strict=False)
    nets = sorted({key.split(".")[0] for key in shared})
    print(f"ganlab: initialised {', '.join(nets)} from {path} (weights only)")
    return nets


def require(module: AdversarialModule, capability: type, task: str, what: str) -> None:
    """Refuse ``task`` in one line unless ``module`` has the ``capability`` protocol."""
    if not isinstance(module, capability):
        raise ConfigError(
            f"task={task}: {type(module).__name__} cannot {what}; use a model of a method "
            "that does (README, 'Tasks')"
        )


def image_shape_of(config: DictConfig) -> tuple[int, int, int]:
    """(channels, height, width) of the images the model of a saved run config takes (the
    data config's, or its ``base``'s when it wraps one, e.g. the UDA splits)."""
    data = config.data
    base = data.get("base") or {}
    channels = data.get("channels") or base.get("channels")
    if channels is None:
        raise ConfigError("the model's stored config names no image channels (data.channels)")
    for node in (data, base):
        if node.get("height") and node.get("width"):
            return int(channels), int(node.height), int(node.width)
    size = data.get("size") or base.get("size")
    return int(channels), int(size), int(size)


def check_inputs(root: Path, paths: list[Path], channels: int, shape: tuple[int, int]) -> None:
    """Refuse, naming them, images the model would only see distorted: smaller than its size,
    grayscale for a colour model, or with transparent pixels."""
    found = [(path, input_problem(path, channels, shape)) for path in paths]
    found = [(path, problem) for path, problem in found if problem is not None]
    if not found:
        return
    kinds = dict.fromkeys(kind for _, (kind, _) in found)
    listed = "; ".join(
        f"{path.relative_to(root).as_posix()} ({detail})" for path, (_, detail) in found[:5]
    )
    more = f" and {len(found) - 5} more" if len(found) > 5 else ""
    raise ConfigError(
        f"input={root}: {len(found)} image(s) the model would see distorted: {listed}{more}. "
        + sentence("; ".join(INPUT_HINTS[kind] for kind in kinds))
    )


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def read_user_images(
    folder: Any, shape: tuple[int, int, int], align: Any = None, resample: int = RESAMPLE
) -> tuple[list[Path], Tensor]:
    """The images of ``folder`` (recursive, sorted) as (N, C, H, W) in [-1, 1], each scaled to
    cover (H, W) keeping its aspect and centre-cropped. Files that do not decode, and images
    the model would see distorted (``check_inputs``), stop the task naming them. ``align``:
    the path of dlib's 68-landmark model to align faces FFHQ-style first (images where no
    face is found are skipped with a message)."""
    if folder in (None, "", "???"):
        raise ConfigError("input=<folder of images> is required")
    root = Path(str(folder)).expanduser()
    if not root.is_dir():
        raise ConfigError(f"input={root} is not a folder of images")
    paths = list_images(root)
    if not paths:
        raise ConfigError(f"input={root} holds no image file (jpg, jpeg, png, bmp, webp)")
    bad = unreadable(paths)
    if bad:
        raise ConfigError(
            f"input={root}: {len(bad)} file(s) do not decode as images (truncated or not "
            f"images): {name_some(bad, root)}; fix them or move them out of the folder"
        )
    channels, height, width = shape
    check_inputs(root, paths, channels, (height, width))
    mode = "L" if channels == 1 else "RGB"
    pictures = [open_image(p, "RGB" if align else mode) for p in paths]
    how = "scaled to cover"
    if align:
        aligner = FaceAligner(Path(str(align)).expanduser())
        aligned = [
            aligned_or_warn(aligner, pic, p, max(height, width))
            for pic, p in zip(pictures, paths, strict=True)
        ]
        paths = [p for p, pic in zip(paths, aligned, strict=True) if pic is not None]
        pictures = [pic.convert(mode) for pic in aligned if pic is not None]
        if not paths:
            raise ConfigError(f"input={root}: no face found in any image, nothing to align")
        how = "aligned FFHQ-style, then scaled to cover"
    images = torch.stack(
        [to_tensor(cover_and_crop(pic, (height, width), resample)) for pic in pictures]
    )
    print(
        f"ganlab: {len(paths)} image(s) from {root}, each {how} {width}x{height} px "
        f"(keeping its aspect), centre-cropped, {channels} channel(s)"
    )
    return paths, images


def save_images(images: Tensor, folder: Path, names: Sequence[str]) -> list[str]:
    """Each (C, H, W) image in [-1, 1] as ``folder/<name>.png``; the relative file names."""
    folder.mkdir(parents=True, exist_ok=True)
    for image, name in zip(images, names, strict=True):
        save_image(image.float().cpu(), folder / f"{name}.png", normalize=True, value_range=(-1, 1))
    return [f"{folder.name}/{name}.png" for name in names]


def write_index(run_dir: Path, entries: list[dict[str, Any]], about: dict[str, Any]) -> Path:
    """``index.json``: what was run (``about``) and, per input, its outputs."""
    path = run_dir / "index.json"
    path.write_text(json.dumps({**about, "items": entries}, indent=2) + "\n")
    return path


def unique_stems(paths: Sequence[Path]) -> list[str]:
    """File stems, made unique with a counter where two inputs would share a name."""
    taken: set[str] = set()
    stems = []
    for path in paths:
        stem, count = path.stem, 0
        while stem in taken:
            count += 1
            stem = f"{path.stem}_{count}"
        taken.add(stem)
        stems.append(stem)
    return stems


def in_batches(function: Any, images: Tensor, batch_size: int, device: Any) -> list[Any]:
    """``function`` over chunks of ``images`` on ``device``; the list of its outputs (the
    function decides about gradients: latent optimisation needs them)."""
    return [function(chunk.to(device)) for chunk in images.split(batch_size)]
