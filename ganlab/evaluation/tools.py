"""The measuring instruments of an evaluation, built once before training so that missing
weights stop a run at once: FID/KID (``features=``), a perceptual distance
(``eval.perceptual``: LPIPS), an identity net (``eval.identity``) and an attribute
classifier (``eval.attribute_classifier``). ``domain`` / ``lpips_domain`` / ``identity``
name ganlab's own nets for the data (``ganlab.features.resolve_name``)."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from ganlab.assets import ASSET_DIR
from ganlab.data.base import ImageDataModule
from ganlab.errors import ConfigError
from ganlab.features import NAMES, FeatureExtractor, get_extractor, resolve_name
from ganlab.features.domain import domain_net_filename, load_domain_net
from ganlab.metrics.evaluator import Evaluator


@dataclass(frozen=True)
class Budget:
    """How much an evaluation scores: ``n`` images (samples or inputs), the ``seed`` of the
    latents (and KID subsets), and the ``split`` whose images are inputs."""

    n: int
    seed: int = 0
    split: str = "val"


class AttributeClassifier(nn.Module):
    """Images -> attribute logits from the attribute head of ganlab's domain net."""

    def __init__(self, dataset: str, image_size: int | None = None) -> None:
        """The dataset's domain net; for images of ``image_size`` the net trained at that size
        when ganlab ships one (``domain_<dataset>_<size>px.pt``: the default net reads small
        images upsampled, e.g. ToyFaces' smiling on 67 % of 32 px faces), the default
        otherwise. ``source`` names the file used."""
        super().__init__()
        sized = image_size and (ASSET_DIR / domain_net_filename(dataset, image_size)).is_file()
        self.source = domain_net_filename(dataset, image_size if sized else None)
        self.net, _ = load_domain_net(dataset, image_size=image_size if sized else None)
        if self.net.attribute_head is None:
            raise ConfigError(f"the domain net of {dataset} has no attribute head")
        self.requires_grad_(False).eval()

    def forward(self, images: Tensor) -> Tensor:
        """Logits (B, K); images of another size are resized (bilinear) to the net's own."""
        device = next(self.parameters()).device
        size = self.net.config["image_size"]
        if images.shape[-1] != size:
            images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
        return self.net(images.to(device))["attribute_logits"].cpu()


@dataclass
class Tools:
    fid: Evaluator | None = None
    check_fids: tuple[Evaluator, ...] = ()  # FID/KID with more nets (``eval.check_features``)
    perceptual: FeatureExtractor | None = None
    identity: FeatureExtractor | None = None
    classifier: AttributeClassifier | None = None

    def to(self, device: torch.device | str) -> "Tools":
        """The nets on ``device`` (the FID extractor moves itself when it scores)."""
        for net in (self.perceptual, self.identity, self.classifier):
            if net is not None:
                net.to(device)
        return self


def build_tools(
    features: DictConfig | None, eval_cfg: DictConfig, datamodule: Any, needs: Iterable[str]
) -> Tools:
    """The tools the declared evaluations ``needs``; a tool whose setting is null is off."""
    needs = set(needs)
    tools = Tools()
    if not needs:
        return tools
    if not isinstance(datamodule, ImageDataModule):
        raise ConfigError(f"this method's evaluation needs image data; data={datamodule.name}")
    dataset = datamodule.feature_dataset
    if "fid" in needs and features is not None:
        chosen = OmegaConf.to_container(features)
        chosen["name"] = resolve_name(chosen["name"], dataset)
        tools.fid = Evaluator.from_config(OmegaConf.create(chosen), eval_cfg, datamodule)
        tools.check_fids = tuple(
            Evaluator.from_config(
                OmegaConf.create({"name": resolve_name(name, dataset)}), eval_cfg, datamodule
            )
            for name in eval_cfg.get("check_features") or ()
        )
    if "perceptual" in needs and eval_cfg.get("perceptual"):
        name = resolve_name(eval_cfg.perceptual, dataset)
        if name not in NAMES:
            raise ConfigError(
                f"eval.perceptual={eval_cfg.perceptual}: ganlab has no such net for {dataset}; "
                "use lpips_alex or lpips_vgg (ImageNet weights), or null"
            )
        tools.perceptual = get_extractor(name)
    if "identity" in needs and eval_cfg.get("identity"):
        name = resolve_name(eval_cfg.identity, dataset)
        if eval_cfg.identity == "identity" and name not in NAMES:
            print(f"ganlab: ganlab has no identity net for {dataset}; identity similarity is off")
        else:
            tools.identity = get_extractor(name)
    classifier = eval_cfg.get("attribute_classifier")
    # generated samples are judged when the data has attributes and ganlab ships its net;
    # translations to target attributes always need the judge
    judges_samples = (
        "sample_attributes" in needs
        and bool(getattr(datamodule, "attribute_names", ()))
        and (ASSET_DIR / domain_net_filename(dataset)).is_file()
    )
    if classifier and ("classifier" in needs or judges_samples):
        if classifier != "domain":
            raise ConfigError(
                f"eval.attribute_classifier={classifier}: the attribute classifier is ganlab's "
                "domain net (domain) or null (off)"
            )
        tools.classifier = AttributeClassifier(dataset, datamodule.image_size)
    return tools
