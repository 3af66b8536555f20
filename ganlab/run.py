"""``python -m ganlab.run`` (or ``ganlab``): compose the config, build the run, do the task.

Tasks: ``fit`` (default) trains and evaluates; ``eval`` scores a checkpoint. Every output
lands in the Hydra run dir (``outputs/<name>/<timestamp>_<id>``), which is unique per job.
Mistakes in the input (config, checkpoint, data) end with one message and exit code 2;
``HYDRA_FULL_ERROR=1`` shows the full traceback instead.
"""

import os
import secrets
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning_fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment
from lightning_fabric.utilities.rank_zero import _get_rank
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pytorch_lightning.callbacks import LearningRateMonitor
from pytorch_lightning.loggers import WandbLogger

from ganlab.callbacks.evaluation import PeriodicEvaluation
from ganlab.callbacks.record_config import RecordConfig
from ganlab.checkpoints import check_compatible, read_checkpoint
from ganlab.errors import ConfigError, GanlabError
from ganlab.methods.base import AdversarialModule, NonFiniteLossError
from ganlab.metrics.evaluation import Evaluator
from ganlab.metrics.report import evaluate, write_metrics
from ganlab.preemption import (
    EXIT_PREEMPTED,
    PREEMPTED_CHECKPOINT,
    PreemptionCheckpoint,
    PreemptionSignals,
    mark_wandb_preempting,
    resumable_checkpoint,
)

TASKS = ("fit", "eval")
CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")
_UNIQUE = f"{secrets.token_hex(3)}"  # one per process: jobs started in the same second differ

# cached: a submitit job (and its requeued restart) resolves the sweep dir the launcher made
OmegaConf.register_new_resolver("ganlab_unique", lambda: _UNIQUE, replace=True, use_cache=True)
OmegaConf.register_new_resolver(
    "ganlab_name",
    lambda name, model, task: name or (model if task == "fit" else task),
    replace=True,
)
OmegaConf.register_new_resolver("ganlab_len", len, replace=True)
OmegaConf.register_new_resolver(
    "ganlab_gpus_per_node",  # a SLURM launcher's GPUs: the trainer's devices when they are GPUs
    lambda accelerator, devices: devices if accelerator in ("gpu", "cuda") else 0,
    replace=True,
)
OmegaConf.register_new_resolver("ganlab_or_null", lambda value: value or None, replace=True)
# the EMA copy of the generator is in eval mode on purpose
warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")
warnings.filterwarnings("ignore", message=".*`val_dataloader` but have no `validation_step`.*")
warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")
# checkpoints hold the weights after the step, which is what resuming needs
warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization.*")


