"""What a method's evaluation computes, declared by the method and run by ganlab.

A method lists declarations in ``evaluations()``: the report (metrics.json), the periodic
evaluation callback and ``task=eval`` score each one; the first also decides what the
sample-grid callback draws. A declaration talks to the module only through the protocol it
names, so nothing here imports a method:

- :class:`Generation` (``SamplesNoise``): FID/KID of samples from fixed latents against the
  reference split, plus the judges the data offers (``datamodule.judges``). Preview: a
  grid of samples.
- :class:`Reconstruction` (``Reconstructs``): PSNR, SSIM, MSE, LPIPS, identity similarity
  and FID of reconstructions of the evaluation split's images, for each named input (e.g.
  ``source``: clean images, ``target``: degraded images compared with their clean
  originals). Preview: input | reconstruction | target rows.
- :class:`Translation` (``Translates``): per direction between the domains of two-domain
  data, FID of the translations against the target domain's real images, LPIPS diversity
  of several outputs per input (multimodal methods) and the attribute accuracy of the
  translations. Preview: source | translations rows.
"""

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from ganlab.data.attribute_targets import EXCLUSIVE_GROUPS, flipped_attribute, set_attribute
from ganlab.data.base import ImageDataModule, RendersGroundTruth, TwoDomainDataModule
from ganlab.errors import ConfigError
from ganlab.evaluation.judges import judge_samples
from ganlab.evaluation.tools import Budget, Tools
from ganlab.metrics.attributes import decisive_share, frequency_gaps
from ganlab.metrics.reconstruction import (
    lpips_distance,
    reconstruction_scores,
    scores_and_features,
)

Scores = tuple[dict[str, float], dict[str, Any]]  # (metrics, protocol)


@runtime_checkable
class SamplesNoise(Protocol):
    device: torch.device

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> Tensor: ...

    def sample(self, n: int | None = None, latent: Tensor | None = None) -> Tensor: ...

    @property
    def sampled_by(self) -> str: ...


@runtime_checkable
class Reconstructs(Protocol):
    device: torch.device

    def reconstruct(self, images: Tensor) -> Tensor:
        """(B, C, H, W) in [-1, 1] -> reconstructions of the same shape, in eval mode."""
        ...


@runtime_checkable
class Translates(Protocol):
    device: torch.device
    translation_kind: str  # what a target is: "target" (a domain), "attributes", "exemplar"
    translation_targets: tuple[str, ...]  # the domains (kind "target")

    def translate(self, images: Tensor, target: str, seed: int | None = None) -> Tensor:
        """(B, C, H, W) images -> their translations to domain ``target`` (``seed``: the
        style draw of a multimodal method)."""
        ...


class Evaluation(ABC):
    """One declared evaluation; ``needs`` names the tools it uses. A preview of ``rows``
    shows one input per column, as many as a grid row holds; otherwise a grid of samples.
    ``periodic``: also scored by the periodic evaluation (the training curve), not only at
    the end; ``previews``: can draw the sample grid."""

    needs: ClassVar[tuple[str, ...]] = ()
    rows: ClassVar[bool] = True
    periodic: ClassVar[bool] = True
    previews: ClassVar[bool] = True
    protocol: ClassVar[type]  # what the module must offer

    def check(self, module: nn.Module) -> None:
        """Refuse a module that lacks what this evaluation calls (before training starts)."""
        if not isinstance(module, self.protocol):
            raise ConfigError(
                f"{type(module).__name__} declares a {type(self).__name__} evaluation but lacks "
                f"{self.protocol.__name__}'s methods"
            )

    @abstractmethod
    def score(self, module: nn.Module, datamodule: Any, tools: Tools, budget: Budget) -> Scores:
        """(metrics, protocol) for metrics.json."""

    @abstractmethod
    def preview_inputs(self, module: nn.Module, datamodule: Any, n: int, seed: int) -> Any:
        """The fixed inputs of every preview of a run (drawn once)."""

    @abstractmethod
    def preview(self, module: nn.Module, inputs: Any) -> dict[str, Tensor]:
        """Labelled image rows (N, C, H, W) for the sample grid."""


