"""A history of generated images for the discriminator (Shrivastava et al. 2017, Sec. 2.3;
CycleGAN keeps 50): each new fake is returned as it is, or, once the pool is full, with
probability 1/2 swapped for a stored one, which it replaces.

Under DDP the pool acts on the global batch: the processes gather their fakes in global
order, run the same draws on the same pool (their RNGs are seeded alike) and keep their own
rows, so W processes with batch B compute what one process with batch W x B computes. The
stored images are saved with the module (``get_extra_state``), so a resumed run continues
with the same history.
"""

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from ganlab.distributed import own_share


def global_batch(images: Tensor, world_size: int) -> Tensor:
    """The fakes of all processes in global order (row i from process i mod W)."""
    gathered = [torch.empty_like(images) for _ in range(world_size)]
    dist.all_gather(gathered, images.contiguous())
    return torch.stack(gathered, dim=1).flatten(0, 1)


class ImagePool(nn.Module):
    def __init__(self, size: int = 50) -> None:
        super().__init__()
        if size < 0:
            raise ValueError(f"the image pool size must be >= 0, got {size}")
        self.size = size
        self.images: Tensor | None = None  # (stored, C, H, W)

    @torch.no_grad()
    def query(self, images: Tensor, rank: int = 0, world_size: int = 1) -> Tensor:
        """The images the discriminator sees for this process's (B, C, H, W) ``images``."""
        if self.size == 0:
            return images.detach()
        batch = images.detach() if world_size == 1 else global_batch(images.detach(), world_size)
        if self.images is not None and self.images.device != batch.device:
            self.images = self.images.to(batch.device)  # restored from a checkpoint on the CPU
        swap = torch.rand(len(batch)) < 0.5
        slots = torch.randint(self.size, (len(batch),))
        shown = batch.clone()
        for i, image in enumerate(batch):
            stored = 0 if self.images is None else len(self.images)
            if stored < self.size:
                self.images = (
                    image[None] if self.images is None else torch.cat([self.images, image[None]])
                )
            elif swap[i]:
                shown[i] = self.images[slots[i]]
                self.images[slots[i]] = image
        return shown if world_size == 1 else own_share(shown, rank, world_size)

    def get_extra_state(self) -> dict[str, Any]:
        return {"images": self.images if self.images is not None else torch.empty(0)}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        images = state["images"]
        self.images = images if images.numel() else None
