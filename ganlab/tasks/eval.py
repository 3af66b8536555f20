"""``task=eval``: score a trained model (``ckpt_path=`` or ``asset=``) with the evaluations its
method declares, using this run's ``features=`` and ``eval.*`` settings and the data of the
run that trained it; writes metrics.json."""

from pathlib import Path

from omegaconf import DictConfig

from ganlab.evaluation import evaluate, write_metrics
from ganlab.tasks.common import (
    build_data,
    build_eval_tools,
    eval_budget,
    load_trained,
    model_source,
    prepare_run_dir,
)
from ganlab.tasks.fit import objective


def run(cfg: DictConfig) -> float | None:
    source = model_source(cfg)
    run_dir = prepare_run_dir(cfg)
    module, trained = load_trained(source)
    datamodule = build_data(trained.data)
    tools = build_eval_tools(cfg, datamodule, module)
    report = {
        "task": "eval",
        "checkpoint": str(Path(source).resolve()),
        "run_step": module.run_step,
        **evaluate(module, datamodule, eval_budget(cfg), tools),
    }
    write_metrics(run_dir / "metrics.json", report)
    print(f"ganlab: evaluated {source}; metrics.json is in {run_dir}")
    for name, value in report["metrics"].items():
        print(f"  {name}: {value:.4g}")
    return objective(cfg, report["metrics"])
