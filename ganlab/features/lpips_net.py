"""LPIPS (Zhang et al. 2018) as an embedding, from the ``lpips`` package.

The package's calibrated linear weights ship inside it; the AlexNet/VGG16 backbone is
torchvision's ImageNet checkpoint, read here from the torch hub cache with
``weights_only=True``. With phi_l the unit-normalised layer-l map, w_l the non-negative
linear weights and H_l x W_l its size, the embedding concatenates
sqrt(w_l) * phi_l / sqrt(H_l W_l), so that ||e(x) - e(y)||^2 is exactly the LPIPS
distance (Eq. 1 of the paper).
"""

import math
import os
import warnings

import lpips
import torch
import torchvision
from torch import Tensor, nn

from ganlab.features.base import FeatureExtractor, as_rgb
from ganlab.features.weights import file_fingerprint, find_weights, load_state_dict

BACKBONES = {
    "alex": ("alexnet", torchvision.models.AlexNet_Weights.IMAGENET1K_V1),
    "vgg": ("vgg16", torchvision.models.VGG16_Weights.IMAGENET1K_V1),
}


def imagenet_backbone(arch: str, weights_enum, configured: str | None) -> tuple[nn.Module, str]:
    """A torchvision ImageNet classifier with its cached weights, and their fingerprint."""
    filename = os.path.basename(weights_enum.url)
    path = find_weights(filename, weights_enum.url, f"torchvision {arch} (ImageNet)", configured)
    with torch.device("meta"):  # no random init of the 100M-parameter classifier
        model = getattr(torchvision.models, arch)(weights=None)
    model.load_state_dict(load_state_dict(path), assign=True)
    return model, file_fingerprint(path)


def build_lpips(net: str, weights_path: str | None = None) -> tuple[lpips.LPIPS, str]:
    """``lpips.LPIPS`` with the package's linear weights and the cached ImageNet backbone."""
    arch, weights_enum = BACKBONES[net]
    backbone, fingerprint = imagenet_backbone(arch, weights_enum, weights_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision's note on the deprecated `pretrained` flag
        model = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False)
    slices = [getattr(model.net, f"slice{k}") for k in range(1, model.net.N_slices + 1)]
    for layer_slice in slices:
        for index, layer in layer_slice.named_children():
            layer.load_state_dict(backbone.features[int(index)].state_dict())
    return model.eval().requires_grad_(False), fingerprint


def linear_weight(lin: nn.Module) -> Tensor:
    """The (1, C, 1, 1) calibrated channel weights of one LPIPS linear layer."""
    conv = next(m for m in lin.modules() if isinstance(m, nn.Conv2d))
    return conv.weight.clamp_min(0.0)


class LPIPSFeatures(FeatureExtractor):
    def __init__(self, net: str = "alex", weights_path: str | None = None) -> None:
        super().__init__()
        if net not in BACKBONES:
            raise ValueError(f"LPIPS net {net!r} is not one of {sorted(BACKBONES)}")
        self.name = f"lpips_{net}"
        self.model, self.fingerprint = build_lpips(net, weights_path)
        self.freeze()

    def forward(self, images: Tensor) -> Tensor:
        maps = self.model.net(self.model.scaling_layer(as_rgb(images)))
        parts = []
        for feature_map, lin in zip(maps, self.model.lins, strict=True):
            unit = lpips.normalize_tensor(feature_map)
            area = feature_map.shape[-2] * feature_map.shape[-1]
            parts.append((unit * linear_weight(lin).sqrt()).flatten(1) / math.sqrt(area))
        return torch.cat(parts, dim=1)