class FinalFigures(Evaluation):
    """Figures measured once, for metrics.json (at the end of ``task=fit``, and by
    ``task=eval``): not on the periodic curve, no preview."""

    periodic: ClassVar[bool] = False
    previews: ClassVar[bool] = False

    def preview_inputs(self, module: nn.Module, datamodule: Any, n: int, seed: int) -> Any:
        raise TypeError(f"{type(self).__name__} draws no preview")

    def preview(self, module: nn.Module, inputs: Any) -> dict[str, Tensor]:
        raise TypeError(f"{type(self).__name__} draws no preview")


@dataclass(frozen=True)
class Notes(FinalFigures):
    """No figures: entries for metrics.json's protocol that say how the run was made (e.g.
    which embedding a loss used), fixed when the method declares them."""

    entries: Mapping[str, Any]
    protocol: ClassVar[type] = nn.Module

    def score(self, module: nn.Module, datamodule: Any, tools: Tools, budget: Budget) -> Scores:
        return {}, dict(self.entries)


def image_data(datamodule: Any, what: str) -> ImageDataModule:
    if not isinstance(datamodule, ImageDataModule):
        raise ConfigError(f"{what} needs image data; data={datamodule.name} gives none")
    return datamodule


def first_items(dataset: Dataset, n: int, batch_size: int = 250) -> Iterator[dict[str, Any]]:
    """The first ``n`` items of ``dataset`` in batches (a fixed, seed-free choice)."""
    seen = 0
    for batch in DataLoader(dataset, batch_size=batch_size):
        take = min(len(next(iter(batch.values()))), n - seen)
        yield {k: v[:take] if isinstance(v, Tensor) else v for k, v in batch.items()}
        seen += take
        if seen >= n:
            return


# images a reconstruction evaluation inverts at once: an encoder and its generator at 250 images
# held ~0.7 GB of activations at 64 px, for no speed on a CPU
RECONSTRUCTION_CHUNK = 64


@torch.no_grad()
def in_chunks(function: Any, images: Tensor, module: nn.Module, size: int = 250) -> Tensor:
    """``function`` over (N, ...) images in chunks, on the module's device in its dtype
    (float64 under ``trainer.precision=64-true``); float32 results on the CPU."""
    return torch.cat(
        [
            function(chunk.to(module.device, module.dtype)).float().cpu()
            for chunk in images.split(size)
        ]
    )


# ---- generation ------------------------------------------------------------------------
@torch.no_grad()
def generate(module: SamplesNoise, n: int, seed: int, batch_size: int = 250) -> Tensor:
    """``n`` images from the module's sampler, latents drawn from a generator seeded ``seed``."""
    rng = torch.Generator().manual_seed(seed)
    chunks = [
        module.sample(latent=module.sample_latent(min(batch_size, n - start), rng)).cpu()
        for start in range(0, n, batch_size)
    ]
    return torch.cat(chunks)


