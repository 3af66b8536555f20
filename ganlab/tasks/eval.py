"""``task=eval``: score a trained model (``ckpt_path=`` or ``asset=``) with the evaluations its
method declares, using this run's ``features=`` and ``eval.*`` settings and the data of the
run that trained it; writes metrics.json. A bare StyleGAN2 generator file (e.g.
``asset=stylegan2_toyfaces_64``) is scored as a StyleGAN2's samples against this run's
``data=``."""

from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from ganlab.checkpoints import load_trained, model_source
from ganlab.errors import ConfigError
from ganlab.evaluation import metrics_report, write_metrics
from ganlab.inversion import is_generator_file
from ganlab.methods.noise.stylegan2 import StyleGAN2
from ganlab.nets.stylegan2 import load_stylegan2
from ganlab.tasks.building import build_data, build_evaluation, eval_budget
from ganlab.tasks.fit import objective
from ganlab.tasks.run_dir import prepare_run_dir


def run(cfg: DictConfig) -> float | None:
    source = model_source(cfg)
    run_dir = prepare_run_dir(cfg)
    if is_generator_file(source):
        module, datamodule = generator_file_on_run_data(source, cfg)
    else:
        module, trained = load_trained(source)
        datamodule = build_data(trained.data)
    evaluation = build_evaluation(cfg, datamodule, module)
    header = {
        "task": "eval",
        "checkpoint": str(Path(source).resolve()),
        "run_step": module.run_step,
    }
    report = metrics_report(header, evaluation.evaluate(module, datamodule, eval_budget(cfg)))
    write_metrics(run_dir / "metrics.json", report)
    print(f"ganlab: evaluated {source}; metrics.json is in {run_dir}")
    for name, value in report["metrics"].items():
        print(f"  {name}: {value:.4g}")
    return objective(cfg, report["metrics"])


def generator_file_on_run_data(source: Path, cfg: DictConfig) -> tuple[StyleGAN2, Any]:
    """A bare StyleGAN2 generator file (rosinality layout) as a StyleGAN2 to sample, scored
    against this run's ``data=`` (a file holds no data config), which must have its size."""
    generator, _ = load_stylegan2(source)
    datamodule = build_data(cfg.data)
    if getattr(datamodule, "image_size", None) != generator.size:
        raise ConfigError(
            f"{source} makes {generator.size} px images but data={datamodule.name} holds "
            f"{getattr(datamodule, 'image_size', None)} px ones; give the data it was trained on, "
            f"e.g. experiment=stylegan2_toyfaces (data=toyfaces data.size={generator.size})"
        )
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return StyleGAN2.for_sampling(generator, datamodule.name).to(device), datamodule
