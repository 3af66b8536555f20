"""GAN dissection (Bau et al., "GAN Dissection: Visualizing and Understanding Generative
Adversarial Networks", ICLR 2019): which units of a generator layer draw which class.

- Dissection (sec. 3.1): unit u's feature map r_u, upsampled to the image and thresholded
  at t_u, is compared with the segmentation s_c of the generated image; the agreement is
  IoU_{u,c} = sum_z |(r_u > t_u) & s_c| / sum_z |(r_u > t_u) | s_c| over the samples z
  (eq. 1). Here t_u is the unit's top-quantile activation over all samples and positions
  (as Network Dissection sets it), the same for every class.
- Intervention (sec. 3.2): ablating (zeroing) the units most aligned with class c should
  remove c from the images, and inserting them (setting them to their typical "on" value,
  the mean activation above t_u) should add it; the change is measured by the share of
  pixels the segmenter assigns to c, on the same latents and noise.

The pure functions below take tensors; ``LayerProbe`` reads and sets a layer of a
StyleGAN2 generator through a forward hook.
"""

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def unit_thresholds(activations: Tensor, quantile: float) -> Tensor:
    """(N, U, h, w) -> (U,): each unit's activation level that a share ``1 - quantile`` of
    its values (over all samples and positions) exceeds."""
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be in (0, 1), got {quantile}")
    flat = activations.transpose(0, 1).flatten(1).float()
    k = max(1, min(flat.shape[1], round(quantile * flat.shape[1])))
    return flat.kthvalue(k, dim=1).values


def on_masks(activations: Tensor, thresholds: Tensor, size: tuple[int, int]) -> Tensor:
    """(N, U, H, W) bool: each unit's map, bilinearly upsampled to ``size``, above its
    threshold."""
    up = F.interpolate(activations.float(), size=size, mode="bilinear", align_corners=False)
    return up > thresholds.view(1, -1, 1, 1)


def iou_counts(on: Tensor, masks: Tensor, n_classes: int) -> tuple[Tensor, Tensor, Tensor]:
    """Sums over a chunk of samples for eq. 1: |on_u & s_c| (U, K), |on_u| (U,), |s_c| (K,)."""
    one_hot = F.one_hot(masks.long(), n_classes).permute(0, 3, 1, 2).float()
    on = on.float()
    intersection = torch.einsum("nuhw,nkhw->uk", on, one_hot)
    return intersection, on.sum((0, 2, 3)), one_hot.sum((0, 2, 3))


def unit_class_iou(
    activations: Tensor, masks: Tensor, thresholds: Tensor, n_classes: int, chunk: int = 32
) -> Tensor:
    """IoU_{u,c} (U, K) of eq. 1, summed over the samples of ``activations`` (N, U, h, w)
    and their segmentations ``masks`` (N, H, W), in chunks of samples."""
    size = tuple(masks.shape[-2:])
    totals = None
    for start in range(0, len(masks), chunk):
        on = on_masks(activations[start : start + chunk], thresholds, size)
        counts = iou_counts(on, masks[start : start + chunk], n_classes)
        totals = (
            counts if totals is None else tuple(a + b for a, b in zip(totals, counts, strict=True))
        )
    intersection, unit_area, class_area = totals
    union = unit_area[:, None] + class_area[None, :] - intersection
    return intersection / union.clamp_min(1.0)


def on_values(activations: Tensor, thresholds: Tensor) -> Tensor:
    """(U,) each unit's mean activation where it is above its threshold: the value inserted
    to switch it on."""
    flat = activations.transpose(0, 1).flatten(1).float()
    above = flat > thresholds[:, None]
    return (flat * above).sum(1) / above.sum(1).clamp_min(1)


def class_shares(masks: Tensor, n_classes: int) -> Tensor:
    """(K,) the share of all pixels of ``masks`` (N, H, W) in each class."""
    counts = torch.bincount(masks.flatten().long(), minlength=n_classes).float()
    return counts / counts.sum()


class LayerProbe:
    """Reads the output of ``layer`` of ``generator`` while active, and (``setting``)
    overwrites chosen units with given values."""

    def __init__(self, generator: nn.Module, layer: str) -> None:
        try:
            self.module = generator.get_submodule(layer)
        except AttributeError:
            names = [name for name, _ in generator.named_children()]
            raise ValueError(
                f"the generator has no layer {layer!r}; e.g. conv1, convs.0 ... (children: "
                f"{', '.join(names)})"
            ) from None
        self.layer = layer
        self.captured: list[Tensor] = []
        self._units: Tensor | None = None
        self._values: Tensor | None = None

    def _hook(self, module: nn.Module, inputs: Any, output: Tensor) -> Tensor:
        if self._units is not None:
            output = output.clone()
            output[:, self._units] = self._values.to(output).view(1, -1, 1, 1)
        self.captured.append(output.detach().cpu())
        return output

    @contextmanager
    def active(self):
        handle = self.module.register_forward_hook(self._hook)
        try:
            yield self
        finally:
            handle.remove()

    @contextmanager
    def setting(self, units: Tensor, values: Tensor):
        """Units ``units`` of the layer output are ``values`` (0: ablation)."""
        self._units, self._values = units, values
        try:
            yield self
        finally:
            self._units = self._values = None


@dataclass
class Dissection:
    """One layer's dissection: ``iou`` (U, K), ``thresholds`` (U,), ``on_values`` (U,) and
    the baseline ``shares`` (K,) of the segmented samples."""

    layer: str
    iou: Tensor
    thresholds: Tensor
    on_values: Tensor
    shares: Tensor

    def top_units(self, cls: int, k: int) -> Tensor:
        return self.iou[:, cls].argsort(descending=True)[:k]


def dissect(
    draw: Callable[[int], Tensor],
    segment: Callable[[Tensor], Tensor],
    probe: LayerProbe,
    n_batches: int,
    quantile: float,
    n_classes: int,
) -> Dissection:
    """``draw(batch index)`` makes images (the probe captures the layer), ``segment`` labels
    them; the IoU table of every unit and class over all batches."""
    probe.captured.clear()
    masks = []
    with probe.active():
        for index in range(n_batches):
            masks.append(segment(draw(index)).cpu())
    activations, masks = torch.cat(probe.captured), torch.cat(masks)
    thresholds = unit_thresholds(activations, quantile)
    return Dissection(
        probe.layer,
        unit_class_iou(activations, masks, thresholds, n_classes),
        thresholds,
        on_values(activations, thresholds),
        class_shares(masks, n_classes),
    )


def intervene(
    draw: Callable[[int], Tensor],
    segment: Callable[[Tensor], Tensor],
    probe: LayerProbe,
    n_batches: int,
    units: Tensor,
    values: Tensor,
    n_classes: int,
) -> Tensor:
    """(K,) the class shares of the images drawn with ``units`` set to ``values``."""
    masks = []
    with probe.active(), probe.setting(units, values):
        for index in range(n_batches):
            masks.append(segment(draw(index)).cpu())
    probe.captured.clear()
    return class_shares(torch.cat(masks), n_classes)
