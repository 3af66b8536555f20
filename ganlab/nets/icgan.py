"""IcGAN's encoders (Perarnau et al. 2016, sec. 3.2): E_z maps an image to the cGAN's noise z,
E_y to its attribute vector y, in one of the paper's three layouts:

- ``sng``: a single encoder whose output is split into [z, y];
- ``ind``: two independent encoders;
- ``ind_cond``: two encoders, E_z reading the image together with y (as constant maps),
  which is E_y(x) at inference and the true condition when trained on generated images.

Each encoder is a DCGAN discriminator body with a 4x4 convolution to its output
(``DCGANEncoder``). ``attribute_logits(x)`` gives E_y's logits (sigmoid: the probabilities
eq. 4's squared error compares with y); ``noise(x, y)`` gives E_z's z.
"""

import torch
from torch import Tensor, nn

from ganlab.nets.conditional import label_maps
from ganlab.nets.dcgan import DCGANEncoder

LAYOUTS = ("sng", "ind", "ind_cond")


class IcGANEncoders(nn.Module):
    def __init__(
        self,
        layout: str = "ind",
        noise_dim: int = 100,
        n_attributes: int = 10,
        size: int = 64,
        channels: int = 3,
        width: int = 32,
        norm: str = "batch",
    ) -> None:
        super().__init__()
        if layout not in LAYOUTS:
            raise ValueError(f"IcGAN encoder layout must be one of {LAYOUTS}, got {layout!r}")
        self.layout, self.noise_dim, self.n_attributes = layout, noise_dim, n_attributes
        shape = dict(size=size, width=width, norm=norm)
        if layout == "sng":
            self.joint = DCGANEncoder(noise_dim + n_attributes, channels=channels, **shape)
            return
        self.attributes = DCGANEncoder(n_attributes, channels=channels, **shape)
        extra = n_attributes if layout == "ind_cond" else 0
        self.noise_encoder = DCGANEncoder(noise_dim, channels=channels + extra, **shape)

    def attribute_logits(self, image: Tensor) -> Tensor:
        """E_y(x) before the sigmoid, (B, K)."""
        if self.layout == "sng":
            return self.joint(image)[:, self.noise_dim :]
        return self.attributes(image)

    def noise(self, image: Tensor, attributes: Tensor | None = None) -> Tensor:
        """E_z(x) (or E_z(x, y) in ``ind_cond``: y the given attributes, else E_y(x)), (B, d)."""
        if self.layout == "sng":
            return self.joint(image)[:, : self.noise_dim]
        if self.layout == "ind":
            return self.noise_encoder(image)
        if attributes is None:
            attributes = torch.sigmoid(self.attribute_logits(image))
        maps = label_maps(attributes, self.n_attributes, image.shape[-2:]).to(image)
        return self.noise_encoder(torch.cat([image, maps], 1))
