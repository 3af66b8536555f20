"""The evaluation report a run writes to ``metrics.json``: each figure with its protocol."""

import json
from pathlib import Path
from typing import Any

import torch

from ganlab.methods.base import AdversarialModule
from ganlab.metrics.digits import digits_scores


@torch.no_grad()
def generate(module: AdversarialModule, n: int, seed: int, batch_size: int = 250) -> torch.Tensor:
    """``n`` images from the EMA generator, latents drawn from a generator seeded with ``seed``."""
    rng = torch.Generator().manual_seed(seed)
    chunks = [
        module.sample(latent=module.sample_latent(min(batch_size, n - start), rng)).cpu()
        for start in range(0, n, batch_size)
    ]
    return torch.cat(chunks)


def evaluate(
    module: AdversarialModule, datamodule: Any, n_samples: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Sample-quality metrics for the datamodule's domain, with the protocol that produced them."""
    extra = module.extra_metrics(datamodule, n_samples, seed)
    metrics: dict[str, Any] = dict(extra["metrics"])
    protocol: dict[str, Any] = dict(extra["protocol"])
    if not module.generates_images:
        return {"metrics": metrics, "protocol": protocol}
    protocol.update(
        n_generated=n_samples,
        latent_seed=seed,
        generator=f"{module.main_net}_ema" if module.ema_net is not None else module.main_net,
    )
    if getattr(datamodule, "name", None) == "digits":
        datamodule.setup()
        metrics.update(digits_scores(generate(module, n_samples, seed)))
        real = digits_scores(datamodule.val_set.images)
        metrics.update({f"{name}_real_val": value for name, value in real.items()})
        protocol["classifier"] = (
            "logistic regression on the 1,797 sklearn digit scans, 8x8 avg-pool"
        )
        protocol["reference"] = f"digits val split ({len(datamodule.val_set)} images)"
    return {"metrics": metrics, "protocol": protocol}


def write_metrics(path: Path, report: dict[str, Any]) -> None:
    path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
