"""VGG-Face (Parkhi, Vedaldi & Zisserman, "Deep Face Recognition", BMVC 2015): VGG-16 trained
to tell 2,622 people apart, the embedding phi that INIT uses for faces (Cao et al. 2020,
sec. 3.3: "we use VGGFace for facial attribute transfer").

The weights are ``vgg_face_dag.pth``, Samuel Albanie's PyTorch conversion of the authors'
MatConvNet model (pytorch-mcn), read with ``weights_only=True``; nothing is downloaded. The
net keeps that file's layer names (conv1_1 ... conv5_3, fc6, fc7, fc8), so it loads key for
key. Its input is a 224 x 224 RGB face in [0, 255] less the training faces' channel means;
the face descriptor is fc7 after its ReLU, 4096 numbers.
"""

from pathlib import Path

import torch.nn.functional as F
from torch import Tensor, nn

from ganlab.errors import MissingWeightsError
from ganlab.features.base import FeatureExtractor, as_rgb
from ganlab.features.weights import file_fingerprint, hub_checkpoint_dir, load_state_dict

VGGFACE_FILE = "vgg_face_dag.pth"
VGGFACE_SOURCE = (
    "https://www.robots.ox.ac.uk/~albanie/models/pytorch-mcn/vgg_face_dag.pth (Samuel "
    "Albanie's PyTorch conversion of VGG-Face, Parkhi et al. 2015, listed at "
    "https://www.robots.ox.ac.uk/~albanie/pytorch-models.html)"
)
VGGFACE_MEAN = (129.186279296875, 104.76238250732422, 93.59396362304688)  # RGB, 0-255 scale
VGGFACE_SIZE = 224
BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))  # (width, convs) of each block
N_IDENTITIES = 2622


class VGGFace(nn.Module):
    """(B, 3, 224, 224) mean-subtracted RGB in [0, 255] -> (B, 4096) ReLU(fc7)."""

    def __init__(self) -> None:
        super().__init__()
        in_channels = 3
        for block, (width, n_convs) in enumerate(BLOCKS, 1):
            for conv in range(1, n_convs + 1):
                setattr(self, f"conv{block}_{conv}", nn.Conv2d(in_channels, width, 3, 1, 1))
                in_channels = width
        self.fc6 = nn.Linear(512 * 7 * 7, 4096)
        self.fc7 = nn.Linear(4096, 4096)
        self.fc8 = nn.Linear(4096, N_IDENTITIES)  # the identity classifier, unused here

    def forward(self, faces: Tensor) -> Tensor:
        x = faces
        for block, (_, n_convs) in enumerate(BLOCKS, 1):
            for conv in range(1, n_convs + 1):
                x = F.relu(getattr(self, f"conv{block}_{conv}")(x))
            x = F.max_pool2d(x, 2)  # after block 5: (B, 512, 7, 7)
        return F.relu(self.fc7(F.relu(self.fc6(x.flatten(1)))))


def find_vggface_weights(configured: str | None = None) -> Path:
    """``vgg_face_dag.pth`` at ``configured`` (the file or a folder holding it), else in the
    torch hub cache; a missing file is one :class:`MissingWeightsError` naming it and its source."""
    candidate = Path(configured).expanduser() if configured else hub_checkpoint_dir()
    if candidate.is_dir():
        candidate = candidate / VGGFACE_FILE
    if candidate.is_file():
        return candidate
    raise MissingWeightsError(
        f"VGG-Face weights ({VGGFACE_FILE}) not found: {candidate} does not exist (searched "
        f"{'the configured path' if configured else 'the torch hub cache'}; ganlab never "
        f"downloads at run time). The file comes from {VGGFACE_SOURCE}; download it on a "
        f"machine with internet into {candidate.parent} or give its path (INIT: "
        "model.embedding_weights=<file>)"
    )


def vggface_input(images: Tensor) -> Tensor:
    """(B, 1 or 3, H, W) images in [-1, 1] -> VGG-Face's input: 224 px, [0, 255] less the means."""
    images = as_rgb(images)
    if images.shape[-2:] != (VGGFACE_SIZE, VGGFACE_SIZE):
        size = (VGGFACE_SIZE, VGGFACE_SIZE)
        images = F.interpolate(images, size=size, mode="bilinear", align_corners=False)
    mean = images.new_tensor(VGGFACE_MEAN).view(1, 3, 1, 1)
    return (images + 1) * 127.5 - mean


class VGGFaceFeatures(FeatureExtractor):
    """Frozen VGG-Face descriptors: (B, C, H, W) face images in [-1, 1] -> (B, 4096)."""

    name = "vggface"
    num_features = 4096

    def __init__(self, weights_path: str | None = None) -> None:
        super().__init__()
        self.path = find_vggface_weights(weights_path)
        self.net = VGGFace()
        self.net.load_state_dict(load_state_dict(self.path))
        self.fingerprint = file_fingerprint(self.path)
        self.freeze()

    def forward(self, images: Tensor) -> Tensor:
        return self.net(vggface_input(images))
