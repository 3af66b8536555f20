"""``python -m ganlab.run`` (or ``ganlab``): compose the config, check it, do the task.

Tasks (``ganlab.tasks``): ``fit`` (default) trains and evaluates; ``eval`` scores a trained
model; ``invert``, ``edit`` and ``translate`` run a trained model on the user's own images.
Every output lands in the Hydra run dir (``outputs/<name>/<timestamp>_<id>``), which is
unique per job. Mistakes in the input (config, checkpoint, data) end with one message and
exit code 2; ``HYDRA_FULL_ERROR=1`` shows the full traceback instead. The configs ship
inside the package (``ganlab/conf``); add your own with Hydra's search path
(``hydra.searchpath=[file:///path/to/conf]``).
"""

import logging
import os
import secrets
import signal
import sys
import warnings
from dataclasses import asdict
from importlib.resources import files
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ganlab.errors import ConfigError, GanlabError
from ganlab.tasks import TASKS, task_runner
from ganlab.threads import threads_per_process, usable_cpus

# torch, Lightning and the methods are imported where they are first needed, after the
# config has composed and passed its checks: a mistyped command ends in a second, not after
# the ~5 s those imports take

CONFIG_DIR = str(files("ganlab.conf"))
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


def hub_file(name: str) -> str:
    """A file in torch's hub cache, where pretrained weights live."""
    from ganlab.features.weights import hub_checkpoint_dir

    return str(hub_checkpoint_dir() / name)


OmegaConf.register_new_resolver("ganlab_hub", hub_file, replace=True)
# the EMA copy of the generator is in eval mode on purpose
warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")
warnings.filterwarnings("ignore", message=".*`val_dataloader` but have no `validation_step`.*")
warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")
# checkpoints hold the weights after the step, which is what resuming needs
warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization.*")
# a resumed run writes into its own new run dir, and ganlab's samplers resume mid-epoch
warnings.filterwarnings("ignore", message="The dirpath has changed from.*")
warnings.filterwarnings("ignore", message=".*your dataloader is not resumable.*")
# lpips builds its torchvision backbone with the deprecated flag; ganlab loads the weights
warnings.filterwarnings("ignore", message="The parameter 'pretrained' is deprecated.*")
warnings.filterwarnings("ignore", message="Arguments other than a weight enum.*")


class LightningChatter(logging.Filter):
    """Drops Lightning's console lines a user cannot act on: its advertising tip, "no GPU /
    TPU here" on a CPU run, and the note that fit stopped at max_steps (ganlab says when a run
    is done). GPU lines of a GPU run stay."""

    DROPPED = ("💡 Tip", "GPU available: False", "TPU available: False", "`Trainer.fit` stopped")

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.DROPPED)


logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(LightningChatter())


def lightning_logs_to_stderr() -> None:
    """What Lightning does when it is imported before any logging is set up: its loggers
    print on stderr themselves and do not pass their lines on. The command line imports
    Lightning after Hydra has set up logging, where Lightning would instead send its lines
    through Hydra's handlers (reformatted, onto stdout and into the run's log)."""
    for name in ("lightning_fabric", "pytorch_lightning"):
        logger = logging.getLogger(name)
        if not logger.handlers:
            logger.setLevel(logging.INFO)
            logger.addHandler(logging.StreamHandler())
            logger.propagate = False


def run_task(cfg: DictConfig) -> float | None:
    """Do ``cfg.task`` in ``cfg.output_dir``; returns the sweep objective (if any)."""
    check_config(cfg)
    set_compute_threads(cfg)
    import pytorch_lightning as pl

    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    return task_runner(cfg.task)(cfg)


