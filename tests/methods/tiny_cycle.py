"""A CycleGAN-shaped method written on the engine alone, as a method file should read: two
generators, two discriminators, an image pool per domain, EMA on both generators, and a
discriminator phase that reuses the generator phase's fakes through the step context."""

from functools import partial

import torch
from torch import Tensor, nn

from ganlab.evaluation import Translation
from ganlab.methods.base import AdversarialModule, Phase, Player, StepContext
from ganlab.methods.translation.image_pool import ImagePool
from ganlab.objectives.adversarial import lsgan_critic_loss, lsgan_generator_loss


def conv_net(channels: int, width: int, out: int, stride: int, last: nn.Module) -> nn.Module:
    """Conv (stride) -> LeakyReLU -> conv -> ``last``: a tiny translator or patch critic."""
    first = nn.Conv2d(channels, width, 4 if stride == 2 else 3, stride, 1)
    return nn.Sequential(first, nn.LeakyReLU(0.2), nn.Conv2d(width, out, 3, padding=1), last)


class TinyCycle(AdversarialModule):
    step_phase = "generators"
    ema_nets = ("generator_ab", "generator_ba")
    translation_kind, translation_targets = "target", ("a", "b")

    def __init__(
        self, channels: int = 3, width: int = 8, lambda_cycle: float = 10.0, lr: float = 2e-3
    ) -> None:
        translator = partial(conv_net, channels, width, channels, 1, nn.Tanh())
        critic = partial(conv_net, channels, width, 1, 2, nn.Identity())
        nets = {"generator_ab": translator(), "generator_ba": translator()}
        super().__init__(nets | {"discriminator_a": critic(), "discriminator_b": critic()}, 0.9)
        self.pool_a, self.pool_b = ImagePool(50), ImagePool(50)
        self.lambda_cycle, self.lr = lambda_cycle, lr

    def players(self) -> list[Player]:
        adam = partial(torch.optim.Adam, lr=self.lr, betas=(0.5, 0.999))
        return [
            Player("generators", ("generator_ab", "generator_ba"), adam),
            Player("discriminators", ("discriminator_a", "discriminator_b"), adam),
        ]

    def phases(self) -> list[Phase]:
        return [
            Phase("generators", "generators", self.generator_loss),
            Phase("discriminators", "discriminators", self.discriminator_loss),
        ]

    def generator_loss(self, batch: dict, ctx: StepContext) -> Tensor:
        a, b = batch["image_a"], batch["image_b"]
        fake_b, fake_a = self.generator_ab(a), self.generator_ba(b)
        ctx["fake_a"], ctx["fake_b"] = fake_a.detach(), fake_b.detach()
        fooled = lsgan_generator_loss(self.discriminator_b(fake_b))
        fooled = fooled + lsgan_generator_loss(self.discriminator_a(fake_a))
        cycle = (self.generator_ba(fake_b) - a).abs().mean()
        cycle = cycle + (self.generator_ab(fake_a) - b).abs().mean()
        terms = {"adversarial": fooled, "cycle": cycle}
        return self.weighted_sum(terms, {"cycle": self.lambda_cycle})

    def discriminator_loss(self, batch: dict, ctx: StepContext) -> Tensor:
        fake_a = self.pool_a.query(ctx["fake_a"], *self.rank_and_world)
        fake_b = self.pool_b.query(ctx["fake_b"], *self.rank_and_world)
        d_a, d_b = self.discriminator_a, self.discriminator_b
        terms = {
            "a": lsgan_critic_loss(d_a(batch["image_a"]), d_a(fake_a)),
            "b": lsgan_critic_loss(d_b(batch["image_b"]), d_b(fake_b)),
        }
        return self.weighted_sum(terms)

    @torch.no_grad()
    def translate(self, images: Tensor, target: str, seed: int | None = None) -> Tensor:
        return self.averaged("generator_ab" if target == "b" else "generator_ba")(images)

    def evaluations(self) -> list[Translation]:
        return [Translation()]
