"""An encoder trained against a frozen StyleGAN2, for the engine's and the tasks' tests: a
small CNN maps an image to W+ codes around the generator's mean w, and learns to reconstruct
real images through the frozen generator (L2). It inverts and decodes, so task=invert and
task=edit run with it; the generator is declared frozen from its file."""

from functools import partial

import torch
from torch import Tensor, nn

from ganlab.evaluation import Reconstruction
from ganlab.methods.base import AdversarialModule, Frozen, Phase, Player, StepContext
from ganlab.nets.stylegan2 import load_stylegan2


class LatentEncoder(AdversarialModule):
    step_phase = "encoder"
    ema_nets = ("encoder",)

    def __init__(self, generator_path: str, width: int = 16, lr: float = 1e-3) -> None:
        generator, latent_avg = load_stylegan2(generator_path)
        generator.use_grouped_conv(False)
        n_latent, style_dim = generator.n_latent, generator.style_dim
        encoder = nn.Sequential(
            nn.Conv2d(3, width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(width, n_latent * style_dim),
            nn.Unflatten(1, (n_latent, style_dim)),
        )
        super().__init__(
            {"encoder": encoder},
            0.9,
            frozen={"generator": Frozen.from_file(generator, generator_path)},
        )
        self.register_buffer("latent_avg", latent_avg)
        self.lr = lr

    def players(self) -> list[Player]:
        return [Player("encoder", ("encoder",), partial(torch.optim.Adam, lr=self.lr))]

    def phases(self) -> list[Phase]:
        return [Phase("encoder", "encoder", self.reconstruction_loss)]

    def reconstruction_loss(self, batch: dict, ctx: StepContext) -> Tensor:
        images = batch["image"]
        codes = self.encoder(images) + self.latent_avg
        return self.weighted_sum({"l2": (self.decode(codes) - images).pow(2).mean()})

    def decode(self, codes: Tensor) -> Tensor:
        return self.generator([codes], input_is_latent=True, randomize_noise=False)[0]

    @torch.no_grad()
    def invert(self, images: Tensor) -> tuple[Tensor, Tensor]:
        codes = self.averaged("encoder")(images) + self.latent_avg
        return codes, self.decode(codes)

    def reconstruct(self, images: Tensor) -> Tensor:
        return self.invert(images)[1]

    def evaluations(self) -> list[Reconstruction]:
        return [Reconstruction()]
