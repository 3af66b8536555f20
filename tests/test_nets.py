import pytest
import torch
from torch import nn

from ganlab.nets.dcgan import DCGANDiscriminator, DCGANGenerator


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes_and_range(size, channels):
    generator = DCGANGenerator(latent_dim=16, size=size, channels=channels, width=8)
    critic = DCGANDiscriminator(size=size, channels=channels, width=8, norm="layer")
    images = generator(torch.randn(5, 16))
    assert images.shape == (5, channels, size, size)
    assert images.abs().max() <= 1.0
    assert critic(images).shape == (5,)


@pytest.mark.parametrize(
    "norm, layer",
    [("batch", nn.BatchNorm2d), ("instance", nn.InstanceNorm2d), ("layer", nn.GroupNorm)],
)
def test_norm_is_configurable(norm, layer):
    critic = DCGANDiscriminator(size=32, width=8, norm=norm)
    assert any(isinstance(m, layer) for m in critic.modules())
    plain = DCGANDiscriminator(size=32, width=8, norm="none")
    assert not any(
        isinstance(m, nn.BatchNorm2d | nn.GroupNorm | nn.InstanceNorm2d) for m in plain.modules()
    )


def test_bad_size_and_norm_are_rejected():
    with pytest.raises(ValueError, match="power-of-two image size >= 16, got 48"):
        DCGANGenerator(size=48)
    with pytest.raises(ValueError, match="unknown normalisation 'spectral'"):
        DCGANDiscriminator(norm="spectral")
