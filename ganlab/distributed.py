"""Data-parallel training of alternating min-max games: one gradient all-reduce per player step.

Lightning's ``ddp`` wraps the whole LightningModule in one ``DistributedDataParallel``. A GAN
step back-propagates into one player's nets only, so DDP's reducer waits for gradients of
the other player's parameters and fails ("parameters that were not used in producing the
loss"); ``find_unused_parameters=True`` hides that with an extra graph traversal per
backward. ganlab's strategy wraps nothing. Every process starts from rank 0's weights, and
after each phase's backward the module asks the strategy to average exactly the gradients
of the player that steps, in one flattened all-reduce, and to copy rank 0's buffers (BatchNorm
statistics) to the others. Each net is synchronised separately, the
way stylegan2-ada and mmagic wrap G and D in separate DDP wrappers, and a gradient can never
be skipped silently: ``AdversarialModule`` refuses to step on several processes when neither
this strategy nor a DDP wrapper averages its gradients.

The global batch is ``devices x num_nodes x data.batch_size``. The strategy shards each
training loader's own seeded order (``ShardedSampler``; Lightning's distributed sampler is off,
``use_distributed_sampler: false``, since it reshuffles): process r reads positions r, r + W,
r + 2W, ... of every global batch (W processes). Per-sample random draws (latents,
gradient-penalty mixing weights) follow the same rule (``AdversarialModule.draw_per_sample``),
so W processes with batch B compute the step one process computes with batch W x B.
"""

from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl
import torch
import torch.distributed as dist
from pytorch_lightning.strategies import DDPStrategy
from pytorch_lightning.utilities.data import _update_dataloader
from torch import Tensor, nn
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors
from torch.utils.data import DataLoader

from ganlab.data.samplers import ShardedSampler


def average_gradients(params: Sequence[nn.Parameter], world_size: int) -> None:
    """Replace each parameter's gradient by its mean over all processes, in one all-reduce.

    A parameter without a gradient counts as a zero gradient on that process (and gets the
    averaged one), so processes whose graphs differ cannot fall out of step.
    """
    if world_size == 1 or not params:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= world_size
    for param, averaged in zip(params, _unflatten_dense_tensors(flat, grads), strict=True):
        param.grad = averaged


@torch.no_grad()
def broadcast_buffers(module: nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s buffers (running statistics) of ``module`` to every process:
    one broadcast per dtype of a flattened copy (dozens of tiny collectives cost more than
    the gradient all-reduce)."""
    by_dtype: dict[torch.dtype, list[Tensor]] = {}
    for buffer in module.buffers():
        by_dtype.setdefault(buffer.dtype, []).append(buffer)
    for buffers in by_dtype.values():
        flat = _flatten_dense_tensors(buffers)
        dist.broadcast(flat, src)
        for buffer, value in zip(buffers, _unflatten_dense_tensors(flat, buffers), strict=True):
            buffer.copy_(value)


@torch.no_grad()
def broadcast_module(module: nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s parameters and buffers of ``module`` to every process."""
    for param in module.parameters():
        dist.broadcast(param, src)
    broadcast_buffers(module, src)


class PlayerDDPStrategy(DDPStrategy):
    """DDP without a module wrapper: the module reduces each player's gradients itself.

    Takes DDPStrategy's arguments (``process_group_backend``, ``timeout``, ``start_method``,
    the cluster environment); processes started by SLURM or torchrun are used as they are.
    """

    strategy_name = "ganlab_ddp"

    def configure_ddp(self) -> None:
        if self.world_size > 1:
            broadcast_module(self.model)  # every process starts from rank 0's weights

    def process_dataloader(self, dataloader: object) -> object:
        """Give this process its share of the loader's own (seeded, epoch-wise) order."""
        dataloader = super().process_dataloader(dataloader)
        if self.world_size == 1 or not isinstance(dataloader, DataLoader):
            return dataloader
        if isinstance(dataloader.sampler, ShardedSampler):
            return dataloader
        sharded = ShardedSampler(dataloader.sampler, self.global_rank, self.world_size)
        return _update_dataloader(dataloader, sharded)

    def on_train_end(self) -> None:
        if self.world_size > 1:
            check_replicas(self.lightning_module, self.world_size)

    def synchronize_player(self, params: Sequence[nn.Parameter], module: nn.Module) -> None:
        """After a player's backward: average its gradients and share rank 0's buffers of
        every net (a forward pass updates BatchNorm statistics of nets that do not step)."""
        if self.world_size == 1:
            return
        average_gradients(params, self.world_size)
        broadcast_buffers(module)


class ReplicaMismatchError(RuntimeError):
    """Processes of one DDP run ended with different weights."""


def state_fingerprint(module: nn.Module) -> Tensor:
    """Per-tensor sums and sums of squares of the module's state, in float64 (2 x N)."""
    tensors = [t.detach().double() for t in module.state_dict().values() if t.is_floating_point()]
    return torch.stack([torch.stack([t.sum(), t.pow(2).sum()]) for t in tensors], dim=1)


def check_replicas(module: nn.Module, world_size: int) -> float:
    """Raise unless every process holds the same weights; returns the largest difference."""
    mine = state_fingerprint(module)
    gathered = [torch.empty_like(mine) for _ in range(world_size)]
    dist.all_gather(gathered, mine)
    difference = max((other - gathered[0]).abs().max().item() for other in gathered)
    if difference != 0.0:
        raise ReplicaMismatchError(
            f"DDP processes ended with different weights (largest fingerprint difference "
            f"{difference:.3g}); a gradient or buffer was not synchronised"
        )
    return difference


def process_share(module: pl.LightningModule) -> tuple[int, int]:
    """(rank, number of processes) of the trainer running ``module``; (0, 1) without one."""
    trainer = module._trainer
    if trainer is None:
        return 0, 1
    return trainer.global_rank, trainer.world_size


def own_share(draw_global: Tensor, rank: int, world_size: int) -> Tensor:
    """This process's rows of a draw for the global batch: rows rank, rank + W, ..."""
    return draw_global[rank::world_size]


def gradients_are_averaged(trainer: pl.Trainer) -> bool:
    """Whether something averages gradients across this trainer's processes."""
    if trainer.world_size == 1:
        return True
    strategy: Any = trainer.strategy
    return isinstance(strategy, PlayerDDPStrategy) or isinstance(
        strategy.model, nn.parallel.DistributedDataParallel
    )
