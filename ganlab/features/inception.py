"""InceptionV3 pool features for FID/KID: the TF-ported net torchmetrics' FID uses.

The weights are torch-fidelity's port of the 2015-12-05 TensorFlow Inception graph, the
standard for FID since Heusel et al. 2017. Images are quantised to uint8 exactly as
torchmetrics does for ``normalize=True`` inputs, then resized to 299 px inside the net.
"""

import torch
from torch import Tensor
from torchmetrics.image.fid import NoTrainInceptionV3

from ganlab.features.base import FeatureExtractor, as_rgb
from ganlab.features.weights import file_fingerprint, find_weights, load_state_dict

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = (
    f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_FILE}"
)


def to_uint8(images: Tensor) -> Tensor:
    """[-1, 1] -> uint8 0..255, truncating like torchmetrics' ``(imgs * 255).byte()``."""
    return ((images.clamp(-1.0, 1.0) + 1.0) / 2.0 * 255).byte()


class InceptionFeatures(FeatureExtractor):
    name = "inception"
    num_features = 2048

    def __init__(self, weights_path: str | None = None) -> None:
        super().__init__()
        path = find_weights(INCEPTION_FILE, INCEPTION_URL, "InceptionV3 (FID)", weights_path)
        load_state_dict(path)  # refuses pickled code before torch-fidelity reads the file itself
        self.net = NoTrainInceptionV3("inception-v3-compat", ["2048"], str(path))
        self.fingerprint = file_fingerprint(path)
        self.freeze()

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        return self.net(to_uint8(as_rgb(images))).reshape(len(images), -1).float()
