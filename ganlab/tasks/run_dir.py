"""The run dir every task writes into: made once, holding ``config.yaml``, never overwritten;
a fit whose dir holds an interrupted run resumes it."""

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from ganlab.checkpoints import (
    PARTIAL_SUFFIX,
)
from ganlab.errors import ConfigError
from ganlab.preemption import resumable_checkpoint


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
