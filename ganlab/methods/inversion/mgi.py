"""Multiple GAN Inversion (Kang, "Multiple GAN Inversion for Exemplar-based Image-to-Image
Translation"): a structure image x_S (edge map or mask) and a style exemplar x_T become a
photo with x_S's layout and x_T's look, in two stages and without training a translator:

1. the correspondence net warps x_T onto x_S at a quarter of the size they are matched at
   (eqs. 1-6; ``ganlab.nets.correspondence``, trained by ``experiment=correspondence_toyfaces``;
   or, with ``correspondence_path=vgg19``, frozen VGG-19 features, untrained), computed a
   chunk of the correlation matrix at a time where the whole one would not fit;
2. multi-code GAN inversion refines the warped image r under several hypotheses (composing
   block, number of codes), each output ``inversion.downsample`` times r's size (the paper:
   4, 256 -> 1024 px) with down(y) fitted to r (eq. 7); for each image the hypothesis whose
   output is closest to the generator's training distribution by FID is kept (the
   self-decision, no reference translation needed; the paper decides each image alone, at
   batch size 1). ``decision=per_batch`` keeps one hypothesis for a whole batch instead.

The paper inverts a PGGAN; here the generator is StyleGAN2 and a composing "layer" is a
StyleGAN2 synthesis block (``ganlab.inversion.multi_code``, which maps the paper's grid).
Nothing is trained here, so this is a translator built from files, not a training method:
``task=translate model=mgi exemplar=<image> input=<folder of structure images>`` runs it.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from ganlab.assets import weights_file
from ganlab.data.images import RESAMPLE, cover_and_crop, open_image, to_tensor, unreadable
from ganlab.errors import ConfigError
from ganlab.features import get_extractor
from ganlab.features.vgg import VGGFeatures
from ganlab.inversion.multi_code import (
    PAPER_CODE_COUNTS,
    Hypothesis,
    MultiCodeSettings,
    choose_per_batch,
    choose_per_image,
    hypothesis_grid,
    multi_code_invert,
    paper_blocks,
    per_image_fid,
)
from ganlab.nets.correspondence import (
    WARP_REDUCTION,
    FrozenFeatureCorrespondence,
    load_correspondence,
)
from ganlab.nets.stylegan2 import load_stylegan2, sample_w

DECISIONS = ("per_image", "per_batch")
STRUCTURES = ("edges", "mask")
FROZEN_VGG = "vgg19"  # correspondence_path for frozen VGG-19 features instead of a trained net


@dataclass
class Translation:
    """One call's outputs: ``images`` (B, C, S, S), each image's candidate ``picks`` (B,),
    ``warped`` (B, C, S/f, S/f), every hypothesis's ``candidates`` (B, H, C, S, S); the
    per-image decision's single-output FIDs ``image_fids`` (B, H) and ``image_choices`` (B,);
    the per-batch decision's FIDs ``batch_fids`` (H,) and ``batch_choice``."""

    images: Tensor
    picks: Tensor
    warped: Tensor
    candidates: Tensor
    hypotheses: list[Hypothesis]
    image_fids: Tensor
    image_choices: Tensor
    batch_fids: list[float]
    batch_choice: int
    losses: Tensor = field(default_factory=lambda: torch.zeros(0))


def check_refinement_factor(generator_size: int, correspondence_size: int, downsample: int) -> None:
    """The output must be ``downsample`` times the warp, which is a quarter of the size the
    structure and exemplar are matched at (MGI: a 256 px warp refined 4x into 1024 px); a pair
    of settings that disagree is refused with both ways out."""
    warp_size = correspondence_size // WARP_REDUCTION
    if warp_size * downsample == generator_size:
        return
    raise ConfigError(
        f"MGI's {generator_size} px output is model.inversion.downsample={downsample} times "
        f"the warp, and the warp is a quarter of model.correspondence_size="
        f"{correspondence_size}: {warp_size} px, and {warp_size} x {downsample} is not "
        f"{generator_size}. Set model.correspondence_size="
        f"{generator_size * WARP_REDUCTION // downsample} to keep downsample={downsample} "
        f"(the paper: downsample=4 with correspondence_size=null, the generator's size), or "
        f"model.inversion.downsample={generator_size // max(warp_size, 1)} to refine this "
        f"{warp_size} px warp."
    )


def structure_from_image(images: Tensor, kind: str, n_mask_classes: int) -> Tensor:
    """A user's structure image (B, 3, H, W) in [-1, 1] as the net's input: an edge map is its
    grey level in [-1, 1]; a mask image holds class ids as grey levels 0, 1, 2, ... (0-255)."""
    grey = images.mean(1, keepdim=True)
    if kind == "edges":
        return grey
    ids = ((grey + 1) * 127.5).round().long().clamp(0, n_mask_classes - 1)[:, 0]
    return F.one_hot(ids, n_mask_classes).permute(0, 3, 1, 2).float()


