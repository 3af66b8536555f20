"""ArcFace (Deng et al. 2019) IR-SE50 identity embeddings, as pSp/e4e/HFGI's ID loss uses them.

The weights are ``model_ir_se50.pth`` of TreB1eN/InsightFace_Pytorch (the file pSp, e4e and
UDA-Inversion link as "IR-SE50 Model"), read with ``weights_only=True``; nothing is
downloaded. As in pSp's ID loss, a face image in [-1, 1] is cropped to the face (rows
35:223, columns 32:220 of a 256 px image, scaled for other sizes), pooled to 112 x 112,
and embedded into 512 L2-normalised numbers.
"""

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlab.features.base import FeatureExtractor, as_rgb
from ganlab.features.weights import file_fingerprint, find_weights, load_state_dict
from ganlab.nets.irse import IRSE50_STAGES, input_layer, ir_units

ARCFACE_FILE = "model_ir_se50.pth"
ARCFACE_SOURCE = (
    "https://github.com/TreB1eN/InsightFace_Pytorch (pretrained IR-SE50; pSp and e4e link it "
    "as 'IR-SE50 Model')"
)
FACE_CROP = (35 / 256, 223 / 256, 32 / 256, 220 / 256)  # top, bottom, left, right


class ArcFaceIRSE50(nn.Module):
    """InsightFace's ``Backbone(112, 50, 'ir_se')``: (B, 3, 112, 112) -> (B, 512), unit norm."""

    def __init__(self) -> None:
        super().__init__()
        self.input_layer = input_layer(3, 64)
        self.body = nn.Sequential(*ir_units(IRSE50_STAGES, squeeze_excite=True))
        self.output_layer = nn.Sequential(
            nn.BatchNorm2d(512),
            nn.Dropout(0.6),
            nn.Flatten(),
            nn.Linear(512 * 7 * 7, 512),
            nn.BatchNorm1d(512),
        )

    def forward(self, faces: Tensor) -> Tensor:
        return F.normalize(self.output_layer(self.body(self.input_layer(faces))), dim=1)


def crop_face(images: Tensor) -> Tensor:
    """The face region of aligned (B, C, H, W) face images, pooled to 112 x 112."""
    height, width = images.shape[-2:]
    top, bottom, left, right = FACE_CROP
    face = images[:, :, round(top * height) : round(bottom * height)]
    face = face[:, :, :, round(left * width) : round(right * width)]
    return F.adaptive_avg_pool2d(face, (112, 112))


class ArcFaceFeatures(FeatureExtractor):
    name = "arcface"
    num_features = 512

    def __init__(self, weights_path: str | None = None) -> None:
        super().__init__()
        path: Path = find_weights(ARCFACE_FILE, ARCFACE_SOURCE, "ArcFace IR-SE50", weights_path)
        self.net = ArcFaceIRSE50()
        self.net.load_state_dict(load_state_dict(path))
        self.fingerprint = file_fingerprint(path)
        self.freeze()

    def forward(self, images: Tensor) -> Tensor:
        return self.net(crop_face(as_rgb(images)))


@torch.no_grad()
def save_random_arcface(path: Path, seed: int = 0) -> None:
    """A randomly initialised ArcFace file in the real layout (tests use it in place of the
    real weights, which cannot be downloaded here)."""
    torch.manual_seed(seed)
    torch.save(ArcFaceIRSE50().state_dict(), path)