def set_compute_threads(cfg: DictConfig) -> int:
    """torch's intra-op threads for this process (``ganlab.threads``), said in the run's first
    lines: ``trainer.threads`` when set, else ``OMP_NUM_THREADS`` when the user set it, else
    the CPUs this process may use shared among the processes of this node."""
    import torch

    requested = (cfg.get("trainer") or {}).get("threads")
    if requested is not None:
        threads, why = int(requested), f"trainer.threads={requested}"
    elif os.environ.get("OMP_NUM_THREADS"):
        threads, why = torch.get_num_threads(), f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}"
    else:
        cpus, processes = node_cpus_and_processes(cfg)
        threads = threads_per_process(cpus, processes)
        why = f"{cpus} usable CPU(s), {processes} process(es) on this node"
    torch.set_num_threads(threads)
    if int(os.environ.get("RANK") or os.environ.get("LOCAL_RANK") or 0) == 0:
        print(f"ganlab: {threads} compute thread(s) per process ({why})")
    return threads


def node_cpus_and_processes(cfg: DictConfig) -> tuple[int, int]:
    """(CPUs, processes) to share them among: SLURM gives each task its own CPUs; torchrun
    says how many processes share the node; a fit's trainer asks for devices per node."""
    from lightning_fabric.plugins.environments import SLURMEnvironment

    if os.environ.get("SLURM_CPUS_PER_TASK") and SLURMEnvironment.detect():
        return min(int(os.environ["SLURM_CPUS_PER_TASK"]), usable_cpus()), 1
    if os.environ.get("LOCAL_WORLD_SIZE"):
        return usable_cpus(), int(os.environ["LOCAL_WORLD_SIZE"])
    if cfg.task == "fit" and cfg.get("trainer"):
        nodes = int(cfg.trainer.get("num_nodes") or 1)
        return usable_cpus(), max(1, process_count(cfg.trainer) // nodes)
    return usable_cpus(), 1


def check_config(cfg: DictConfig) -> None:
    if cfg.task not in TASKS:
        raise ConfigError(f"task={cfg.task} is not a task; valid tasks: {', '.join(TASKS)}")
    check_required_files(cfg)
    missing = missing_values(OmegaConf.to_container(cfg, resolve=False))
    if missing:
        raise ConfigError(
            f"missing required value(s): {', '.join(missing)}; set them on the command line, "
            f"e.g. {missing[0]}=..."
        )
    problems = out_of_range(cfg)
    if problems:
        raise ConfigError("value(s) out of range: " + "; ".join(problems))
    check_tricks(cfg)
    if cfg.get("init_from") and cfg.get("ckpt_path"):
        raise ConfigError(
            "init_from= (start from weights only) and ckpt_path= (resume the full state) "
            "exclude each other"
        )
    processes = process_count(cfg.trainer)
    if processes > 1 and is_multirun() and not processes_started_externally():
        raise ConfigError(
            f"a sweep member with {processes} DDP processes needs them started by the cluster: "
            "add hydra/launcher=slurm (see slurm/README.md). Here Lightning would re-launch "
            "this command, and with it the whole sweep, once per extra process"
        )


def out_of_range(cfg: DictConfig) -> list[str]:
    """``key=value (the rule)`` for each count or learning rate outside its domain; checked
    before anything is built, so a typo costs no data loading and leaves no outputs."""
    counts = [("eval.n_samples", 2)]
    if cfg.task == "fit":
        counts += [("steps", 1), ("data.batch_size", 1)]
    if cfg.task in ("invert", "edit", "translate", "train_direction", "upsample"):
        counts.append(("batch_size", 1))
    problems = []
    for key, least in counts:
        value = OmegaConf.select(cfg, key, default=None)
        if value is not None and (not isinstance(value, int) or value < least):
            problems.append(f"{key}={value} (an integer >= {least})")
    if cfg.task == "fit" and cfg.get("model") is not None:
        model = OmegaConf.to_container(cfg.model, resolve=True)
        for key, value in learning_rates(model, "model."):
            if not isinstance(value, int | float) or value <= 0:
                problems.append(f"{key}={value} (a learning rate > 0)")
    return problems


def check_tricks(cfg: DictConfig) -> None:
    """Switched-on ``tricks.*`` need a model that takes them (the GAN family's ``tricks:``)."""
    tricks, model = cfg.get("tricks"), cfg.get("model")
    if tricks is None or model is None or cfg.task != "fit":
        return
    from ganlab.methods.noise.two_player import TRICK_SWITCHES, Tricks

    defaults = OmegaConf.create(asdict(Tricks()))
    switched = [k for k in TRICK_SWITCHES if tricks.get(k) != defaults.get(k)]
    if switched and "tricks" not in model:
        raise ConfigError(
            f"tricks.{', tricks.'.join(switched)} apply to the GAN-family models (gan, wgan, "
            f"fgan, infogan, cgan, bigan, ibgan, icgan); {model.get('_target_')} takes no tricks"
        )


def learning_rates(node: Any, prefix: str) -> list[tuple[str, Any]]:
    """(dotted key, value) of every ``lr`` in a config tree."""
    if isinstance(node, dict):
        found = [(f"{prefix}lr", node["lr"])] if "lr" in node else []
        for key, value in node.items():
            found += learning_rates(value, f"{prefix}{key}.")
        return found
    return []


def required_for(entry: DictConfig, task: str) -> bool:
    """Whether a ``required_files`` entry applies to ``task``: those with ``tasks: [...]``
    only to the tasks named there (LPIPS-VGG only to the inverting tasks, say), the others
    to every task."""
    return entry.get("tasks") is None or task in entry.tasks


def check_required_files(cfg: DictConfig) -> None:
    """An experiment's ``required_files`` (data, pretrained weights) that the task needs must
    all exist: else one message lists every missing one, where it is looked for and where it
    comes from."""
    if not cfg.get("required_files"):
        return
    missing = [
        entry
        for entry in cfg.required_files
        if required_for(entry, cfg.task) and not Path(str(entry.path)).expanduser().exists()
    ]
    if not missing:
        return
    lines = [
        f"  - {entry.what}: {Path(str(entry.path)).expanduser()} (set: {entry.set}; from: "
        f"{entry.source})"
        for entry in missing
    ]
    raise ConfigError(
        f"{cfg.name or 'this run'} needs {len(missing)} file(s) that are not on this machine "
        "(ganlab never downloads them):\n" + "\n".join(lines)
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
    from lightning_fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

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


_job_started = False


def user_message(error: Exception) -> str:
    """A ganlab error raised inside a constructor that Hydra called, without Hydra's wrapper."""
    if isinstance(error, InstantiationException) and isinstance(error.__cause__, GanlabError):
        return str(error.__cause__)
    return str(error)


@hydra.main(version_base="1.3", config_path="pkg://ganlab.conf", config_name="config")
def hydra_main(cfg: DictConfig) -> float | None:
    global _job_started
    _job_started = True
    lightning_logs_to_stderr()
    import torch

    torch.set_float32_matmul_precision("high")
    return run_reporting_errors(cfg)


def run_reporting_errors(cfg: DictConfig) -> float | None:
    """``run_task``; a mistake in the input (config, checkpoint, data, images) ends with one
    message on stderr and exit code 2 (``HYDRA_FULL_ERROR=1``: the traceback instead)."""
    try:
        return run_task(cfg)
    except (GanlabError, OmegaConfBaseException, InstantiationException) as error:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"ganlab: error: {user_message(error)}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:  # after training (fit saves and exits itself during it)
        from ganlab.preemption import exit_code_for

        print("ganlab: interrupted (Ctrl-C)", file=sys.stderr)
        sys.exit(exit_code_for(signal.SIGINT))


def main() -> None:
    """Console entry point; a config that fails to compose exits with code 2 and one line."""
    sys.argv = [sys.argv[0], *map(group_override_of_null, sys.argv[1:])]
    try:
        hydra_main()
    except SystemExit as exit_:
        if exit_.code == 1 and not _job_started:
            sys.exit(2)
        raise


def group_override_of_null(argument: str) -> str:
    """``features=null`` (turn a group off, as the README says) -> Hydra's ``~features``;
    Hydra itself refuses null for a config group override with a traceback."""
    key, sep, value = argument.partition("=")
    if sep and value == "null" and key in NULLABLE_GROUPS:
        return f"~{key}"
    return argument


NULLABLE_GROUPS = ("features", "logger", "callbacks", "hparams_search", "experiment")


if __name__ == "__main__":
    main()
