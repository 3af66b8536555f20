"""Data-parallel training of alternating min-max games: each player's gradients averaged alone.

Lightning's ``ddp`` wraps the whole LightningModule in one ``DistributedDataParallel``. A GAN
step back-propagates into one player's nets only, so DDP's reducer waits for gradients of
the other player's parameters and fails ("parameters that were not used in producing the
loss"); ``find_unused_parameters=True`` hides that with an extra graph traversal per
backward. ganlab's strategy wraps nothing. Every process starts from rank 0's weights; during
each phase's backward a ``GradientAverager`` all-reduces exactly the gradients of the player
that steps, in buckets sent while backward still runs; after each training step rank 0's
buffers (BatchNorm statistics) are copied to the others. Each player is synchronised
separately, the way stylegan2-ada and mmagic wrap G and D in separate DDP wrappers, and a
gradient can never be skipped silently: ``AdversarialModule`` refuses to step on several
processes when neither this strategy nor a DDP wrapper averages its gradients.

The global batch is ``devices x num_nodes x data.batch_size``. The strategy shards each
training loader's own seeded order (``ShardedSampler``; Lightning's distributed sampler is off,
``use_distributed_sampler: false``, since it reshuffles): process r reads positions r, r + W,
r + 2W, ... of every global batch (W processes). Per-sample random draws (latents,
gradient-penalty mixing weights) follow the same rule (``AdversarialModule.draw_per_sample``),
so W processes with batch B compute the step one process computes with batch W x B.
"""

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
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


def split_into_buckets(
    params: Sequence[nn.Parameter], first_bytes: int, bytes_each: int
) -> list[list[nn.Parameter]]:
    """Consecutive runs of ``params`` of one dtype and at most ``first_bytes`` (the first
    run) or ``bytes_each`` (the others), each holding at least one parameter."""
    buckets: list[list[nn.Parameter]] = []
    size = 0  # bytes in buckets[-1]
    for param in params:
        cap = first_bytes if len(buckets) <= 1 else bytes_each  # the cap of buckets[-1]
        param_bytes = param.numel() * param.element_size()
        if buckets and buckets[-1][0].dtype == param.dtype and size + param_bytes <= cap:
            buckets[-1].append(param)
            size += param_bytes
        else:
            buckets.append([param])
            size = param_bytes
    return buckets


class GradientAverager:
    """Averages one player's gradients over all processes while its backward pass still runs
    (the overlap DDP's reducer gives), with no module wrapper.

    The parameters are split into buckets in reverse order, roughly the order backward
    produces their gradients. While armed (``with averager:`` around the backward), a hook
    counts each gradient as autograd accumulates it; when the next bucket in line is
    complete, its flattened gradients go out in an asynchronous all-reduce. Buckets go out
    in the same order on every process, so the collectives pair up whatever order the
    gradients arrive in. On leaving, the rest are sent (a gradient this process did not
    produce counts as zero, so processes whose graphs differ cannot fall out of step), all
    are awaited and each parameter's gradient becomes the mean.
    """

    def __init__(
        self,
        params: Sequence[nn.Parameter],
        world_size: int,
        first_bucket_bytes: int = 2**20,
        bucket_bytes: int = 25 * 2**20,
    ) -> None:
        self.world_size = world_size
        self.buckets = split_into_buckets(params[::-1], first_bucket_bytes, bucket_bytes)
        self._bucket_of = {param: i for i, bucket in enumerate(self.buckets) for param in bucket}
        self._armed = False
        self._hooks = [p.register_post_accumulate_grad_hook(self._on_gradient) for p in params]

    def __enter__(self) -> "GradientAverager":
        self._waiting = [len(bucket) for bucket in self.buckets]
        self._next = 0  # the bucket to send next
        self._sent: list[tuple[int, Tensor, Any]] = []
        self._armed = True
        return self

    def __exit__(self, exc_type: Any, *exc_info: Any) -> None:
        self._armed = False
        if exc_type is not None:
            return  # the backward failed: the process stops, its collectives do not matter
        while self._next < len(self.buckets):
            self._send_next()
        for index, flat, work in self._sent:
            work.wait()
            flat /= self.world_size
            bucket = self.buckets[index]
            for param, mean in zip(bucket, _unflatten_dense_tensors(flat, bucket), strict=True):
                param.grad = mean

    def _on_gradient(self, param: nn.Parameter) -> None:
        if not self._armed:
            return
        index = self._bucket_of[param]
        if index < self._next:
            raise RuntimeError(
                "a gradient was accumulated twice in one averaged backward pass; a phase must "
                "call manual_backward once"
            )
        self._waiting[index] -= 1
        while self._next < len(self.buckets) and self._waiting[self._next] == 0:
            self._send_next()

    def _send_next(self) -> None:
        bucket = self.buckets[self._next]
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in bucket]
        flat = _flatten_dense_tensors(grads)
        self._sent.append((self._next, flat, dist.all_reduce(flat, async_op=True)))
        self._next += 1

    def remove(self) -> None:
        for hook in self._hooks:
            hook.remove()


