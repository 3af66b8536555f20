"""``task=invert input=<folder>``: the user's own images -> latent codes and reconstructions.

The model (``ckpt_path=`` or ``asset=``) is a StyleGAN2 generator file, a method built on one
(an encoder: pSp, UDA-Inversion) or any method that inverts. For StyleGAN2 models
``inversion.kind`` picks encoder, optimisation or hybrid inversion (``auto``: the encoder
when there is one). ``align=true`` first aligns faces FFHQ-style (dlib landmarks).
Writes into the run dir: ``reconstructions/<name>.png``, ``codes.pt`` (``{name: code}``,
what ``task=edit codes=`` reads), ``before_after.png`` (inputs above their
reconstructions) and ``index.json`` (input -> reconstruction, code, per-image loss), the
index before the grid, so that the outputs are complete whatever befalls the preview.
"""

import torch
from omegaconf import DictConfig

from ganlab.callbacks.samples import preview_grid
from ganlab.checkpoints import model_source
from ganlab.inversion import LatentModel, psnr_from_mse
from ganlab.tasks.models import Inverts, load_model, require
from ganlab.tasks.run_dir import prepare_run_dir
from ganlab.tasks.user_images import (
    in_batches,
    read_user_images,
    save_images,
    unique_stems,
    write_index,
)


def run(cfg: DictConfig) -> None:
    source = model_source(cfg)
    model, shape = load_model(cfg, source)
    require(model, Inverts, "invert", "invert images into latent codes")
    if isinstance(model, LatentModel):
        model.prepare_inversion()
    paths, images = read_user_images(cfg.input, shape, cfg.get("align"))
    run_dir = prepare_run_dir(cfg)
    names = unique_stems(paths)
    about = {"task": "invert", "model": str(source)}
    extra: list[dict] = [{} for _ in names]
    if isinstance(model, LatentModel):
        results = in_batches(model.invert_detailed, images, cfg.batch_size, model.device)
        codes = torch.cat([r.codes for r in results]).cpu()
        reconstructions = torch.cat([r.images for r in results]).cpu()
        losses = torch.cat([r.losses for r in results]).cpu()
        psnrs = psnr_from_mse(torch.cat([r.mse_history[-1] for r in results]))
        extra = [{"loss": float(lo), "psnr": float(p)} for lo, p in zip(losses, psnrs, strict=True)]
        about |= {"inversion": model.kind, "generator_fingerprint": model.fingerprint}
        if model.kind != "encoder":
            about["settings"] = vars(model.settings)
    else:
        results = in_batches(model.invert, images, cfg.batch_size, model.device)
        codes = torch.cat([codes for codes, _ in results]).cpu()
        reconstructions = torch.cat([images for _, images in results]).cpu()
    files = save_images(reconstructions, run_dir / "reconstructions", names)
    torch.save(dict(zip(names, codes, strict=True)), run_dir / "codes.pt")
    entries = [
        {"input": str(path), "reconstruction": file, "code": name} | more
        for path, file, name, more in zip(paths, files, names, extra, strict=True)
    ]
    index = write_index(
        run_dir, entries, about | {"codes": "codes.pt", "code_shape": list(codes.shape[1:])}
    )
    grid = preview_grid({"input": images[:16], "reconstruction": reconstructions[:16]}, 16)
    save_images(grid[None] * 2 - 1, run_dir, ["before_after"])
    print(f"ganlab: inverted {len(paths)} image(s); outputs and {index.name} are in {run_dir}")
