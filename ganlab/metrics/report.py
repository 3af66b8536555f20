"""The evaluation report a run writes to ``metrics.json``: each figure with its protocol."""

import json
from pathlib import Path
from typing import Any

from ganlab.methods.base import AdversarialModule
from ganlab.metrics.digits import digits_scores
from ganlab.metrics.evaluation import Evaluator, generate


def evaluate(
    module: AdversarialModule,
    datamodule: Any,
    n_samples: int = 1000,
    seed: int = 0,
    evaluator: Evaluator | None = None,
) -> dict[str, Any]:
    """Sample-quality metrics for the datamodule's domain, with the protocol that produced them.

    ``evaluator`` adds FID/KID with its extractor; digits runs also get the digits score.
    """
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
    images = generate(module, n_samples, seed)
    if evaluator is not None:
        scores, score_protocol = evaluator.score_generator(module, n_samples, seed, images)
        metrics.update(scores)
        protocol.update(score_protocol)
    if getattr(datamodule, "name", None) == "digits":
        datamodule.setup()
        metrics.update(digits_scores(images))
        real = digits_scores(datamodule.val_set.images)
        metrics.update({f"{name}_real_val": value for name, value in real.items()})
        protocol["digits_score"] = {
            "classifier": "logistic regression on the 1,797 sklearn digit scans, 8x8 avg-pool",
            "reference": f"digits val split ({len(datamodule.val_set)} images)",
        }
    return {"metrics": metrics, "protocol": protocol}


def write_metrics(path: Path, report: dict[str, Any]) -> None:
    path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