@torch.no_grad()
def broadcast_tensors(tensors: Sequence[Tensor], src: int = 0) -> None:
    """Copy rank ``src``'s values of ``tensors`` (parameters, running statistics) to every
    process: one broadcast per dtype of a flattened copy (dozens of tiny collectives cost
    more than the gradient all-reduce)."""
    by_dtype: dict[torch.dtype, list[Tensor]] = {}
    for tensor in tensors:
        by_dtype.setdefault(tensor.dtype, []).append(tensor)
    for group in by_dtype.values():
        flat = _flatten_dense_tensors(group)
        dist.broadcast(flat, src)
        for tensor, value in zip(group, _unflatten_dense_tensors(flat, group), strict=True):
            tensor.copy_(value)


def replicated_state(module: nn.Module) -> tuple[list[Tensor], list[Tensor]]:
    """(parameters, buffers) every process must hold alike: a ganlab method leaves its frozen
    nets out (each process loads them from the same file); any other module gives all."""
    parameters = getattr(module, "synchronized_parameters", module.parameters)
    buffers = getattr(module, "synchronized_buffers", module.buffers)
    return list(parameters()), list(buffers())


class PlayerDDPStrategy(DDPStrategy):
    """DDP without a module wrapper: the module reduces each player's gradients itself.

    Takes DDPStrategy's arguments (``process_group_backend``, ``timeout``, ``start_method``,
    the cluster environment); processes started by SLURM or torchrun are used as they are.
    Gradients are all-reduced in buckets of ``bucket_cap_mb`` (the first ``first_bucket_mb``)
    while backward runs, as DDP's reducer does.
    """

    strategy_name = "ganlab_ddp"

    def __init__(
        self, *args: Any, bucket_cap_mb: float = 25.0, first_bucket_mb: float = 1.0, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.bucket_cap_mb, self.first_bucket_mb = bucket_cap_mb, first_bucket_mb
        self._averagers: dict[str, GradientAverager] = {}

    def configure_ddp(self) -> None:
        if self.world_size > 1:  # every process starts from rank 0's weights
            parameters, buffers = replicated_state(self.model)
            broadcast_tensors([p.data for p in parameters] + buffers)

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

    def prepare_players(self, player_params: dict[str, list[nn.Parameter]]) -> None:
        """Set up the gradient averaging of each player (at the start of fit)."""
        for averager in self._averagers.values():
            averager.remove()
        self._averagers = {}
        if self.world_size == 1:
            return
        first, each = (int(mb * 2**20) for mb in (self.first_bucket_mb, self.bucket_cap_mb))
        self._averagers = {
            name: GradientAverager(params, self.world_size, first, each)
            for name, params in player_params.items()
        }

    def averaging_gradients(self, player: str) -> AbstractContextManager:
        """Around a backward pass of ``player``: its gradients come out averaged."""
        return self._averagers.get(player) or nullcontext()

    def synchronize_buffers(self, buffers: Sequence[Tensor]) -> None:
        """After a training step: share rank 0's ``buffers`` of the trained nets (each forward
        pass in training mode moves the BatchNorm statistics of the nets it runs, stepping or
        not). Once per batch, not per phase: running statistics are read in eval mode only,
        after the step, and a buffer a phase reads (a running mean) it has updated itself."""
        if self.world_size > 1:
            broadcast_tensors(buffers)


class ReplicaMismatchError(RuntimeError):
    """Processes of one DDP run ended with different weights."""


def state_fingerprint(module: nn.Module) -> Tensor:
    """Per-tensor sums and sums of squares of the replicated state (parameters and buffers,
    frozen nets left out), in float64 (2 x N)."""
    parameters, buffers = replicated_state(module)
    tensors = [t.detach().double() for t in [*parameters, *buffers] if t.is_floating_point()]
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


def trainer_rank_and_world(module: pl.LightningModule) -> tuple[int, int]:
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


def leave_process_group() -> None:
    """End this process's part in a DDP run once training is over: the processes meet, then
    each tears its Gloo/NCCL group down itself. A group left to the interpreter's exit can
    abort the process ("terminate called without an active exception") while rank 0 still
    evaluates."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
