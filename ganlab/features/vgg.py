"""torchvision VGG16/VGG19 ImageNet features, for perceptual losses and correspondence.

``maps(x)`` returns the relu1_2 ... relu5_x activations (spatial); ``forward(x)`` their
spatial means concatenated, (B, 64+128+256+512+512 = 1472).
"""

import torch
import torchvision
from torch import Tensor

from ganlab.features.base import FeatureExtractor, imagenet_normalize
from ganlab.features.lpips_net import imagenet_backbone

# indices in `vgg.features` of relu1_2, relu2_2, relu3_3/3_4, relu4_3/4_4, relu5_3/5_4
RELU_LAYERS = {16: (3, 8, 15, 22, 29), 19: (3, 8, 17, 26, 35)}
WEIGHTS = {
    16: torchvision.models.VGG16_Weights.IMAGENET1K_V1,
    19: torchvision.models.VGG19_Weights.IMAGENET1K_V1,
}


class VGGFeatures(FeatureExtractor):
    num_features = 1472

    def __init__(self, depth: int = 19, weights_path: str | None = None) -> None:
        super().__init__()
        if depth not in RELU_LAYERS:
            raise ValueError(f"VGG depth {depth} is not one of {sorted(RELU_LAYERS)}")
        self.name = f"vgg{depth}"
        model, self.fingerprint = imagenet_backbone(f"vgg{depth}", WEIGHTS[depth], weights_path)
        self.taps = RELU_LAYERS[depth]
        self.layers = model.features[: self.taps[-1] + 1]
        self.freeze()

    def maps(self, images: Tensor) -> list[Tensor]:
        """The five relu activations, shallow to deep."""
        x, out = imagenet_normalize(images), []
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if index in self.taps:
                out.append(x)
        return out

    def forward(self, images: Tensor) -> Tensor:
        return torch.cat([m.mean(dim=(2, 3)) for m in self.maps(images)], dim=1)
