"""The inversion half of an encoder into a frozen StyleGAN2 (pSp / e4e, and HFGI's
consultation branch), shared by the methods that train such an encoder (UDA-Inversion).

W+ codes w = w_avg + E0(x); without the consultation branch the reconstruction is G(w).
With it (HFGI): the coarse image x̃ = G(w), the distortion x - x̃ goes through the aligner
(``grid_align``, optional) and the consultation encoder (``residue``) into (scale, shift)
conditions fused into the ``condition_size`` block, and the reconstruction is
x̂ = G(w, conditions).

A method mixing this in holds, as its own nets and buffers (so checkpoints keep their
keys): ``generator`` (frozen), ``latent_avg``, ``encoder``, optionally ``residue`` and
``grid_align``, ``condition_size``, and the training augmentation ``warp`` (a kornia
transform or None) with its probability ``aug_rate``.
"""

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ganlab.nets.stylegan2 import fit_to_input


class EncoderInversion:
    def codes(self, images: Tensor) -> Tensor:
        """W+ codes (B, n_latent, D): the generator's mean w plus the encoder's offsets."""
        return self.latent_avg + self.encoder(images)

    def draw(self, codes: Tensor, conditions: tuple[Tensor, Tensor] | None = None) -> Tensor:
        return self.generator(
            [codes], input_is_latent=True, randomize_noise=False, conditions=conditions
        )[0]

    def latent_space(self) -> tuple[nn.Module, Tensor, Callable]:
        """The frozen generator, its mean w and this encoder (``ganlab.inversion``'s verbs:
        W+ codes and HFGI's conditions from an image)."""

        def encode(images: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor] | None]:
            with torch.no_grad():
                parts = self.invert_parts(images.to(self.device, self.dtype))
            return parts["codes"], parts.get("conditions")

        return self.generator, self.latent_avg, encode

    def invert_parts(self, images: Tensor) -> dict[str, Tensor]:
        """``codes``, the reconstruction ``image`` and, with HFGI's branch, the ``coarse``
        image, its ``distortion``, the ``aligned`` distortion and the generator
        ``conditions`` made of it."""
        codes = self.codes(images)
        if "residue" not in self.net_names:
            return {"codes": codes, "image": fit_to_input(self.draw(codes), images)}
        draw_after_shared_blocks = self.drawing_below_the_fusion(codes)
        coarse = draw_after_shared_blocks(None)
        coarse_image = fit_to_input(coarse.clamp(-1, 1), images, mode="bilinear")
        distortion = (images - coarse_image).detach()
        parts = {"codes": codes, "coarse": coarse, "distortion": distortion}
        consulted = distortion
        if "grid_align" in self.net_names:
            warped = self.warped(distortion)
            consulted = parts["aligned"] = self.grid_align(torch.cat([warped, coarse_image], 1))
        conditions = self.residue(consulted)
        image = fit_to_input(draw_after_shared_blocks(conditions), images)
        return parts | {"conditions": conditions, "image": image}

    def drawing_below_the_fusion(self, codes: Tensor) -> Callable[[Any], Tensor]:
        """``conditions -> draw(codes, conditions)`` that runs the blocks below the fusion
        block once for both of HFGI's draws (coarse, then with conditions): they never see
        the conditions, so the two images are those of two full draws."""
        generator, noise = self.generator, self.generator.fixed_noise()
        block = int(math.log2(self.condition_size)) - 3  # the block below the fused one
        rows = generator.head_rows(block)
        features, skip = generator.synthesis_head(codes[:, :rows], block, noise)
        return lambda conditions: generator.synthesis_tail(
            features, skip, codes[:, rows:], block, noise, conditions
        )

    def warped(self, distortion: Tensor) -> Tensor:
        """HFGI's training augmentation: a random perspective warp of the distortion map with
        probability ``aug_rate`` (one warp for the whole batch, as there)."""
        if self.warp is None or not self.training or torch.rand(()).item() >= self.aug_rate:
            return distortion
        return self.warp(distortion)

    @torch.no_grad()
    def invert(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """(W+ codes, reconstructions) of (B, C, H, W) images in [-1, 1], in eval mode."""
        was_training = self.training
        self.eval()
        parts = self.invert_parts(images.to(self.device, self.dtype))
        self.train(was_training)
        return parts["codes"], parts["image"]

    def reconstruct(self, images: Tensor) -> Tensor:
        return self.invert(images)[1]

    @torch.no_grad()
    def decode(self, codes: Tensor) -> Tensor:
        """Images of W+ codes alone (no consultation conditions: those come from an image)."""
        return self.draw(codes.to(self.device, self.dtype))