def run_task(cfg: DictConfig) -> float | None:
    """Do ``cfg.task`` in ``cfg.output_dir``; returns the sweep objective (if any)."""
    check_config(cfg)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    run_dir = Path(cfg.output_dir)
    resume_from = resumable_checkpoint(run_dir) if cfg.task == "fit" else None
    if _get_rank() in (None, 0):  # DDP processes of rank > 0 share rank 0's run dir
        if resume_from is None and (
            (run_dir / "metrics.json").exists() or (run_dir / "checkpoints").exists()
        ):
            raise ConfigError(
                f"{run_dir} already holds a run; ganlab never overwrites one. Pick a new dir"
            )
        run_dir.mkdir(parents=True, exist_ok=True)
        if resume_from is None:
            (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
        else:
            print(f"ganlab: resuming the interrupted run in {run_dir} from {resume_from}")
    if resume_from is not None:
        cfg.ckpt_path = str(resume_from)
    return fit(cfg, run_dir) if cfg.task == "fit" else evaluate_checkpoint(cfg, run_dir)


def check_config(cfg: DictConfig) -> None:
    if cfg.task not in TASKS:
        raise ConfigError(f"task={cfg.task} is not a task; valid tasks: {', '.join(TASKS)}")
    missing = missing_values(OmegaConf.to_container(cfg, resolve=False))
    if missing:
        raise ConfigError(
            f"missing required value(s): {', '.join(missing)}; set them on the command line, "
            f"e.g. {missing[0]}=..."
        )
    if cfg.task == "eval" and not cfg.ckpt_path:
        raise ConfigError("task=eval needs ckpt_path=<run dir>/checkpoints/last.ckpt")
    processes = process_count(cfg.trainer)
    if processes > 1 and is_multirun() and not processes_started_externally():
        raise ConfigError(
            f"a sweep member with {processes} DDP processes needs them started by the cluster: "
            "add hydra/launcher=slurm (see slurm/README.md). Here Lightning would re-launch "
            "this command, and with it the whole sweep, once per extra process"
        )


def process_count(trainer: DictConfig) -> int:
    """Processes a trainer config asks for (devices per node x nodes; "auto" counts as 1)."""
    devices = trainer.get("devices", 1)
    if OmegaConf.is_list(devices):
        per_node = len(devices)
    elif isinstance(devices, int) or str(devices).isdigit():
        per_node = max(int(devices), 1)
    else:
        per_node = 1
    return per_node * int(trainer.get("num_nodes") or 1)


def is_multirun() -> bool:
    try:
        return HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:  # no Hydra job (a test composing the config itself)
        return False


def processes_started_externally() -> bool:
    """SLURM's srun, torchrun or a user set the ranks: Lightning launches nothing itself."""
    return (
        "LOCAL_RANK" in os.environ or SLURMEnvironment.detect() or TorchElasticEnvironment.detect()
    )


def missing_values(node: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose value is still ``???`` (checked before any interpolation resolves)."""
    if isinstance(node, dict):
        return [k for key, value in node.items() for k in missing_values(value, f"{prefix}{key}.")]
    if isinstance(node, list):
        return [k for i, value in enumerate(node) for k in missing_values(value, f"{prefix}{i}.")]
    return [prefix[:-1]] if node == "???" else []


def fit(cfg: DictConfig, run_dir: Path) -> float | None:
    # from here on a preemption signal is noted; training saves and stops after the batch
    with PreemptionSignals(cfg.preemption.signals) as preemption:
        return fit_until_done_or_preempted(cfg, run_dir, preemption)


def fit_until_done_or_preempted(
    cfg: DictConfig, run_dir: Path, preemption: PreemptionSignals
) -> float | None:
    datamodule = instantiate(cfg.data)
    module: AdversarialModule = instantiate(cfg.model)
    checkpoint = load_compatible(cfg.ckpt_path, module) if cfg.ckpt_path else None
    wandb_run_id = checkpoint["ganlab"].get("wandb_run_id") if checkpoint else None
    loggers = build_loggers(cfg, wandb_run_id)
    evaluator = build_evaluator(cfg, datamodule, module)
    # an experiment's settings for a callback the chosen group lacks (callbacks=none) have
    # no _target_: that callback is off, its settings are ignored
    callbacks = [instantiate(c) for c in cfg.callbacks.values() if c and "_target_" in c]
    callbacks.append(RecordConfig(OmegaConf.to_container(cfg, resolve=True)))
    stopper = PreemptionCheckpoint(
        preemption,
        run_dir / "checkpoints" / PREEMPTED_CHECKPOINT,
        cfg.preemption.every_n_batches,
    )
    callbacks.insert(0, stopper)  # saves before a periodic evaluation eats the warning time
    for callback in callbacks:
        if isinstance(callback, PeriodicEvaluation):
            callback.evaluator = evaluator
    if evaluator is None:
        callbacks = [c for c in callbacks if not isinstance(c, PeriodicEvaluation)]
    if not loggers:
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    max_steps = cfg.trainer.max_steps
    if max_steps is None or max_steps < 0:
        max_steps = module.optimizer_steps_for(cfg.steps)
    trainer = instantiate(
        cfg.trainer,
        max_steps=max_steps,
        logger=loggers or False,
        callbacks=callbacks,
        default_root_dir=str(run_dir),
        enable_progress_bar=any(isinstance(c, pl.callbacks.ProgressBar) for c in callbacks),
    )
    if trainer.is_global_zero:
        print(f"ganlab: {describe(datamodule)}")
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
            stop_preempted(preemption, stopper, trainer.is_global_zero)
        if not trainer.is_global_zero:
            return None  # rank 0 evaluates and writes the run's files
        report = {
            "task": "fit",
            "generator_step": module.generator_step,
            "global_step": trainer.global_step,
            "train_seconds": round(time.perf_counter() - started, 2),
            "final_losses": {
                k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("loss/")
            },
            **evaluate(module, datamodule, cfg.eval.n_samples, cfg.eval.seed, evaluator),
        }
        write_metrics(run_dir / "metrics.json", report)
        log_final_metrics(loggers, report["metrics"], trainer.global_step)
        record = {"command": command_line(), "seed": cfg.seed, "metrics": report["metrics"]}
        module.export(run_dir, record)
    finally:
        finish_loggers(loggers)
    print(f"ganlab: done; checkpoints, samples and metrics.json are in {run_dir}")
    return objective(cfg, report["metrics"])


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


def log_final_metrics(loggers: list[Any], metrics: dict[str, float], step: int) -> None:
    """The final evaluation, as ``final/<metric>`` scalars and (W&B) a ``final_metrics``
    table that a sweep's runs share, so the W&B UI can compare members."""
    for logger in loggers:
        logger.log_metrics({f"final/{k}": v for k, v in metrics.items()}, step=step)
        if isinstance(logger, WandbLogger):
            rows = [[name, float(value)] for name, value in metrics.items()]
            logger.log_table("final_metrics", columns=["metric", "value"], data=rows)


def objective(cfg: DictConfig, metrics: dict[str, float]) -> float | None:
    """The value a sweeper (Optuna) optimises: metrics[optimized_metric]."""
    name = cfg.get("optimized_metric")
    if name is None:
        return metrics.get("digits_score")
    if name not in metrics:
        raise ConfigError(
            f"optimized_metric={name} is not among this run's metrics: {', '.join(metrics)}"
        )
    return metrics[name]


def evaluate_checkpoint(cfg: DictConfig, run_dir: Path) -> float | None:
    """task=eval: rebuild the model and data of the run that wrote the checkpoint, score it."""
    checkpoint = read_checkpoint(cfg.ckpt_path)
    saved = checkpoint["ganlab"].get("config")
    source = OmegaConf.create(saved) if saved else cfg
    datamodule = instantiate(source.data)
    module: AdversarialModule = instantiate(source.model)
    check_compatible(checkpoint, module, cfg.ckpt_path)
    module.load_state_dict(checkpoint["state_dict"])
    module.phase_steps = dict(checkpoint["ganlab"].get("phase_steps", {}))
    evaluator = build_evaluator(cfg, datamodule, module)
    report = {
        "task": "eval",
        "checkpoint": str(Path(cfg.ckpt_path).resolve()),
        "generator_step": module.generator_step,
        **evaluate(module, datamodule, cfg.eval.n_samples, cfg.eval.seed, evaluator),
    }
    write_metrics(run_dir / "metrics.json", report)
    print(f"ganlab: evaluated {cfg.ckpt_path}; metrics.json is in {run_dir}")
    for name, value in report["metrics"].items():
        print(f"  {name}: {value:.4g}")
    return objective(cfg, report["metrics"])


def build_evaluator(
    cfg: DictConfig, datamodule: Any, module: AdversarialModule
) -> Evaluator | None:
    """FID/KID with ``cfg.features`` (``features=null``: none); loads the extractor now, so
    missing weights stop the run before any training."""
    if not module.generates_images or cfg.get("features") is None:
        return None
    features = OmegaConf.to_container(cfg.features)
    if features["name"] == "domain":
        features["name"] = f"domain_{datamodule.name}"
    return Evaluator.from_config(OmegaConf.create(features), cfg.eval, datamodule)


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
            config = OmegaConf.to_container(cfg, resolve=True)
            config["git_commit"] = git_commit()
            loggers.append(
                instantiate(logger_cfg, run_id=wandb_run_id, run_config=config, _convert_="all")
            )
        else:
            loggers.append(instantiate(logger_cfg))
    return loggers


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


def describe(datamodule: Any) -> str:
    return datamodule.describe() if hasattr(datamodule, "describe") else type(datamodule).__name__


_job_started = False


def user_message(error: Exception) -> str:
    """A ganlab error raised inside a constructor that Hydra called, without Hydra's wrapper."""
    if isinstance(error, InstantiationException) and isinstance(error.__cause__, GanlabError):
        return str(error.__cause__)
    return str(error)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def hydra_main(cfg: DictConfig) -> float | None:
    global _job_started
    _job_started = True
    try:
        return run_task(cfg)
    except (GanlabError, OmegaConfBaseException, InstantiationException) as error:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"ganlab: error: {user_message(error)}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    """Console entry point; a config that fails to compose also exits with code 2."""
    torch.set_float32_matmul_precision("high")
    try:
        hydra_main()
    except SystemExit as exit_:
        if exit_.code == 1 and not _job_started:
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
