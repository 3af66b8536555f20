"""Layers of the improved-training techniques (Salimans et al. 2016, sec. 3) and of instance
noise, which ``Tricks`` (``ganlab.methods.noise.two_player``) switches on in any GAN-family method.

- ``MinibatchDiscrimination``: the critic layer of sec. 3.2, appended to its last features.
- ``InstanceNoise``: Gaussian noise on the critic's inputs in training (std set each step).
- ``VirtualBatchNorm2d`` / ``VirtualBatchGenerator``: a generator whose BatchNorm layers
  normalise each sample with a fixed reference batch's statistics (sec. 3.4).
- ``HistoricalAverage``: the running mean of a player's past parameters (sec. 3.3).
"""

import torch
from torch import Tensor, nn

from ganlab.objectives.tricks import minibatch_closeness, virtual_batch_normalize


class MinibatchDiscrimination(nn.Module):
    """features (N, A) -> closeness (N, B): M = f T reshaped (N, B, C), then o(x_i) (sec. 3.2)."""

    def __init__(self, in_features: int, kernels: int, kernel_dim: int) -> None:
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.tensor = nn.Parameter(torch.randn(in_features, kernels * kernel_dim) * 0.02)

    def forward(self, features: Tensor) -> Tensor:
        rows = (features.flatten(1) @ self.tensor).view(-1, self.kernels, self.kernel_dim)
        return minibatch_closeness(rows)


class InstanceNoise(nn.Module):
    """x + N(0, std^2) on the first ``channels`` channels (all when None), in training only.
    ``std`` is a plain attribute the method sets each step; 0 makes the layer the identity."""

    def __init__(self, channels: int | None = None) -> None:
        super().__init__()
        self.channels, self.std = channels, 0.0

    def forward(self, image: Tensor) -> Tensor:
        if not self.training or self.std <= 0:
            return image
        noisy = image[:, : self.channels] + self.std * torch.randn_like(image[:, : self.channels])
        return torch.cat([noisy, image[:, noisy.shape[1] :]], 1)


class VirtualBatchNorm2d(nn.Module):
    """Reads a batch whose first ``reference_size`` rows are the reference batch's maps."""

    def __init__(self, num_features: int, reference_size: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.reference_size, self.eps = reference_size, eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))

    def forward(self, maps: Tensor) -> Tensor:
        reference, samples = maps[: self.reference_size], maps[self.reference_size :]
        normalised = torch.cat(virtual_batch_normalize(reference, samples, self.eps))
        return normalised * self.weight[:, None, None] + self.bias[:, None, None]


class VirtualBatchGenerator(nn.Module):
    """``generator`` with each BatchNorm2d replaced by VirtualBatchNorm2d (its affine weights
    kept). Every forward runs the fixed reference latents first, so a sample's image does not
    depend on the rest of its batch; ``set_reference`` fixes them once, at the start of fit."""

    def __init__(self, generator: nn.Module, reference_size: int = 64) -> None:
        super().__init__()
        replaced = _replace_batchnorms(generator, reference_size)
        if replaced == 0:
            raise ValueError(
                f"virtual_batchnorm replaces the generator's BatchNorm2d layers, and "
                f"{type(generator).__name__} has none (set model.generator.norm=batch)"
            )
        self.generator, self.reference_size = generator, reference_size
        self.latent_dim = generator.latent_dim
        self.register_buffer("reference_latent", torch.zeros(reference_size, self.latent_dim))
        self.register_buffer("has_reference", torch.tensor(False))

    @torch.no_grad()
    def set_reference(self, latent: Tensor) -> None:
        if latent.shape != self.reference_latent.shape:
            raise ValueError(
                f"the reference batch must be {tuple(self.reference_latent.shape)} latents, "
                f"got {tuple(latent.shape)}"
            )
        self.reference_latent.copy_(latent)
        self.has_reference.fill_(True)

    def forward(self, latent: Tensor) -> Tensor:
        if not bool(self.has_reference):
            raise RuntimeError("VirtualBatchGenerator: no reference batch yet (set_reference)")
        reference = self.reference_latent.to(latent.dtype)
        return self.generator(torch.cat([reference, latent]))[self.reference_size :]


def _replace_batchnorms(module: nn.Module, reference_size: int) -> int:
    """Swap every BatchNorm2d below ``module`` for a VBN with its affine weights; the count."""
    replaced = 0
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            virtual = VirtualBatchNorm2d(child.num_features, reference_size, child.eps)
            if child.affine:
                virtual.weight.data.copy_(child.weight.data)
                virtual.bias.data.copy_(child.bias.data)
            setattr(module, name, virtual)
            replaced += 1
        else:
            replaced += _replace_batchnorms(child, reference_size)
    return replaced


class HistoricalAverage(nn.Module):
    """Buffers holding (1/t) sum_i theta[i] for each parameter of a player, over its t values
    so far (the initial ones included); saved in checkpoints with the module."""

    def __init__(self, parameters: list[nn.Parameter]) -> None:
        super().__init__()
        self.size = len(parameters)
        for index, parameter in enumerate(parameters):
            self.register_buffer(f"average_{index}", parameter.detach().clone())
        self.register_buffer("count", torch.tensor(1, dtype=torch.long))

    @property
    def averages(self) -> list[Tensor]:
        return [getattr(self, f"average_{index}") for index in range(self.size)]

    @torch.no_grad()
    def update(self, parameters: list[nn.Parameter]) -> None:
        self.count += 1
        for average, parameter in zip(self.averages, parameters, strict=True):
            average.lerp_(parameter.detach(), 1.0 / float(self.count))
