"""UDA-Inversion (Xing et al., "Unsupervised Domain Adaptation GAN Inversion for Image
Editing"): an encoder into a frozen StyleGAN2, trained on clean source images, adapted to
degraded target images without pairs through an f-divergence discrepancy (Algorithm 1).

Inversion (HFGI's, which the official code builds on; ``methods/inversion/encoder_inversion.py``):
W+ codes w = w_avg + E0(x); the coarse image x̃ = G(w); the distortion x - x̃ goes through
the aligner (ADA) and the consultation encoder into (scale, shift) conditions; the
reconstruction is x̂ = G(w, conditions). The encoder player trains E0 (``train_encoder``;
the official code freezes a pretrained e4e loaded from ``encoder_path``), the consultation
encoder ``residue`` and the aligner ``grid_align``.

Each batch, two phases (Algorithm 1):

1. ``head``: the trainable feature head Ĥ ascends d_st (eq. 19; ``objectives.discrepancy``)
   with the encoder's reconstructions fixed;
2. ``encoder``: descends L_s + lambda_uda d_st (eq. 20), with the source loss L_s =
   lambda_l2 L2 + lambda_lpips LPIPS + lambda_id ID + lambda_align L_align (eq. 9-12) on
   source images only; target images enter through d_st alone.

``discrepancy_form`` picks how d_st is computed and trained:

- ``paper``: eq. 19 as written, mean_s g_f(ℓ̂) - mean_t f*(g_f(ℓ̂)) (f* of each target
  sample); the encoder descends d_st itself (eq. 20, Algorithm 1 step 4) and its gradient
  reaches the reconstructions through both of ℓ̂'s branches, Ĥ's and H's;
- ``official``: the official code's, g_f(mean_s ℓ̂) - f*(g_f(mean_t ℓ̂)) (f* of the batch
  mean); the encoder descends |d_st|, and H's branch of ℓ̂ is computed without gradient.

``distance_calibration: per_layer`` (ours) rescales each layer's share of ℓ̂ by its mean
distance on the first training batch (``balanced_layer_weights``), kept in checkpoints;
``none`` sums the layers as they come, as the paper and the official code do.

The reconstructions of both domains and H's features of them are computed once per step
(``ctx.remember``): the head phase reads them detached, the encoder phase trains through
them. ``lambda_uda: 0`` is the no-adaptation ablation (the head still trains, so d_st is
logged, but the encoder's gradients are those of L_s alone). ``supervision: source`` trains
on source images alone, with no head (pSp's training: how the base encoder E0 of the
embedded experiments is made); ``supervision: paired`` is the supervised baseline of the
paper's Table II: no head, and L_s also on degraded target images against their clean
originals (``data.paired=true``). Ĥ is kept in eval mode (its BatchNorm layers use fixed
statistics), so ℓ̂ of an image does not depend on the rest of its batch.
"""

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kornia.augmentation as K
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from ganlab.assets import weights_file, write_manifest
from ganlab.checkpoints import save_model_file
from ganlab.errors import ConfigError
from ganlab.evaluation import Reconstruction
from ganlab.features.base import embed_together
from ganlab.features.discrepancy import discrepancy_nets
from ganlab.methods.base import (
    AdversarialModule,
    Frozen,
    OptimizerFactory,
    Phase,
    Player,
    StepContext,
)
from ganlab.methods.inversion.encoder_inversion import EncoderInversion
from ganlab.nets.encoders import load_net_weights
from ganlab.nets.stylegan2 import load_stylegan2
from ganlab.objectives.discrepancy import (
    DISCREPANCY_FORMS,
    balanced_layer_weights,
    domain_discrepancy,
    feature_distance,
    layer_distances,
)
from ganlab.objectives.divergences import get_divergence
from ganlab.objectives.reconstruction import (
    IDENTITY_LOSSES,
    align_loss,
    embedding_loss,
    identity_loss,
    l2_loss,
)

SUPERVISIONS = ("uda", "source", "paired")
DISTANCE_CALIBRATIONS = ("none", "per_layer")
EXPORT_DTYPES = ("float32", "float16", "bfloat16")


def frozen_file(net: nn.Module, path: str) -> Frozen:
    return Frozen.from_file(net, weights_file(path), shown_as=path)


