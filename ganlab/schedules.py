"""Learning-rate schedules the method configs name (``generator_scheduler:`` etc.), as Hydra
partials that take the optimizer. Each is stepped after every step of its player."""

import torch


def linear_decay(
    optimizer: torch.optim.Optimizer, total_steps: int, decay_fraction: float = 0.5
) -> torch.optim.lr_scheduler.LambdaLR:
    """The initial rate for the first ``1 - decay_fraction`` of ``total_steps``, then
    linearly towards 0 over the rest (CycleGAN's ``linear`` policy: 100 epochs constant,
    100 decaying)."""
    if not 0.0 <= decay_fraction <= 1.0:
        raise ValueError(f"decay_fraction must be in [0, 1], got {decay_fraction}")
    decay_steps = round(total_steps * decay_fraction)
    constant = total_steps - decay_steps

    def factor(step: int) -> float:
        return 1.0 - max(0, step - constant) / (decay_steps + 1)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
