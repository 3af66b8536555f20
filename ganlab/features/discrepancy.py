"""The two feature nets of UDA-Inversion's discrepancy: a frozen pretrained net H and a
trainable copy Ĥ of its architecture, randomly initialised (the official code builds
LPIPS's AlexNet twice, once with ``pretrained=False``).

``discrepancy_nets(name)`` gives both as :class:`FeatureMaps` (images -> the list of layer
maps ℓ̂ compares) and the per-layer channel weights:

- ``lpips_alex``: H = LPIPS's AlexNet with torchvision's ImageNet weights, weights = LPIPS's
  calibrated linear layers (the official code's choice, for faces);
- ``domain_<data>`` (e.g. ``domain_toyfaces``): H = the conv stages of ganlab's own domain net
  for embedded data, every channel weighted 1.
"""

import copy
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ganlab.errors import ConfigError
from ganlab.features.base import as_rgb
from ganlab.features.domain import load_domain_net
from ganlab.features.lpips_net import build_lpips, linear_weight


class RGBInput(nn.Module):
    """Grey images repeated to RGB, then ``scaling`` (e.g. LPIPS's input standardisation),
    kept as a submodule so its buffers follow the device."""

    def __init__(self, scaling: nn.Module | None = None) -> None:
        super().__init__()
        self.scaling = scaling or nn.Identity()

    def forward(self, images: Tensor) -> Tensor:
        return self.scaling(as_rgb(images))


class FeatureMaps(nn.Module):
    """``stages`` run in turn on ``prepare(images)``; forward returns every stage's output."""

    def __init__(self, stages: nn.Sequential, prepare: nn.Module) -> None:
        super().__init__()
        self.stages, self.prepare = stages, prepare

    def forward(self, images: Tensor) -> list[Tensor]:
        maps, x = [], self.prepare(images)
        for stage in self.stages:
            x = stage(x)
            maps.append(x)
        return maps


@dataclass
class DiscrepancyNets:
    frozen: FeatureMaps  # H
    trainable: FeatureMaps  # Ĥ
    layer_weights: list[Tensor] | None
    fingerprint: str  # identifies H's weights


def reinitialised(module: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``module`` with fresh default initialisation of every layer."""
    copied = copy.deepcopy(module)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for layer in copied.modules():
            if hasattr(layer, "reset_parameters") and layer is not copied:
                layer.reset_parameters()
    return copied.requires_grad_(True)


def discrepancy_nets(name: str, weights_path: str | None = None) -> DiscrepancyNets:
    if name == "lpips_alex":
        model, fingerprint = build_lpips("alex", weights_path)
        slices = [getattr(model.net, f"slice{k}") for k in range(1, model.net.N_slices + 1)]
        frozen = nn.Sequential(*slices)
        weights = [linear_weight(lin).detach() for lin in model.lins]
        return DiscrepancyNets(
            FeatureMaps(frozen, RGBInput(model.scaling_layer)),
            FeatureMaps(reinitialised(frozen), RGBInput(copy.deepcopy(model.scaling_layer))),
            weights,
            fingerprint,
        )
    if name.startswith("domain_"):
        net, sha256 = load_domain_net(name.removeprefix("domain_"))
        return DiscrepancyNets(
            FeatureMaps(net.body, nn.Identity()),
            FeatureMaps(reinitialised(net.body), nn.Identity()),
            None,
            f"sha256:{sha256[:16]}",
        )
    raise ConfigError(
        f"unknown discrepancy features {name!r}; use lpips_alex (faces, as the paper) or "
        "domain_<data> (ganlab's own net for embedded data, e.g. domain_toyfaces)"
    )
