"""``task=invert input=<folder>``: the user's own images -> latent codes and reconstructions.

The model (``ckpt_path=`` or ``asset=``) must invert images (an encoder method, or latent
optimisation). Writes into the run dir: ``reconstructions/<name>.png``, ``codes.pt``
(``{name: code}``, what ``task=edit codes=`` reads), ``before_after.png`` (inputs above
their reconstructions) and ``index.json`` (input -> reconstruction, code).
"""

import torch
from omegaconf import DictConfig

from ganlab.callbacks.samples import preview_grid
from ganlab.tasks.common import (
    Inverts,
    image_shape_of,
    in_batches,
    load_trained,
    model_source,
    prepare_run_dir,
    read_user_images,
    require,
    save_images,
    unique_stems,
    write_index,
)


def run(cfg: DictConfig) -> None:
    source = model_source(cfg)
    module, trained = load_trained(source)
    require(module, Inverts, "invert", "invert images into latent codes")
    paths, images = read_user_images(cfg.input, image_shape_of(trained))
    run_dir = prepare_run_dir(cfg)
    results = in_batches(module.invert, images, cfg.batch_size, module.device)
    codes = torch.cat([codes for codes, _ in results]).cpu()
    reconstructions = torch.cat([images for _, images in results]).cpu()
    names = unique_stems(paths)
    files = save_images(reconstructions, run_dir / "reconstructions", names)
    torch.save(dict(zip(names, codes, strict=True)), run_dir / "codes.pt")
    grid = preview_grid({"input": images[:16], "reconstruction": reconstructions[:16]}, 16)
    save_images(grid[None] * 2 - 1, run_dir, ["before_after"])
    entries = [
        {"input": str(path), "reconstruction": file, "code": name}
        for path, file, name in zip(paths, files, names, strict=True)
    ]
    about = {"task": "invert", "model": str(source), "codes": "codes.pt"}
    index = write_index(run_dir, entries, about | {"code_shape": list(codes.shape[1:])})
    print(f"ganlab: inverted {len(paths)} image(s); outputs and {index.name} are in {run_dir}")