@dataclass(frozen=True)
class Generation(Evaluation):
    needs: ClassVar[tuple[str, ...]] = ("fid", "sample_attributes")
    rows: ClassVar[bool] = False
    protocol: ClassVar[type] = SamplesNoise

    def score(self, module: SamplesNoise, datamodule: Any, tools: Tools, budget: Budget) -> Scores:
        images = generate(module, budget.n, budget.seed)
        metrics: dict[str, float] = {}
        protocol: dict[str, Any] = {
            "n_generated": budget.n,
            "latent_seed": budget.seed,
            "generator": module.sampled_by,
        }
        for fid in (tools.fid, *tools.check_fids):
            if fid is None:
                continue
            scores, score_protocol = fid.score_images(images, module.device, budget.seed)
            metrics.update(scores)
            for entry in score_protocol.values():
                entry.update(latent_seed=budget.seed, generator=module.sampled_by)
            protocol.update(score_protocol)
        if tools.classifier is not None:
            judged, judged_protocol = self.attribute_scores(images, datamodule, tools)
            metrics.update(judged)
            protocol.update(judged_protocol)
        judged, judged_protocol = judge_samples(images, datamodule)
        metrics.update(judged)
        protocol.update(judged_protocol)
        return metrics, protocol

    @staticmethod
    def attribute_scores(images: Tensor, datamodule: Any, tools: Tools) -> Scores:
        """How legibly the attribute classifier reads the samples: the share whose every
        attribute it reads with probability < 0.1 or > 0.9, and how far the share of samples
        read as having each attribute lies from its share among the training images."""
        probabilities = torch.cat([tools.classifier(c) for c in images.split(250)]).sigmoid()
        reference = datamodule.attribute_table("train")
        gaps = frequency_gaps(probabilities, reference)
        names = list(datamodule.attribute_names)
        metrics = {
            "attributes_decisive": decisive_share(probabilities, margin=0.1),
            "attribute_frequency_gap": gaps.max().item(),
        }
        protocol = {
            "attributes_decisive": {
                "classifier": tools.classifier.source,
                "rule": "every attribute read with probability < 0.1 or > 0.9",
            },
            "attribute_frequency_gap": {
                "classifier": tools.classifier.source,
                "reference": f"{datamodule.name} train split ({len(reference)} labels)",
                "rule": "max over attributes of |share read with p > 0.5 - share in reference|",
                "per_attribute": dict(zip(names, gaps.tolist(), strict=True)),
            },
        }
        return metrics, protocol

    def preview_inputs(self, module: SamplesNoise, datamodule: Any, n: int, seed: int) -> Tensor:
        return module.sample_latent(n, torch.Generator().manual_seed(seed))

    def preview(self, module: SamplesNoise, inputs: Tensor) -> dict[str, Tensor]:
        return {"samples": module.sample(latent=inputs)}


# ---- reconstruction --------------------------------------------------------------------
@dataclass(frozen=True)
class Reconstruction(Evaluation):
    """``inputs``: name -> (input key, target key) of the evaluation split's items; a name
    ends each metric (``psnr_target``), the empty name none."""

    needs: ClassVar[tuple[str, ...]] = ("fid", "perceptual", "identity")
    protocol: ClassVar[type] = Reconstructs
    inputs: Mapping[str, tuple[str, str]] = field(default_factory=lambda: {"": ("image", "image")})

    def score(self, module: Reconstructs, datamodule: Any, tools: Tools, budget: Budget) -> Scores:
        dataset = image_data(datamodule, "a reconstruction evaluation").split_dataset(budget.split)
        n = min(budget.n, len(dataset))
        metrics: dict[str, float] = {}
        protocol: dict[str, Any] = {}
        for name, (input_key, target_key) in self.inputs.items():
            suffix = f"_{name}" if name else ""
            inputs, targets = self.collect(dataset, n, input_key, target_key)
            outputs = in_chunks(module.reconstruct, inputs, module, RECONSTRUCTION_CHUNK)
            # the FID net moves itself when it scores alone; here it shares the pass
            fid_net = tools.fid.extractor.to(module.device) if tools.fid is not None else None
            scores, features = scores_and_features(
                outputs, targets, tools.perceptual, tools.identity, fid_net
            )
            metrics.update({f"{metric}{suffix}": value for metric, value in scores.items()})
            described = {
                "split": budget.split,
                "n_images": n,
                "input": input_key,
                "compared_with": target_key,
                "perceptual": tools.perceptual.name if tools.perceptual else None,
                "identity": tools.identity.name if tools.identity else None,
            }
            protocol.update({f"{metric}{suffix}": described for metric in scores})
            if tools.fid is not None:
                fid, fid_protocol = tools.fid.score_features(
                    features, module.device, budget.seed, suffix=suffix
                )
                metrics.update(fid)
                protocol.update(fid_protocol)
        return metrics, protocol

    @staticmethod
    def collect(dataset: Dataset, n: int, input_key: str, target_key: str) -> tuple[Tensor, Tensor]:
        batches = list(first_items(dataset, n))
        for key in (input_key, target_key):
            if key not in batches[0]:
                raise ConfigError(
                    f"the evaluation items have no {key!r} (they have {', '.join(batches[0])})"
                )
        return (
            torch.cat([b[input_key] for b in batches]),
            torch.cat([b[target_key] for b in batches]),
        )

    def preview_inputs(self, module: Reconstructs, datamodule: Any, n: int, seed: int) -> Any:
        data = image_data(datamodule, "a reconstruction preview")
        dataset = data.split_dataset(data.val_split)
        n = min(n, len(dataset))
        return {name: self.collect(dataset, n, *keys) for name, keys in self.inputs.items()}

    def preview(self, module: Reconstructs, inputs: Any) -> dict[str, Tensor]:
        rows = {}
        for name, (images, targets) in inputs.items():
            label = f"{name} " if name else ""
            rows[f"{label}input"] = images
            rows[f"{label}reconstruction"] = in_chunks(
                module.reconstruct, images, module, RECONSTRUCTION_CHUNK
            )
            if not torch.equal(images, targets):
                rows[f"{label}target"] = targets
        return rows


