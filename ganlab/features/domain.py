"""Feature nets that ganlab trains on its own embedded data (digits, toyfaces).

A small CNN classifier: its penultimate layer gives the features that FID/KID use on
embedded data (``domain_<dataset>``), and its heads classify digits, or predict toyfaces'
attributes and identity parameters. ``python -m ganlab.run experiment=features_<dataset>``
trains one and writes ``domain_<dataset>.pt`` with a manifest entry in its run dir;
``python -m ganlab.assets publish <run dir>`` copies both into ``ganlab/assets/``,
where embedded experiments find them by default.
"""

import math
from itertools import pairwise
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlab.assets import ASSET_DIR, MANIFEST_NAME, file_sha256, recorded_sha256
from ganlab.errors import MissingWeightsError
from ganlab.features.base import FeatureExtractor
from ganlab.torch_files import load_tensor_file

FORMAT = "ganlab-domain-net/1"


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Two 3x3 conv-BN-ReLU layers, then 2x2 max-pooling (halves H and W)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class DomainNet(nn.Module):
    """(B, C, S, S) in [-1, 1] -> ``features`` (B, feature_dim) and one head per target.

    Stages halve the size down to 4x4, doubling the width each time (capped at 8x).
    """

    def __init__(
        self,
        channels: int,
        image_size: int,
        n_classes: int = 0,
        n_attributes: int = 0,
        identity_dim: int = 0,
        width: int = 32,
        feature_dim: int = 128,
    ) -> None:
        super().__init__()
        n_stages = int(math.log2(image_size // 4))
        if image_size < 8 or 4 * 2**n_stages != image_size:
            raise ValueError(f"DomainNet needs a power-of-two image size >= 8, got {image_size}")
        self.config = dict(
            channels=channels,
            image_size=image_size,
            n_classes=n_classes,
            n_attributes=n_attributes,
            identity_dim=identity_dim,
            width=width,
            feature_dim=feature_dim,
        )
        widths = [channels] + [width * min(2**i, 8) for i in range(n_stages)]
        self.body = nn.Sequential(*[conv_block(a, b) for a, b in pairwise(widths)])
        self.embed = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(widths[-1], feature_dim), nn.ReLU()
        )
        self.class_head = nn.Linear(feature_dim, n_classes) if n_classes else None
        self.attribute_head = nn.Linear(feature_dim, n_attributes) if n_attributes else None
        self.identity_head = nn.Linear(feature_dim, identity_dim) if identity_dim else None

    def features(self, images: Tensor) -> Tensor:
        return self.embed(self.body(images))

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        """Head outputs: ``class_logits``, ``attribute_logits``, ``identity`` (those it has)."""
        features = self.features(images)
        heads = {
            "class_logits": self.class_head,
            "attribute_logits": self.attribute_head,
            "identity": self.identity_head,
        }
        return {name: head(features) for name, head in heads.items() if head is not None}


class DomainNetExtractor(FeatureExtractor):
    """What the extractors of one domain net share: the outputs of its body's stages
    (``trunk``), computed once for several of them by ``embed_together``."""

    def __init__(self, net: DomainNet, name: str, fingerprint: str) -> None:
        super().__init__()
        self.net, self.name, self.fingerprint = net, name, fingerprint

    def forward(self, images: Tensor) -> Tensor:
        return self.from_trunk(self.trunk(images))

    def trunk_key(self) -> str:
        return f"domain_body:{self.fingerprint}"

    def trunk(self, images: Tensor) -> list[Tensor]:
        """The output of each stage of the net's body, shallow to deep."""
        out = []
        for stage in self.net.body:
            images = stage(images)
            out.append(images)
        return out


class DomainFeatures(DomainNetExtractor):
    def __init__(self, net: DomainNet, dataset: str, fingerprint: str) -> None:
        super().__init__(net, f"domain_{dataset}", fingerprint)
        self.num_features = net.config["feature_dim"]
        self.freeze()

    def from_trunk(self, trunk: list[Tensor]) -> Tensor:
        return self.net.embed(trunk[-1])

    def maps(self, images: Tensor) -> list[Tensor]:
        """The output of each conv stage, shallow to deep (as ``VGGFeatures.maps``), of the
        images resized (bilinear) to the size the net was trained at."""
        size = self.net.config["image_size"]
        if images.shape[-1] != size:
            images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
        return DomainNetExtractor.trunk(self, images)


class SizedDomainFeatures(DomainFeatures):
    """The features of a domain net trained at a size of its own (``domain_<dataset>_<S>px``),
    of the images resized (bilinear) to that size: a second FID judge, trained apart from the
    default net, that reads each image at the scale it learnt."""

    def __init__(self, net: DomainNet, dataset: str, fingerprint: str) -> None:
        super().__init__(net, dataset, fingerprint)
        self.size = net.config["image_size"]
        self.name = f"domain_{dataset}_{self.size}px"

    def trunk_key(self) -> str:
        return f"domain_body_{self.size}px:{self.fingerprint}"

    def trunk(self, images: Tensor) -> list[Tensor]:
        if images.shape[-1] != self.size:
            images = F.interpolate(images, size=(self.size, self.size), mode="bilinear")
        return super().trunk(images)


class DomainPerceptual(DomainNetExtractor):
    """An LPIPS-style embedding from a domain net, for embedded data where no ImageNet
    backbone may be downloaded: the output of each conv stage, unit-normalised over channels
    and divided by sqrt(H W), concatenated, so that the squared distance of two embeddings is
    sum_l mean_hw ||phi_l(x) - phi_l(y)||^2 (LPIPS's Eq. 1 with every channel weight 1: a
    perceptual distance in ganlab's own feature space, not calibrated on human judgements)."""

    def __init__(self, net: DomainNet, dataset: str, fingerprint: str) -> None:
        super().__init__(net, f"lpips_domain_{dataset}", fingerprint)
        self.freeze()

    def from_trunk(self, trunk: list[Tensor]) -> Tensor:
        parts = []
        for maps in trunk:
            unit = maps / maps.pow(2).sum(1, keepdim=True).add(1e-10).sqrt()
            parts.append(unit.flatten(1) / math.sqrt(maps.shape[-2] * maps.shape[-1]))
        return torch.cat(parts, dim=1)


class DomainIdentity(DomainNetExtractor):
    """Identity embeddings from a domain net's identity head: the predicted identity
    parameters, centred on their prior mean 0.5, so that cosine similarity compares faces
    (on toyfaces the parameters are uniform in [0, 1])."""

    def __init__(self, net: DomainNet, dataset: str, fingerprint: str) -> None:
        if net.identity_head is None:
            raise MissingWeightsError(
                f"the domain net of {dataset} has no identity head; identity similarity needs "
                "one (ganlab trains it for toyfaces) or eval.identity=arcface with its weights"
            )
        super().__init__(net, f"identity_{dataset}", fingerprint)
        self.num_features = net.config["identity_dim"]
        self.freeze()

    def from_trunk(self, trunk: list[Tensor]) -> Tensor:
        return self.net.identity_head(self.net.embed(trunk[-1])) - 0.5


def save_domain_net(net: DomainNet, dataset: str, path: Path) -> str:
    """Write the net for ``load_domain_net``; returns the file's sha256."""
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    saved = {"format": FORMAT, "dataset": dataset, "config": net.config, "state_dict": state}
    torch.save(saved, path)
    return file_sha256(path)


def domain_net_filename(dataset: str, image_size: int | None = None) -> str:
    """``domain_<dataset>.pt``; ``domain_<dataset>_<size>px.pt`` for a net trained to judge
    images of a smaller size than the default net's (``model.sized_asset=true``, e.g.
    ``experiment=features_toyfaces_32``)."""
    return f"domain_{dataset}_{image_size}px.pt" if image_size else f"domain_{dataset}.pt"


def load_domain_net(
    dataset: str, weights_path: str | None = None, image_size: int | None = None
) -> tuple[DomainNet, str]:
    """The domain net for ``dataset`` (from ``weights_path`` or ganlab/assets; the one trained
    at ``image_size`` when given) and its sha256.

    A shipped asset must match the sha256 its manifest records.
    """
    filename = domain_net_filename(dataset, image_size)
    path = Path(weights_path).expanduser() if weights_path else ASSET_DIR / filename
    if not path.is_file():
        command = f"experiment=features_{dataset}"
        if image_size:
            command += f" data.size={image_size} model.sized_asset=true"
        raise MissingWeightsError(
            f"domain feature net not found: {path} does not exist. ganlab trains it on its own "
            f"data: `python -m ganlab.run {command}`, then "
            f"`python -m ganlab.assets publish <run dir>` (or features.weights_path=<run dir>/"
            f"{filename})"
        )
    sha256 = file_sha256(path)
    recorded = recorded_sha256(path)
    if recorded and recorded != sha256:
        raise MissingWeightsError(
            f"{path} does not match the sha256 in {path.parent / MANIFEST_NAME} (file damaged "
            "or replaced); retrain it or restore the file"
        )
    saved = load_tensor_file(path, "domain net file")
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise MissingWeightsError(f"{path} is not a ganlab domain net (format {FORMAT})")
    if saved["dataset"] != dataset:
        raise MissingWeightsError(f"{path} was trained on {saved['dataset']}, not {dataset}")
    net = DomainNet(**saved["config"])
    net.load_state_dict(saved["state_dict"])
    return net.eval(), sha256


def domain_extractor(
    dataset: str,
    weights_path: str | None = None,
    kind: type = DomainFeatures,
    image_size: int | None = None,
) -> FeatureExtractor:
    """The domain net of ``dataset`` as a ``kind`` extractor (features, perceptual, identity);
    the net trained at ``image_size`` when given."""
    net, sha256 = load_domain_net(dataset, weights_path, image_size)
    return kind(net, dataset, f"sha256:{sha256[:16]}")
