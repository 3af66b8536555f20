"""``task=fit``: train the method on the data, evaluate what it declares, write metrics.json.

``ckpt_path=`` resumes a run's full state (nets, EMA, optimizers, schedulers, step counters,
RNG); ``init_from=`` starts from weights only. A preemption signal checkpoints the run into
its own dir and requeues it; an interruption (Ctrl-C, SIGTERM) checkpoints it and exits
(``ganlab.preemption``). Rerunning in the same run dir resumes either.
"""

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from lightning_fabric.utilities.rank_zero import _get_rank
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import LearningRateMonitor
from pytorch_lightning.loggers import WandbLogger

from ganlab.callbacks.periodic_evaluation import PeriodicEvaluation
from ganlab.callbacks.record_config import RecordConfig
from ganlab.callbacks.samples import SampleGrid
from ganlab.checkpoints import check_compatible, initialise_from, read_checkpoint
from ganlab.distributed import leave_process_group
from ganlab.errors import ConfigError, GanlabError
from ganlab.evaluation import metrics_report, write_metrics
from ganlab.methods.base import AdversarialModule, NonFiniteLossError
from ganlab.preemption import (
    EXIT_PREEMPTED,
    PreemptionCheckpoint,
    PreemptionSignals,
    exit_code_for,
    mark_wandb_preempting,
)
from ganlab.tasks.building import build_data, build_evaluation, build_method, eval_budget
from ganlab.tasks.run_dir import prepare_run_dir


def run(cfg: DictConfig) -> float | None:
    run_dir = prepare_run_dir(cfg, is_rank_zero=_get_rank() in (None, 0))
    # from here on a preemption signal is noted; training saves and stops after the batch
    signals = PreemptionSignals(cfg.preemption.signals, cfg.preemption.interruptions)
    with signals as preemption:
        return fit_until_done_or_preempted(cfg, run_dir, preemption)


def fit_until_done_or_preempted(
    cfg: DictConfig, run_dir: Path, preemption: PreemptionSignals
) -> float | None:
    datamodule = build_data(cfg.data)
    check_full_batches(datamodule)
    module = build_method(cfg.model)
    module.check_data(datamodule)
    if cfg.get("init_from") and not cfg.ckpt_path:  # a resumed run has its own weights
        initialise_from(module, cfg.init_from)
    checkpoint = load_compatible(cfg.ckpt_path, module) if cfg.ckpt_path else None
    wandb_run_id = checkpoint["ganlab"].get("wandb_run_id") if checkpoint else None
    loggers = build_loggers(cfg, wandb_run_id)
    evaluation = build_evaluation(cfg, datamodule, module)  # handed to whoever scores
    # an experiment's settings for a callback the chosen group lacks (callbacks=none) have
    # no _target_: that callback is off, its settings are ignored
    callbacks = [instantiate(c) for c in cfg.callbacks.values() if c and "_target_" in c]
    callbacks.append(RecordConfig(OmegaConf.to_container(cfg, resolve=True)))
    stopper = PreemptionCheckpoint(
        preemption, run_dir / "checkpoints", cfg.preemption.every_n_batches
    )
    callbacks.insert(0, stopper)  # saves before a periodic evaluation eats the warning time
    for callback in callbacks:
        if isinstance(callback, PeriodicEvaluation | SampleGrid):
            callback.evaluation = evaluation
    if not evaluation.periodic:
        callbacks = [c for c in callbacks if not isinstance(c, PeriodicEvaluation)]
    if not loggers:
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    max_steps = cfg.trainer.max_steps
    if max_steps is None or max_steps < 0:
        max_steps = module.optimizer_steps_for(cfg.steps)
    trainer = instantiate(
        OmegaConf.masked_copy(cfg.trainer, [k for k in cfg.trainer if k != "threads"]),
        max_steps=max_steps,
        logger=loggers or False,
        callbacks=callbacks,
        default_root_dir=str(run_dir),
        enable_progress_bar=any(isinstance(c, pl.callbacks.ProgressBar) for c in callbacks),
    )
    if trainer.is_global_zero:
        print(f"ganlab: {datamodule.describe()}")
        print(
            f"ganlab: training {type(module).__name__} for {max_steps} optimizer steps; "
            f"outputs in {run_dir}"
        )
    # training draws start from the seed, on one process as on many (DDP re-seeds each
    # process when it starts), so W processes with batch B replay 1 process with batch W x B
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    started = time.perf_counter()
    try:
        try:
            trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
        except NonFiniteLossError as error:
            last = run_dir / "checkpoints" / "last.ckpt"
            hint = f" The last good checkpoint is {last}." if last.exists() else ""
            raise GanlabError(f"{error}{hint}") from error
        if stopper.saved_at_step is not None:
            mark_wandb_preempting(loggers)
            finish_loggers(loggers)
            if preemption.interrupted:
                stop_interrupted(preemption, stopper, run_dir, trainer.is_global_zero)
            stop_preempted(preemption, stopper, trainer.is_global_zero)
        preemption.release_interruptions()
        if preemption.interrupted:  # came after the last batch: training is complete
            finish_loggers(loggers)
            stop_interrupted(preemption, stopper, run_dir, trainer.is_global_zero)
        leave_process_group()
        if not trainer.is_global_zero:
            return None  # rank 0 evaluates and writes the run's files
        module.to(trainer.strategy.root_device)  # Lightning's teardown left it on the CPU
        header = {
            "task": "fit",
            "run_step": module.run_step,
            "global_step": trainer.global_step,
            "train_seconds": round(time.perf_counter() - started, 2),
            "final_losses": {
                k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("loss/")
            },
        }
        report = metrics_report(header, evaluation.evaluate(module, datamodule, eval_budget(cfg)))
        write_metrics(run_dir / "metrics.json", report)
        log_final_metrics(loggers, report["metrics"], trainer.global_step)
        record = {
            "command": command_line(),
            "seed": cfg.seed,
            "metrics": report["metrics"],
            "name": cfg.name or HydraConfig.get().runtime.choices.get("model", "model"),
            "config": OmegaConf.to_container(cfg, resolve=True),
        }
        module.export(run_dir, record)
    finally:
        finish_loggers(loggers)
    print(f"ganlab: done; checkpoints, samples and metrics.json are in {run_dir}")
    return objective(cfg, report["metrics"])


