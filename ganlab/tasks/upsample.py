"""``task=upsample input=<folder>``: the user's low-resolution images -> high-resolution
ones by PULSE (``ganlab.inversion.pulse``): the generator's latent space searched for
outputs whose bicubic downscaling matches each input.

The model (``ckpt_path=`` or ``asset=``) is a StyleGAN2 generator file or a method built on
one. Inputs are read at the generator's size / ``factor``. Writes into the run dir:
``upsampled/<name>.png``, ``index.json`` (input -> output, its downscaling loss and whether
it is within ``pulse.eps``: PULSE's "downscale-consistent"), then ``before_after.png``
(inputs, nearest-upscaled, above their outputs).
"""

import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf

from ganlab.callbacks.samples import preview_grid
from ganlab.checkpoints import model_source
from ganlab.errors import ConfigError
from ganlab.inversion import LatentModel
from ganlab.inversion.pulse import PulseSettings, bicubic_downscale, gaussian_fit, pulse
from ganlab.tasks.models import load_model
from ganlab.tasks.run_dir import prepare_run_dir
from ganlab.tasks.user_images import read_user_images, save_images, unique_stems, write_index


def run(cfg: DictConfig) -> None:
    source = model_source(cfg)
    model, _ = load_model(cfg, source)
    if not isinstance(model, LatentModel):
        raise ConfigError(
            f"task=upsample searches a StyleGAN2's latent space; {source} holds a "
            f"{type(model).__name__}, which has none"
        )
    generator = model.generator.eval().requires_grad_(False)
    factor = int(cfg.factor)
    if factor < 2 or generator.size % factor:
        raise ConfigError(f"factor={factor}: an integer >= 2 dividing the generator's size")
    size = generator.size // factor
    settings = PulseSettings(**OmegaConf.to_container(cfg.pulse))
    paths, images = read_user_images(cfg.input, (3, size, size))
    run_dir = prepare_run_dir(cfg)
    names = unique_stems(paths)
    fit = gaussian_fit(generator, settings.fit_samples, settings.seed)
    outputs, losses, consistent = [], [], []
    for chunk in images.split(cfg.batch_size):
        result = pulse(generator, chunk.to(model.device), bicubic_downscale(size), settings, fit)
        outputs.append(result.images.cpu())
        losses.append(result.downscaling_loss.cpu())
        consistent.append(result.consistent.cpu())
    upsampled = torch.cat(outputs).clamp(-1, 1)
    files = save_images(upsampled, run_dir / "upsampled", names)
    entries = [
        {
            "input": str(path),
            "output": file,
            "downscaling_loss": float(loss),
            "consistent": bool(ok),
        }
        for path, file, loss, ok in zip(
            paths, files, torch.cat(losses), torch.cat(consistent), strict=True
        )
    ]
    about = {"task": "upsample", "model": str(source), "factor": factor, "pulse": vars(settings)}
    index = write_index(run_dir, entries, about)
    inputs = F.interpolate(images[:16], scale_factor=factor, mode="nearest")
    grid = preview_grid({"input": inputs, "upsampled": upsampled[:16]}, 16)
    save_images(grid[None] * 2 - 1, run_dir, ["before_after"])
    within = sum(entry["consistent"] for entry in entries)
    print(
        f"ganlab: upsampled {len(paths)} image(s) {factor}x, {within} within eps of their "
        f"input; outputs and {index.name} are in {run_dir}"
    )