# ---- translation -----------------------------------------------------------------------
@dataclass(frozen=True)
class Translation(Evaluation):
    """``directions``: (source domain, target domain) pairs; ``diversity`` > 1 scores that
    many outputs per input (a multimodal method's ``seed`` 0, 1, ...) by their mean pairwise
    LPIPS distance."""

    needs: ClassVar[tuple[str, ...]] = ("fid", "perceptual", "identity", "classifier")
    protocol: ClassVar[type] = Translates
    directions: tuple[tuple[str, str], ...] = (("a", "b"), ("b", "a"))
    diversity: int = 0

    def score(self, module: Translates, datamodule: Any, tools: Tools, budget: Budget) -> Scores:
        data = two_domains(datamodule)
        metrics: dict[str, float] = {}
        protocol: dict[str, Any] = {}
        for source, target in self.directions:
            suffix = f"_{source}_to_{target}"
            dataset = data.domain_dataset(budget.split, source)
            n = min(budget.n, len(dataset))
            images = torch.cat([b["image"] for b in first_items(dataset, n)])
            outputs = self.translations(module, images, target, seed=0)
            described = {"split": budget.split, "n_inputs": n, "source": source, "target": target}
            if tools.fid is not None:
                fid, fid_protocol = tools.fid.score_images(
                    outputs, module.device, budget.seed, domain=target, suffix=suffix
                )
                metrics.update(fid)
                protocol.update(fid_protocol)
            if self.diversity > 1 and tools.perceptual is not None:
                key = f"lpips_diversity{suffix}"
                metrics[key] = self.diversity_score(module, images, target, tools)
                protocol[key] = {**described, "outputs_per_input": self.diversity}
            wanted = data.domain_attributes(target)
            if wanted and tools.classifier is not None:
                key = f"attribute_accuracy{suffix}"
                metrics[key] = self.attribute_score(outputs, wanted, data, tools)
                protocol[key] = {
                    **described,
                    "attributes": wanted,
                    "classifier": tools.classifier.source,
                }
            truth = domain_ground_truth(data, dataset, n, wanted)
            if truth is not None:
                for kind, compared in (("ground_truth", outputs), ("input", images)):
                    scores = reconstruction_scores(
                        compared, truth, tools.perceptual, tools.identity
                    )
                    metrics.update({f"{k}_{kind}{suffix}": v for k, v in scores.items()})
                protocol[f"ground_truth{suffix}"] = {
                    **described,
                    "truth": f"the same identity rendered with {wanted}",
                    "_input": "the untranslated input against the same truth",
                }
        return metrics, protocol

    @staticmethod
    def translations(module: Translates, images: Tensor, target: str, seed: int) -> Tensor:
        return in_chunks(lambda x: module.translate(x, target, seed=seed), images, module)

    def diversity_score(
        self, module: Translates, images: Tensor, target: str, tools: Tools
    ) -> float:
        """Mean LPIPS distance between the outputs of consecutive style seeds."""
        outputs = [self.translations(module, images, target, k) for k in range(self.diversity)]
        distances = [
            lpips_distance(first, second, tools.perceptual)
            for first, second in zip(outputs, outputs[1:], strict=False)
        ]
        return sum(distances) / len(distances)

    @staticmethod
    def attribute_score(
        outputs: Tensor, wanted: dict[str, int], data: TwoDomainDataModule, tools: Tools
    ) -> float:
        """Accuracy of the classifier's verdict on the attributes the target domain has."""
        with torch.no_grad():
            logits = torch.cat([tools.classifier(chunk) for chunk in outputs.split(64)])
        columns = [data.attribute_names.index(name) for name in wanted]
        predicted = logits[:, columns] > 0
        wanted_values = torch.tensor([bool(v) for v in wanted.values()])
        return (predicted == wanted_values).double().mean().item()

    def preview_inputs(self, module: Translates, datamodule: Any, n: int, seed: int) -> Any:
        data = two_domains(datamodule)
        sources = dict.fromkeys(source for source, _ in self.directions)
        per_source = max(1, n // len(sources))
        return {
            source: torch.cat(
                [
                    b["image"]
                    for b in first_items(data.domain_dataset(data.val_split, source), per_source)
                ]
            )
            for source in sources
        }

    def preview(self, module: Translates, inputs: Any) -> dict[str, Tensor]:
        rows = {}
        for source, images in inputs.items():
            rows[source] = images
            for direction_source, target in self.directions:
                if direction_source == source:
                    for k in range(max(1, min(self.diversity, 3))):
                        label = f"{source}->{target}" + (f" (style {k})" if self.diversity else "")
                        rows[label] = self.translations(module, images, target, k)
        return rows


def domain_ground_truth(
    data: Any, dataset: Dataset, n: int, wanted: dict[str, int]
) -> Tensor | None:
    """The first ``n`` images of a domain rendered with the target domain's attribute values
    (``wanted``) and their own identities, where the data can render faces (ToyFaces)."""
    faces = getattr(data, "base", data)  # two domains of ToyFaces render through their base
    if not isinstance(faces, RendersGroundTruth) or not wanted:
        return None
    batches = list(first_items(dataset, n))
    if "identity" not in batches[0] or "attributes" not in batches[0]:
        return None
    names = list(data.attribute_names)
    targets = torch.cat([b["attributes"] for b in batches]).float()
    for name, value in wanted.items():
        targets = set_attribute(targets, names, names.index(name), bool(value))
    return ground_truth_renders(faces, batches, targets)


def two_domains(datamodule: Any) -> TwoDomainDataModule:
    if not isinstance(datamodule, TwoDomainDataModule):
        raise ConfigError(
            f"a translation evaluation needs two-domain data (e.g. data=toyfaces_domains); "
            f"data={datamodule.name} has no domains"
        )
    return datamodule


# ---- attribute translation -------------------------------------------------------------
@runtime_checkable
class TranslatesAttributes(Protocol):
    device: torch.device
    attribute_names: tuple[str, ...]

    def translate_attributes(self, images: Tensor, attributes: Tensor) -> Tensor:
        """(B, C, H, W) images and their (B, K) 0/1 target attributes -> translations."""
        ...


@dataclass(frozen=True)
class AttributeTranslation(Evaluation):
    """Multi-domain attribute translation (StarGAN, AttGAN, INIT) on labelled images of the
    evaluation split, whose own attributes are known:

    - ``attribute_accuracy_<name>``: each image translated with attribute k flipped
      (hair colours kept exclusive); the share the attribute classifier reads with k at its
      target value; ``attribute_accuracy_mean`` averages over the attributes;
    - ``attribute_accuracy_multi``: each image translated to the attributes of the next image
      of the split (several change at once); the share of (image, attribute) read right;
    - FID of the single-attribute translations (image i flipped on attribute i mod K);
    - with ground truth (ToyFaces: ``render(target attributes, same identity)``) the PSNR,
      SSIM, MSE (and LPIPS) of those translations against it (``_ground_truth``), beside
      the untranslated inputs against it (``_input``, the level a translation must beat).
    """

    needs: ClassVar[tuple[str, ...]] = ("fid", "perceptual", "identity", "classifier")
    protocol: ClassVar[type] = TranslatesAttributes

    def score(
        self, module: TranslatesAttributes, datamodule: Any, tools: Tools, budget: Budget
    ) -> Scores:
        data = image_data(datamodule, "an attribute translation evaluation")
        if isinstance(data, TwoDomainDataModule):
            return self.score_domains(module, data, tools, budget)
        dataset = data.split_dataset(budget.split)
        if data.translated_as_pairs:
            return self.score_pairs(module, dataset, data.paired_with, tools, budget)
        names = list(module.attribute_names)
        if list(data.attribute_names) != names:
            raise ConfigError(
                f"the model translates attributes {names}; data={data.name} labels "
                f"{list(data.attribute_names)}"
            )
        batches = list(first_items(dataset, min(budget.n, len(dataset))))
        images = torch.cat([b["image"] for b in batches])
        attributes = torch.cat([b["attributes"] for b in batches]).float()
        n = len(attributes)
        described = {"split": budget.split, "n_inputs": n}
        metrics: dict[str, float] = {}
        protocol: dict[str, Any] = {}
        single = one_flip_each(attributes, names)
        outputs = self.translated(module, images, single)
        if tools.classifier is not None:
            accuracies = []
            for index, name in enumerate(names):
                target = flipped_attribute(attributes, names, index)
                read = self.read(tools, self.translated(module, images, target))
                accuracies.append((read[:, index] == target[:, index].bool()).double().mean())
                metrics[f"attribute_accuracy_{name}"] = accuracies[-1].item()
            metrics["attribute_accuracy_mean"] = torch.stack(accuracies).mean().item()
            hair = [f"attribute_accuracy_{name}" for name in HAIR_COLOURS if name in names]
            if len(hair) > 1:  # INIT's Table 1 scores hair colour as one group
                metrics["attribute_accuracy_hair_colour"] = sum(metrics[k] for k in hair) / len(
                    hair
                )
            multi = attributes.roll(-1, 0)
            read = self.read(tools, self.translated(module, images, multi))
            metrics["attribute_accuracy_multi"] = (read == multi.bool()).double().mean().item()
            protocol["attribute_accuracy"] = {
                **described,
                "classifier": f"{tools.classifier.source}'s attribute head (logit > 0)",
                "single": "attribute k flipped (hair colours exclusive), every input, every k",
                "multi": "each input to the attributes of the next input of the split",
            }
        if tools.fid is not None:
            fid, fid_protocol = tools.fid.score_images(outputs, module.device, budget.seed)
            metrics.update(fid)
            protocol.update(fid_protocol)
        truth = ground_truth_renders(data, batches, single)
        if truth is not None:
            for suffix, compared in (("_ground_truth", outputs), ("_input", images)):
                scores = reconstruction_scores(compared, truth, tools.perceptual)
                metrics.update({f"{name}{suffix}": value for name, value in scores.items()})
            protocol["ground_truth"] = {
                **described,
                "truth": "the same identity rendered with the target attributes",
                "targets": "input i with attribute i mod K flipped",
                "_input": "the untranslated input against the same truth",
            }
        return metrics, protocol

    def score_domains(
        self, module: TranslatesAttributes, data: TwoDomainDataModule, tools: Tools, budget: Budget
    ) -> Scores:
        """Two domains as one attribute (0: the first, 1: the second): FID per direction."""
        metrics: dict[str, float] = {}
        protocol: dict[str, Any] = {}
        for value, (source, target) in enumerate(
            zip(data.domains[::-1], data.domains, strict=True)
        ):
            dataset = data.domain_dataset(budget.split, source)
            n = min(budget.n, len(dataset))
            images = torch.cat([b["image"] for b in first_items(dataset, n)])
            outputs = self.translated(module, images, torch.full((n, 1), float(value)))
            if tools.fid is not None:
                fid, fid_protocol = tools.fid.score_images(
                    outputs,
                    module.device,
                    budget.seed,
                    domain=target,
                    suffix=f"_{source}_to_{target}",
                )
                metrics.update(fid)
                protocol.update(fid_protocol)
        return metrics, protocol

    def score_pairs(
        self,
        module: TranslatesAttributes,
        dataset: Dataset,
        pair: str,
        tools: Tools,
        budget: Budget,
    ) -> Scores:
        """Paired domains (``pair`` -> image = attribute 1, image -> ``pair`` = 0, e.g.
        edges): the error of each translation against its pair, and FID of the translated
        images."""
        batches = list(first_items(dataset, min(budget.n, len(dataset))))
        pairs = torch.cat([b[pair] for b in batches])
        photos = torch.cat([b["image"] for b in batches])
        n = len(pairs)
        metrics: dict[str, float] = {}
        protocol: dict[str, Any] = {}
        for value, (inputs, truth, suffix) in enumerate(
            ((photos, pairs, f"_image_to_{pair}"), (pairs, photos, f"_{pair}_to_image"))
        ):
            outputs = self.translated(module, inputs, torch.full((n, 1), float(value)))
            scores = reconstruction_scores(outputs, truth, tools.perceptual)
            metrics.update({f"{name}{suffix}": score for name, score in scores.items()})
            protocol[f"pairs{suffix}"] = {"split": budget.split, "n_inputs": n}
            if value == 1 and tools.fid is not None:
                fid, fid_protocol = tools.fid.score_images(
                    outputs, module.device, budget.seed, suffix=suffix
                )
                metrics.update(fid)
                protocol.update(fid_protocol)
        return metrics, protocol

    @staticmethod
    @torch.no_grad()
    def translated(module: TranslatesAttributes, images: Tensor, targets: Tensor) -> Tensor:
        """Translations of (N, C, H, W) images to their (N, K) targets, in chunks of 250 on the
        module's device and dtype; float32 on the CPU."""
        chunks = []
        for start in range(0, len(images), 250):
            chunk, target = images[start : start + 250], targets[start : start + 250]
            device, dtype = module.device, module.dtype
            outputs = module.translate_attributes(chunk.to(device, dtype), target.to(device, dtype))
            chunks.append(outputs.float().cpu())
        return torch.cat(chunks)

    @staticmethod
    def read(tools: Tools, images: Tensor) -> Tensor:
        with torch.no_grad():
            return torch.cat([tools.classifier(chunk) for chunk in images.split(100)]) > 0

    def preview_inputs(
        self, module: TranslatesAttributes, datamodule: Any, n: int, seed: int
    ) -> Any:
        data = image_data(datamodule, "an attribute translation preview")
        batch = next(first_items(data.split_dataset(data.val_split), n))
        if data.attribute_names and not isinstance(data, TwoDomainDataModule):
            return batch["image"], batch["attributes"].float()
        paired = not isinstance(data, TwoDomainDataModule)
        if paired and data.paired_with is None:
            raise ConfigError(
                f"data={data.name} has neither attributes, nor two domains, nor pairs: "
                "nothing for an attribute translator to translate"
            )
        first, second = (data.paired_with, "image") if paired else ("image_a", "image_b")
        images = torch.cat([batch[first], batch[second]])[:n]
        domain = torch.cat([torch.zeros(len(batch[first]), 1), torch.ones(len(batch[second]), 1)])
        return images, domain[:n]

    def preview(self, module: TranslatesAttributes, inputs: Any) -> dict[str, Tensor]:
        images, attributes = inputs
        rows = {"input": images}
        for index, name in enumerate(module.attribute_names):
            target = flipped_attribute(attributes, module.attribute_names, index)
            label = f"flip {name}" if len(module.attribute_names) > 1 else "other domain"
            rows[label] = self.translated(module, images, target)
        return rows


HAIR_COLOURS = EXCLUSIVE_GROUPS[0]


def one_flip_each(attributes: Tensor, names: list[str]) -> Tensor:
    """Targets for (N, K) attributes: row i with attribute i mod K flipped (hair colours
    exclusive), so N translations cover every attribute."""
    targets = attributes.clone()
    for index in range(len(names)):
        rows = torch.arange(len(attributes)) % len(names) == index
        targets[rows] = flipped_attribute(attributes[rows], names, index)
    return targets


def ground_truth_renders(
    data: Any, batches: list[dict[str, Any]], targets: Tensor
) -> Tensor | None:
    """The inputs' identities rendered with ``targets``, where the data can (ToyFaces)."""
    if not isinstance(data, RendersGroundTruth) or "identity" not in batches[0]:
        return None
    identities = torch.cat([b["identity"] for b in batches])
    return torch.stack([data.render_face(t, i) for t, i in zip(targets, identities, strict=True)])
