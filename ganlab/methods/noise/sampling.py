"""Sampling from noise: what methods whose generator maps a latent code to an image share
(GAN, WGAN, f-GAN, InfoGAN, StyleGAN2).

``sample_latent`` draws N(0, I) codes of the generator's ``latent_dim`` (seeded draws for
evaluation and previews; per-sample draws in training, see ``draw_per_sample``); ``sample``
runs the EMA generator (the live one without EMA) in eval mode; ``generate`` is the call a
method with another generator signature (StyleGAN2's list of styles) overrides. The
evaluation is :class:`~ganlab.evaluation.Generation`: FID/KID of samples and a grid of them.
"""

from typing import Any

import torch
from torch import Tensor, nn

from ganlab.evaluation import Generation


class NoiseSampling:
    """A mixin for :class:`~ganlab.methods.base.AdversarialModule` subclasses."""

    sampled_net = "generator"

    def sample_latent(self: Any, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Latent codes for ``n`` samples: N(0, I) of the generator's ``latent_dim``."""
        latent_dim = self.get_submodule(self.sampled_net).latent_dim
        if generator is not None:  # seeded draws (evaluation, sample grids) are on the CPU
            return torch.randn(n, latent_dim, generator=generator).to(self.device, self.dtype)
        return self.draw_per_sample(
            lambda m: torch.randn(m, latent_dim, device=self.device, dtype=self.dtype), n
        )

    @property
    def sampled_by(self: Any) -> str:
        """Which net ``sample`` runs (metrics.json records it)."""
        return f"{self.sampled_net}_ema" if self.sampled_net in self.ema_names else self.sampled_net

    @torch.no_grad()
    def sample(self: Any, n: int | None = None, latent: Tensor | None = None) -> Tensor:
        """Float32 images from the EMA generator (or the live one without EMA), in eval mode,
        in [-1, 1]."""
        if latent is None:
            if n is None:
                raise ValueError("sample needs n or latent")
            latent = self.sample_latent(n)
        net = self.averaged(self.sampled_net)
        was_training = net.training
        net.eval()
        latent = latent.to(self.device, self.dtype) if latent.is_floating_point() else latent
        images = self.generate(net, latent.to(self.device))
        net.train(was_training)
        return images.float()  # float32 for grids and feature nets, also under precision=64

    def generate(self, net: nn.Module, latent: Tensor) -> Tensor:
        """Images from ``net`` (the generator or its EMA copy) for ``latent``."""
        return net(latent)

    def evaluations(self) -> list[Generation]:
        return [Generation()]