class UDAInversion(EncoderInversion, AdversarialModule):
    step_phase = "encoder"

    def __init__(
        self,
        generator_path: str,
        encoder: Callable[..., nn.Module],
        encoder_optimizer: OptimizerFactory,
        head_optimizer: OptimizerFactory | None = None,
        encoder_path: str | None = None,
        train_encoder: bool = True,
        consultation: Callable[..., nn.Module] | None = None,
        condition_size: int = 64,
        aligner: Callable[..., nn.Module] | None = None,
        perceptual: str | None = "lpips_alex",
        identity: str | None = None,
        identity_loss_kind: str = "cosine",
        discrepancy_features: str = "lpips_alex",
        divergence: str = "pearson",
        discrepancy_form: str = "official",
        distance_calibration: str = "none",
        supervision: str = "uda",
        lambda_l2: float = 1.0,
        lambda_lpips: float = 0.8,
        lambda_id: float = 0.1,
        lambda_align: float = 0.0,
        lambda_uda: float = 0.5,
        aug_rate: float = 0.0,
        distortion_scale: float = 0.15,
        feature_size: int | None = None,
        export_dtype: str = "float32",
        input_size: int | None = None,
    ) -> None:
        if supervision not in SUPERVISIONS:
            raise ValueError(f"supervision must be one of {SUPERVISIONS}, got {supervision!r}")
        if discrepancy_form not in DISCREPANCY_FORMS:
            raise ValueError(
                f"discrepancy_form must be one of {DISCREPANCY_FORMS}, got {discrepancy_form!r}"
            )
        if distance_calibration not in DISTANCE_CALIBRATIONS:
            raise ValueError(
                f"distance_calibration must be one of {DISTANCE_CALIBRATIONS}, "
                f"got {distance_calibration!r}"
            )
        if distance_calibration != "none" and supervision != "uda":
            raise ValueError(
                f"distance_calibration={distance_calibration} weighs the layers of d_st's "
                f"distance, which supervision={supervision} does not compute: set it to none"
            )
        if identity_loss_kind not in IDENTITY_LOSSES:
            raise ValueError(f"identity_loss_kind must be one of {IDENTITY_LOSSES}")
        if not train_encoder and encoder_path is None:
            raise ValueError("train_encoder=false needs encoder_path (a pretrained encoder)")
        if not train_encoder and consultation is None:
            raise ValueError(
                "with the encoder frozen, nothing trains: add the consultation encoder"
            )
        generator, latent_avg = load_stylegan2(weights_file(generator_path))
        generator.use_grouped_conv(False)
        base = encoder(
            n_styles=generator.n_latent,
            image_size=input_size or generator.size,
            style_dim=generator.style_dim,
        )
        if encoder_path is not None:
            load_net_weights(base, weights_file(encoder_path), "encoder.", "encoder")
        trained: dict[str, nn.Module] = {"encoder": base} if train_encoder else {}
        frozen: dict[str, Frozen] = {"generator": frozen_file(generator, generator_path)}
        if not train_encoder:
            frozen["encoder"] = frozen_file(base, encoder_path)
        if consultation is not None:  # conditions fused into the condition_size block
            fusable = [2 ** (b + 3) for b in range(len(generator.to_rgbs))]
            if condition_size not in fusable:
                raise ConfigError(
                    f"condition_size={condition_size}: the conditions fuse into one of the "
                    f"{generator.size} px generator's blocks {fusable}"
                )
            channels = generator.channels[condition_size]
            trained["residue"] = consultation(channels, condition_size)
        if aligner is not None:
            trained["grid_align"] = aligner()
        if perceptual:
            frozen["perceptual_net"] = Frozen.feature(perceptual)
        if identity:
            frozen["identity_net"] = Frozen.feature(identity)
        uses_head = supervision == "uda"
        if uses_head:
            nets = discrepancy_nets(discrepancy_features)
            trained["head"] = nets.trainable
            frozen["head_reference"] = Frozen(
                nets.frozen, f"features:{discrepancy_features}", nets.fingerprint
            )
        super().__init__(trained, ema_decay=None, frozen=frozen)
        self.register_buffer("latent_avg", latent_avg)
        layer_weights = nets.layer_weights if uses_head and nets.layer_weights else []
        self.head_weight_names = [f"head_weight_{i}" for i in range(len(layer_weights))]
        for name, weight in zip(self.head_weight_names, layer_weights, strict=True):
            self.register_buffer(name, weight)
        self.discrepancy_form, self.distance_calibration = discrepancy_form, distance_calibration
        if distance_calibration == "per_layer":  # measured on the first training batch
            self.register_buffer("layer_balance", torch.ones(len(nets.frozen.stages)))
            self.register_buffer("layer_balance_measured", torch.tensor(False))
        self.encoder_optimizer = encoder_optimizer
        self.head_optimizer = head_optimizer or encoder_optimizer
        self.train_encoder, self.supervision, self.uses_head = train_encoder, supervision, uses_head
        self.identity_loss_kind = identity_loss_kind
        self.divergence = get_divergence(divergence)
        self.weights = {
            "l2": lambda_l2,
            "lpips": lambda_lpips,
            "id": lambda_id,
            "align": lambda_align,
            "discrepancy": lambda_uda,
        }
        self.warp = (
            K.RandomPerspective(distortion_scale, p=1.0, same_on_batch=True)
            if aug_rate > 0
            else None
        )
        self.aug_rate, self.feature_size = aug_rate, feature_size
        self.condition_size = condition_size
        if export_dtype not in EXPORT_DTYPES:
            raise ValueError(f"export_dtype must be one of {EXPORT_DTYPES}, got {export_dtype!r}")
        self.export_dtype = getattr(torch, export_dtype)
        self.train()  # puts the head in eval mode from the start

    # ---- the game (Algorithm 1) ----------------------------------------------------------
    def encoder_nets(self) -> tuple[str, ...]:
        return tuple(n for n in ("encoder", "residue", "grid_align") if n in self.net_names)

    def players(self) -> list[Player]:
        players = [Player("encoder", self.encoder_nets(), self.encoder_optimizer)]
        if self.uses_head:
            players.append(Player("head", ("head",), self.head_optimizer))
        return players

    def phases(self) -> list[Phase]:
        encoder = Phase("encoder", "encoder", self.encoder_loss)
        return [Phase("head", "head", self.head_loss), encoder] if self.uses_head else [encoder]

    def reconstructions(self, batch: dict[str, Tensor], ctx: StepContext) -> dict[str, dict]:
        """Source and target inversions, once per step, with a graph to the encoder nets."""
        return ctx.remember(
            "inversions",
            lambda: {
                "source": self.invert_parts(batch["source"]),
                "target": self.invert_parts(batch["target"]),
            },
        )

    def reference_maps(self, batch: dict[str, Tensor], ctx: StepContext) -> dict[str, list]:
        """H's maps of both domains' reconstructions, once per step: with their graph to the
        encoder nets in the paper's form (eq. 19 differentiates both branches of ℓ̂), without
        gradient in the official code's."""

        def compute() -> dict[str, list]:
            parts = self.reconstructions(batch, ctx)
            with torch.set_grad_enabled(self.discrepancy_form == "paper"):
                images = {d: self.for_features(parts[d]["image"]) for d in ("source", "target")}
                return {domain: self.head_reference(image) for domain, image in images.items()}

        return ctx.remember("reference_maps", compute)

    def head_layer_distances(self, images: Tensor, reference: list[Tensor]) -> Tensor:
        """(B, L): per layer, the LPIPS-style distance of Ĥ's features of ``images`` and H's."""
        return layer_distances(self.head(images), reference, self.head_weights())

    def head_weights(self) -> list[Tensor] | None:
        """LPIPS's channel weights of H's layers (buffers, so they follow the device)."""
        return [self.get_buffer(name) for name in self.head_weight_names] or None

    def discrepancy(
        self, batch: dict[str, Tensor], ctx: StepContext, detached: bool = False
    ) -> Tensor:
        """d_st of this step's reconstructions (eq. 19); ``detached``: with the encoder's
        outputs fixed (the head's phase)."""
        parts, reference = self.reconstructions(batch, ctx), self.reference_maps(batch, ctx)
        per_layer = {}
        for domain in ("source", "target"):
            image, maps = self.for_features(parts[domain]["image"]), reference[domain]
            if detached:
                image, maps = image.detach(), [m.detach() for m in maps]
            per_layer[domain] = self.head_layer_distances(image, maps)
        balance = self.layer_balance_now(per_layer)
        distances = {d: feature_distance(per_layer[d], balance) for d in per_layer}
        for domain, distance in distances.items():
            self.log_step(f"uda/{self.phase_name}/distance_{domain}", distance.mean())
        d_st = domain_discrepancy(
            distances["source"], distances["target"], self.divergence, self.discrepancy_form
        )
        self.log_step(f"uda/{self.phase_name}/d_st", d_st)
        return d_st

    def layer_balance_now(self, per_layer: dict[str, Tensor]) -> Tensor | None:
        """The layers' balance weights of ``distance_calibration=per_layer`` (None: plain
        sum), measured the first time on these (B, L) distances of both domains: their mean
        per layer, averaged over the processes of a DDP run."""
        if self.distance_calibration == "none":
            return None
        if not bool(self.layer_balance_measured):
            with torch.no_grad():
                means = torch.cat([per_layer["source"], per_layer["target"]]).mean(dim=0)
                if dist.is_available() and dist.is_initialized():
                    dist.all_reduce(means)
                    means /= dist.get_world_size()
                self.layer_balance.copy_(balanced_layer_weights(means))
            self.layer_balance_measured.fill_(True)
        return self.layer_balance

    def head_loss(self, batch: dict[str, Tensor], ctx: StepContext) -> Tensor:
        return -self.discrepancy(batch, ctx, detached=True)  # the head maximises d_st

    def encoder_loss(self, batch: dict[str, Tensor], ctx: StepContext) -> Tensor:
        if self.supervision == "paired":
            return self.paired_loss(batch)
        if self.supervision == "source":
            terms = self.source_terms(self.invert_parts(batch["source"]), batch["source"])
            return self.weighted_terms(terms)
        parts = self.reconstructions(batch, ctx)
        terms = self.source_terms(parts["source"], batch["source"])
        d_st = self.discrepancy(batch, ctx)
        terms["discrepancy"] = d_st if self.discrepancy_form == "paper" else d_st.abs()
        return self.weighted_terms(terms)

    def paired_loss(self, batch: dict[str, Tensor]) -> Tensor:
        if "target_clean" not in batch:
            raise ConfigError(
                "supervision=paired trains on clean/degraded pairs: set data.paired=true"
            )
        source = self.source_terms(self.invert_parts(batch["source"]), batch["source"])
        target = self.source_terms(self.invert_parts(batch["target"]), batch["target_clean"])
        terms = {name: (source[name] + target[name]) / 2 for name in source}
        return self.weighted_terms(terms)

    def weighted_terms(self, terms: dict[str, Tensor]) -> Tensor:
        """sum of lambda_term x term over the terms this configuration computes."""
        return self.weighted_sum(terms, {k: v for k, v in self.weights.items() if k in terms})

    def for_features(self, images: Tensor) -> Tensor:
        """Images as the feature nets see them: average-pooled to ``feature_size`` when set
        (pSp and HFGI pool 1024 px outputs to 256 px for their losses)."""
        if self.feature_size is None or images.shape[-1] == self.feature_size:
            return images
        return F.adaptive_avg_pool2d(images, self.feature_size)

    def source_terms(self, parts: dict[str, Tensor], clean: Tensor) -> dict[str, Tensor]:
        """The unweighted terms of L_s (eq. 9-12) for reconstructions ``parts`` of ``clean``:
        L2 at full size, the feature-net terms at ``feature_size``."""
        terms = {"l2": l2_loss(parts["image"], clean)}
        image, clean = self.for_features(parts["image"]), self.for_features(clean)
        names = [n for n in ("perceptual_net", "identity_net") if n in self.frozen_sources]
        nets = [getattr(self, name) for name in names]  # one pass where they share a trunk
        with torch.no_grad():
            wanted = dict(zip(names, embed_together(clean, nets), strict=True))
        got = dict(zip(names, embed_together(image, nets), strict=True))
        if "perceptual_net" in got:
            terms["lpips"] = embedding_loss(got["perceptual_net"], wanted["perceptual_net"])
        if "identity_net" in got:
            terms["id"] = identity_loss(
                got["identity_net"], wanted["identity_net"], self.identity_loss_kind
            )
        if "aligned" in parts:
            terms["align"] = align_loss(parts["aligned"], parts["distortion"])
        return terms

    def train(self, mode: bool = True) -> "UDAInversion":
        super().train(mode)
        if "head" in self.net_names:
            self.head.eval()  # fixed BatchNorm statistics: ℓ̂ of an image is per image
        return self

    def export(self, run_dir: Path, record: dict[str, Any]) -> None:
        """Write the trained model as ``<name>.pt``, a published model that ``ckpt_path=`` and
        ``asset=`` read (frozen nets by reference), with its manifest entry; ship it with
        ``python -m ganlab.assets publish <run dir>``."""
        filename = f"{record['name']}.pt"
        path = run_dir / filename
        sha256 = save_model_file(self, record["config"], path, self.export_dtype)
        entry = {
            "command": record["command"],
            "seed": record["seed"],
            "sha256": sha256,
            "run_step": self.run_step,
            "dtype": str(self.export_dtype).removeprefix("torch."),
            "created": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "evaluation": record["metrics"],
        }
        write_manifest(run_dir, {filename: entry})

    def evaluations(self) -> list[Reconstruction]:
        return [
            Reconstruction(inputs={"source": ("clean", "clean"), "target": ("degraded", "clean")})
        ]