class MultipleGANInversion(nn.Module):
    translation_kind = "exemplar"
    translation_targets: tuple[str, ...] = ()
    needs_training = False  # built from its config by task=translate, no checkpoint

    def __init__(
        self,
        generator_path: str,
        correspondence_path: str,
        features: str,
        blocks: Sequence[int] | None = None,
        code_counts: Sequence[int] = PAPER_CODE_COUNTS,
        inversion: dict[str, Any] | None = None,
        perceptual: str | None = None,
        decision: str = "per_image",
        reference_samples: int = 2000,
        reference_features: Tensor | None = None,
        progress: bool = True,
        correspondence_size: int | None = None,
        max_correlation_entries: int = 2**28,
        structure: str = "edges",
        n_mask_classes: int = 19,
        vgg_weights_path: str | None = None,
    ) -> None:
        """``correspondence_path``: a file ``experiment=correspondence_*`` wrote, or ``vgg19``
        for frozen VGG-19 features (``vgg_weights_path`` or the torch hub cache), which then
        need ``structure`` (edges | mask) and ``n_mask_classes``. ``correspondence_size``:
        the side the structure and exemplar are matched at (default the generator's, which
        the paper's 4x refinement needs); the warp is made a chunk of rows of the correlation
        matrix at a time, at most ``max_correlation_entries`` entries (2^28: 1 GiB in
        float32). ``blocks``: composing blocks, default the paper's grid (``paper_blocks``)."""
        super().__init__()
        if decision not in DECISIONS:
            raise ConfigError(f"decision must be one of {DECISIONS}, got {decision!r}")
        if max_correlation_entries < 1:
            raise ConfigError(
                f"max_correlation_entries must be >= 1, got {max_correlation_entries}"
            )
        self.generator, latent_avg = load_stylegan2(Path(weights_file(generator_path)).expanduser())
        self.generator.use_grouped_conv(False).use_recomputation().eval().requires_grad_(False)
        self.register_buffer("latent_avg", latent_avg.reshape(-1))
        self.correspondence_size = correspondence_size or self.generator.size
        self.max_correlation_entries = max_correlation_entries
        self.settings = MultiCodeSettings(**(inversion or {}))
        check_refinement_factor(
            self.generator.size, self.correspondence_size, self.settings.downsample
        )
        if correspondence_path == FROZEN_VGG:
            if structure not in STRUCTURES:
                raise ConfigError(f"structure must be one of {STRUCTURES}, got {structure!r}")
            vgg = VGGFeatures(19, vgg_weights_path)
            self.correspondence = FrozenFeatureCorrespondence(vgg)
            details = {"structure": structure, "n_mask_classes": n_mask_classes}
        else:
            self.correspondence, details = load_correspondence(
                Path(weights_file(correspondence_path)).expanduser()
            )
        self.structure_kind = details["structure"]
        self.n_mask_classes = int(details.get("n_mask_classes") or 1)
        last_block = len(self.generator.to_rgbs)
        blocks = paper_blocks(last_block) if blocks is None else blocks
        if not blocks:
            raise ConfigError(
                f"the paper's composing blocks (8, 16, 32 px features) leave no block before "
                f"the output of a {self.generator.size} px generator; set model.blocks to "
                f"blocks in 0..{last_block}"
            )
        self.hypotheses = hypothesis_grid(blocks, code_counts)
        self.features = get_extractor(features).eval()
        self.perceptual = get_extractor(perceptual).eval() if perceptual else None
        self.decision, self.progress = decision, progress
        self.reference_samples = reference_samples
        self._reference = reference_features
        self.last: Translation | None = None

    @property
    def device(self) -> torch.device:
        return self.latent_avg.device

    @torch.no_grad()
    def reference(self) -> Tensor:
        """Features of the generator's training distribution: given ones (the training
        images'), else ``reference_samples`` of the generator's own samples."""
        if self._reference is None:
            rng = torch.Generator().manual_seed(0)
            parts = []
            for start in range(0, self.reference_samples, 100):
                n = min(100, self.reference_samples - start)
                w = sample_w(self.generator, n, rng=rng).to(self.device)
                images = self.generator([w], input_is_latent=True, randomize_noise=False)[0]
                parts.append(self.features(images.clamp(-1, 1)).cpu())
            self._reference = torch.cat(parts)
        return self._reference

    @torch.no_grad()
    def warp(self, structures: Tensor, exemplars: Tensor) -> Tensor:
        """Stage 1 (eqs. 1-6): the exemplars (B or 1, C, S, S) warped onto the structures'
        layout at a quarter of ``correspondence_size``."""
        size = self.correspondence_size
        exemplars = F.interpolate(exemplars, size=(size, size), mode="bilinear", antialias=True)
        structures = F.interpolate(structures, size=(size, size), mode="nearest")
        exemplars = exemplars.expand(structures.shape[0], -1, -1, -1)
        return self.correspondence.warp_exemplar(
            structures, exemplars, self.max_correlation_entries
        )

    def refine(self, warped: Tensor, hypotheses: list[Hypothesis] | None = None) -> Translation:
        """Stage 2 (eq. 7): multi-code inversion of the warped images (B, C, S/f, S/f), f =
        ``inversion.downsample``, under every hypothesis, then the self-decision."""
        hypotheses = hypotheses or self.hypotheses
        result = multi_code_invert(
            self.generator,
            warped,
            hypotheses,
            self.latent_avg,
            self.settings,
            self.perceptual,
            progress=self.progress,
        )
        with torch.no_grad():
            batch, n_hypotheses = result.images.shape[:2]
            flat = result.images.flatten(0, 1).clamp(-1, 1)
            features = self.features(flat).view(batch, n_hypotheses, -1).cpu()
        reference = self.reference()
        image_choices = choose_per_image(features, reference)
        batch_choice, batch_fids = choose_per_batch(features.transpose(0, 1), reference)
        if self.decision == "per_image":
            picks = image_choices
        else:
            picks = torch.full((batch,), batch_choice)
        images = result.images[torch.arange(batch), picks.to(result.images.device)]
        return Translation(
            images,
            picks,
            warped,
            result.images,
            hypotheses,
            per_image_fid(features, reference),
            image_choices,
            batch_fids,
            batch_choice,
            result.losses,
        )

    def translate(self, images: Tensor, target: Any, seed: int | None = None) -> Tensor:
        """``task=translate``: structure images (B, 3, H, W) in [-1, 1] and ``target``, the
        exemplar (a (C, H, W) / (1, C, H, W) tensor, or an image file's path)."""
        exemplar = self.exemplar_tensor(target).to(self.device)
        structures = structure_from_image(images.to(self.device), *self.structure_spec())
        self.last = self.refine(self.warp(structures, exemplar))
        return self.last.images

    def batch_details(self) -> dict[str, Any]:
        """The last translate() call's decisions, both of them whichever made the images: each
        image's single-output FID per hypothesis and its choice (per_image), each hypothesis's
        FID over the batch and the batch's choice (per_batch)."""
        assert self.last is not None, "batch_details() before translate()"
        names = [h.name for h in self.last.hypotheses]
        return {
            "image_fids": [
                dict(zip(names, row, strict=True)) for row in self.last.image_fids.tolist()
            ],
            "image_choices": [names[i] for i in self.last.image_choices],
            "batch_fids": dict(zip(names, self.last.batch_fids, strict=True)),
            "batch_choice": names[self.last.batch_choice],
        }

    def index_details(self, batches: list[dict[str, Any]]) -> dict[str, Any]:
        """What task=translate writes into index.json: the hypotheses, the decision that made
        the translations and every batch's decisions (``batch_details``), in batch order."""
        return {
            "hypotheses": [h.name for h in self.hypotheses],
            "decision": self.decision,
            "batches": batches,
        }

    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) task=translate reads the structure images at: one grey channel (edges,
        or mask class ids as grey levels) at the size they are matched at."""
        return 1, self.correspondence_size, self.correspondence_size

    @property
    def input_resample(self) -> int:
        """Masks are resized by nearest neighbour (their grey levels are class ids)."""
        return Image.Resampling.NEAREST if self.structure_kind == "mask" else RESAMPLE

    def structure_spec(self) -> tuple[str, int]:
        return self.structure_kind, self.n_mask_classes

    def exemplar_tensor(self, target: Any) -> Tensor:
        if isinstance(target, Tensor):
            return target if target.ndim == 4 else target[None]
        return read_exemplar(Path(str(target)).expanduser(), self.generator.size)[None]


def read_exemplar(path: Path, size: int) -> Tensor:
    """The exemplar image file as (3, size, size) in [-1, 1] (scaled to cover, centre-cropped)."""
    if not path.is_file():
        raise ConfigError(f"exemplar={path}: no such image file")
    if unreadable([path]):
        raise ConfigError(f"exemplar={path} is not a readable image")
    return to_tensor(cover_and_crop(open_image(path, "RGB"), (size, size)))