def check_full_batches(datamodule: Any) -> None:
    """Training drops the last partial batch: a batch larger than the training set leaves
    nothing to train on (Lightning would stop at once and call the run done)."""
    loader = datamodule.train_dataloader()
    if len(loader) == 0:
        raise ConfigError(
            f"data.batch_size={datamodule.batch_size} is larger than the "
            f"{len(loader.sampler)} training images of {datamodule.describe()}; lower it"
        )


def stop_preempted(
    preemption: PreemptionSignals, stopper: PreemptionCheckpoint, is_rank_zero: bool
) -> None:
    """Requeue the job (SLURM) and exit with EXIT_PREEMPTED; the restarted job resumes."""
    if is_rank_zero:
        print(
            f"ganlab: {preemption.received.name} received; saved {stopper.path} at optimizer "
            f"step {stopper.saved_at_step}",
            file=sys.stderr,
        )
    action = preemption.requeue(is_rank_zero)  # a submitit job exits in here (rank 0)
    if is_rank_zero:
        print(f"ganlab: {action}", file=sys.stderr)
    sys.exit(EXIT_PREEMPTED)


def stop_interrupted(
    preemption: PreemptionSignals, stopper: PreemptionCheckpoint, run_dir: Path, is_rank_zero: bool
) -> None:
    """Say what was saved and how to resume; exit as a process ended by the signal would."""
    if is_rank_zero:
        saved = (
            f"saved {stopper.path} at optimizer step {stopper.saved_at_step}"
            if stopper.path is not None
            else f"training had finished ({run_dir / 'checkpoints' / 'last.ckpt'}); the final "
            "evaluation did not run"
        )
        print(
            f"ganlab: {preemption.received.name} received; {saved}. To go on, rerun the same "
            f"command with hydra.run.dir={run_dir}",
            file=sys.stderr,
        )
    sys.exit(exit_code_for(preemption.received))


def log_final_metrics(loggers: list[Any], metrics: dict[str, float], step: int) -> None:
    """The final evaluation, as ``final/<metric>`` scalars and (W&B) a ``final_metrics``
    table that a sweep's runs share, so the W&B UI can compare members."""
    for logger in loggers:
        logger.log_metrics({f"final/{k}": v for k, v in metrics.items()}, step=step)
        if isinstance(logger, WandbLogger):
            rows = [[name, float(value)] for name, value in metrics.items()]
            logger.log_table("final_metrics", columns=["metric", "value"], data=rows)


def objective(cfg: DictConfig, metrics: dict[str, float]) -> float | None:
    """The value a sweeper (Optuna) optimises: metrics[optimized_metric]; None when unset."""
    name = cfg.get("optimized_metric")
    if name is None:
        return None
    if name not in metrics:
        raise ConfigError(
            f"optimized_metric={name} is not among this run's metrics: {', '.join(metrics)}"
        )
    return metrics[name]


def command_line() -> str:
    """The command that started this job, as a user would type it."""
    try:
        overrides = list(HydraConfig.get().overrides.task)
    except ValueError:
        overrides = []
    return " ".join(["python -m ganlab.run", *overrides])


def load_compatible(path: str, module: AdversarialModule) -> dict[str, Any]:
    checkpoint = read_checkpoint(path)
    check_compatible(checkpoint, module, path)
    return checkpoint


def build_loggers(cfg: DictConfig, wandb_run_id: str | None) -> list[Any]:
    loggers = []
    for name, logger_cfg in cfg.logger.items():
        if logger_cfg is None:
            continue
        if name == "wandb":
            config = dotted(OmegaConf.to_container(cfg, resolve=True))
            config.update(group_choices())
            config["git_commit"] = git_commit()
            loggers.append(
                instantiate(logger_cfg, run_id=wandb_run_id, run_config=config, _convert_="all")
            )
        else:
            loggers.append(instantiate(logger_cfg))
    return loggers


def dotted(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as one level of dotted keys (``model.optim.lr``), the names a user
    overrides, so W&B panels and tables can group runs by any of them."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            flat.update(dotted(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def group_choices() -> dict[str, str]:
    """``choices.<group>``: the option of each config group (``loss=hinge`` -> ``choices.loss:
    hinge``), which no config key holds; dashboards group a sweep's members by them."""
    try:
        choices = HydraConfig.get().runtime.choices
    except ValueError:  # no Hydra job (a test composing the config itself)
        return {}
    return {
        f"choices.{group}": str(option)
        for group, option in choices.items()
        if not group.startswith("hydra") and option is not None
    }


def git_commit() -> str | None:
    """The commit of the ganlab checkout this runs from (with "+dirty" for local changes);
    None for an installed copy outside git."""
    package = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(package), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(package), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if dirty else commit


def finish_loggers(loggers: list[Any]) -> None:
    """Close W&B runs so the next job in this process (a sweep member) starts a new one."""
    if any(isinstance(logger, WandbLogger) for logger in loggers):
        import wandb

        wandb.finish()
