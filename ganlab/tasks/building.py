"""Building what ``task=fit`` and ``task=eval`` run: the data module, the method and the
evaluation's instruments."""

from typing import Any

from hydra.utils import get_class, instantiate
from omegaconf import DictConfig

from ganlab.data.base import DataModule
from ganlab.errors import ConfigError
from ganlab.evaluation import Budget, EvaluationPlan, build_tools, needed_tools
from ganlab.methods.base import AdversarialModule


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


def build_evaluation(cfg: DictConfig, datamodule: Any, module: AdversarialModule) -> EvaluationPlan:
    """The method's declared evaluations with the instruments they need (``features=null``:
    no FID), after checking the method offers what each evaluation calls."""
    declared = tuple(module.evaluations())
    for evaluation in declared:
        evaluation.check(module)
    tools = build_tools(cfg.get("features"), cfg.eval, datamodule, needed_tools(declared))
    return EvaluationPlan(declared, tools)


def eval_budget(cfg: DictConfig) -> Budget:
    return Budget(cfg.eval.n_samples, cfg.eval.seed, cfg.eval.split)
