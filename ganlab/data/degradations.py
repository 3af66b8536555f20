"""Image degradations: the target domain of UDA-Inversion, batched on the batch's device.

Xing et al., "Unsupervised Domain Adaptation GAN Inversion for Image Editing", build their
target domain by giving each clean image one degradation drawn at random: a rain layer
(imgaug's RainLayer), a brush-stroke mask (GPEN's, painted white) or a 2x down-and-up resize
(an antialiased bicubic down, a bilinear up). ``conf/degradation/random_one.yaml`` is that mix;
this module also has blur, noise and JPEG.

API. ``build(name, **params)`` returns a ``Degradation`` (an ``nn.Module``) for a name in
``NAMES``, or for a list of names (or ``{name: ..., **params}`` mappings), which means
``random_one`` over them; ``from_config(cfg)`` does the same from a config mapping such as
``conf/degradation/<name>.yaml``. ``deg(x, generator=None)`` takes a (B, C, H, W) float batch
in [-1, 1] on any device and returns a batch of the same shape, dtype and device in [-1, 1]
(float16/bfloat16 batches are computed in float32 and rounded back once).

Randomness. A call draws B int64 seeds from ``generator`` (a ``torch.Generator`` on any device,
an int that seeds a fresh CPU one, or None for torch's global CPU RNG, so ``torch.manual_seed``
makes it repeatable) and calls ``deg.degrade(x, seeds)``. Sample i's random parameters (and
pixel fields such as noise) are drawn on the CPU from a generator seeded with ``seeds[i]`` and
moved to the batch's device, so sample i depends on ``x[i]`` and ``seeds[i]`` only: not on
the rest of the batch, and not on the device (up to the device's float arithmetic).
Deterministic degradations (``none``, ``downsample``) draw the seeds too, so every degradation
advances ``generator`` by the same amount.
"""

import inspect
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

import kornia
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, ListConfig, OmegaConf
from torch import Tensor, nn

from ganlab.errors import ConfigError

Range = float | Sequence[float]
Seed = torch.Generator | int | None

_SEED_HIGH = 2**62  # seeds are drawn uniformly from [0, 2**62)


def _as_range(param: str, value: Any, low: float, high: float) -> tuple[float, float]:
    """``value`` (a number or a [min, max] pair) as a pair with low <= min <= max <= high."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        pair = (value, value)
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        pair = tuple(value)
    else:
        pair = None
    if pair is None or not all(isinstance(v, int | float) for v in pair):
        raise ConfigError(f"{param} must be a number or a [min, max] pair, not {value!r}")
    if not low <= pair[0] <= pair[1] <= high:
        raise ConfigError(f"{param}={list(pair)} must satisfy {low} <= min <= max <= {high}")
    return float(pair[0]), float(pair[1])


def _lerp(bounds: tuple[float, float], u: Tensor) -> Tensor:
    """Uniform draws ``u`` in [0, 1) mapped onto [min, max]."""
    return bounds[0] + (bounds[1] - bounds[0]) * u


def sample_seeds(n: int, generator: Seed = None) -> Tensor:
    """(n,) int64 per-sample seeds on the CPU from ``generator`` (see the module docstring)."""
    if isinstance(generator, int):
        generator = torch.Generator().manual_seed(generator)
    device = "cpu" if generator is None else generator.device
    return torch.randint(0, _SEED_HIGH, (n,), generator=generator, device=device).cpu()


def _generators(seeds: Tensor) -> list[torch.Generator]:
    """One CPU generator per sample, seeded with its seed."""
    return [torch.Generator().manual_seed(int(s)) for s in seeds.tolist()]


def _rand(gens: list[torch.Generator], *shape: int) -> Tensor:
    """(B, *shape) uniform [0, 1) draws, row i from ``gens[i]``."""
    return torch.stack([torch.rand(shape, generator=g) for g in gens])


def _randn(gens: list[torch.Generator], *shape: int) -> Tensor:
    """(B, *shape) standard normal draws, row i from ``gens[i]``."""
    return torch.stack([torch.randn(shape, generator=g) for g in gens])


class Degradation(nn.Module, ABC):
    """A random degradation of (B, C, H, W) batches in [-1, 1]; see the module docstring."""

    name = ""

    def forward(self, x: Tensor, generator: Seed = None) -> Tensor:
        return self.degrade(x, sample_seeds(len(x), generator))

    def degrade(self, x: Tensor, seeds: Tensor) -> Tensor:
        """``x`` (B, C, H, W) degraded with per-sample ``seeds`` (B,) int64."""
        if x.ndim != 4 or not x.is_floating_point():
            raise ValueError(
                f"degradation {self.name!r} expects a (B, C, H, W) float batch in [-1, 1], "
                f"got {tuple(x.shape)} {x.dtype}"
            )
        if seeds.shape != (len(x),):
            raise ValueError(f"expected {len(x)} seeds, one per sample, got {tuple(seeds.shape)}")
        low_precision = x.dtype in (torch.float16, torch.bfloat16)
        return self._degrade(x.float() if low_precision else x, seeds).to(x.dtype)

    @abstractmethod
    def _degrade(self, x: Tensor, seeds: Tensor) -> Tensor:
        """The degradation itself, on a float32 (or float64) batch."""

    def extra_repr(self) -> str:
        params = inspect.signature(type(self)).parameters
        return ", ".join(f"{p}={getattr(self, p)!r}" for p in params)


class Identity(Degradation):
    """``none``: the clean image (the source domain, or an ablation without degradation)."""

    name = "none"

    def _degrade(self, x: Tensor, seeds: Tensor) -> Tensor:
        return x


def _window_sum(t: Tensor, n: Tensor) -> Tensor:
    """Sum over the last dim of ``t`` (B, R, L) in windows of ``n`` (B,) ending at each index."""
    total = t.cumsum(-1)
    n_max = int(n.max())
    padded = F.pad(total, (n_max, 0))
    index = torch.arange(t.shape[-1], device=t.device) + n_max - n[:, None, None]
    return total - padded.gather(-1, index.expand_as(t))


class Rain(Degradation):
    """``rain``: straight streaks of one grey level blended over the image.

    Per sample: drops fall on a square canvas (the image's diagonal wide) at a rate that
    puts ``density`` of the area under a streak (overlaps counted twice); each drop becomes a
    streak ``length`` x image height long and ``width`` x min(H, W) wide (at least 1 px),
    box sums over the canvas; the canvas is turned by ``angle`` degrees from vertical and
    sampled bilinearly onto the image, giving a layer R in [0, 1], and
    ``out = x + opacity * R * (brightness - x)``. ``brightness`` is the streaks' grey level
    in [-1, 1]. kornia's RandomRain writes a fixed value with no angle or opacity, so the
    layer is drawn here. Ranges are [min, max] (or one number), drawn per sample.
    """

    name = "rain"

    def __init__(
        self,
        density: Range = (0.05, 0.15),
        length: Range = (0.08, 0.2),
        width: Range = (0.005, 0.012),
        angle: Range = (-15.0, 15.0),
        brightness: Range = (0.6, 1.0),
        opacity: Range = (0.5, 0.8),
    ) -> None:
        super().__init__()
        self.density = _as_range("rain.density", density, 0.0, 1.0)
        self.length = _as_range("rain.length", length, 0.0, 1.0)
        self.width = _as_range("rain.width", width, 0.0, 1.0)
        self.angle = _as_range("rain.angle", angle, -90.0, 90.0)
        self.brightness = _as_range("rain.brightness", brightness, -1.0, 1.0)
        self.opacity = _as_range("rain.opacity", opacity, 0.0, 1.0)

    def _degrade(self, x: Tensor, seeds: Tensor) -> Tensor:
        alpha, grey = self.layer(seeds, *x.shape[-2:], device=x.device)
        return x + alpha.to(x.dtype) * (grey.to(x.dtype) - x)

    def layer(
        self, seeds: Tensor, height: int, width: int, device: Any = "cpu"
    ) -> tuple[Tensor, Tensor]:
        """(opacity * R (B, 1, H, W), the streaks' grey level (B, 1, 1, 1)), float32."""
        gens = _generators(seeds)
        u = _rand(gens, 6)
        side = math.ceil(math.hypot(height, width))
        lengths = (_lerp(self.length, u[:, 0]) * height).round().clamp(min=1).long()
        widths = (_lerp(self.width, u[:, 1]) * min(height, width)).round().clamp(min=1).long()
        rate = _lerp(self.density, u[:, 2]) / (lengths * widths)
        drops = (_rand(gens, side, side) < rate[:, None, None]).to(device, torch.float32)
        lengths, widths = lengths.to(device), widths.to(device)
        # drops (B, y, x): streaks run down y over `lengths`, across x over `widths`
        streaks = _window_sum(_window_sum(drops.transpose(1, 2), lengths).transpose(1, 2), widths)
        angle = torch.deg2rad(_lerp(self.angle, u[:, 3])).to(device)
        cos, sin, zero = angle.cos(), angle.sin(), torch.zeros_like(angle)
        # image (normalised) -> canvas (normalised): rotate, scaled by image size / canvas side
        theta = torch.stack(
            [
                torch.stack([cos * width / side, -sin * height / side, zero], -1),
                torch.stack([sin * width / side, cos * height / side, zero], -1),
            ],
            1,
        )
        grid = F.affine_grid(theta, [len(seeds), 1, height, width], align_corners=False)
        rain = F.grid_sample(streaks.clamp(max=1)[:, None], grid, align_corners=False)
        opacity = _lerp(self.opacity, u[:, 4]).to(device)[:, None, None, None]
        grey = _lerp(self.brightness, u[:, 5]).to(device)[:, None, None, None]
        return opacity * rain, grey


def _segment_distance(points: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Distance from ``points`` (2, P) to segments a->b, a and b (B, 2): (B, P)."""
    (px, py), (ax, ay), (abx, aby) = points, a.T[..., None], (b - a).T[..., None]
    apx, apy = px - ax, py - ay
    t = ((apx * abx + apy * aby) / (abx * abx + aby * aby).clamp(min=1e-12)).clamp(0, 1)
    return torch.hypot(apx - t * abx, apy - t * aby)


class Mask(Degradation):
    """``mask``: free-form brush strokes (``kind: strokes``) or boxes (``kind: boxes``)
    painted with ``fill`` (0: grey, 1: white as in UDA-Inversion, -1: black).

    Per sample: ``count`` shapes (an integer range) and a target coverage c in ``coverage``.
    A stroke is a zigzag polyline like GPEN's brush (5 to 7 segments, about 72 degrees either
    side of a random heading, steps of 0.5 to 1.5 x diagonal / 8); a box has a random centre
    and aspect ratio in [1/2, 2]. Each shape has a relative size s in [0.5, 1]; every pixel
    gets the score min over shapes of (distance to the stroke) / s, or (box-normalised
    Chebyshev distance to the centre) / s, and the round(c * H * W) pixels with the lowest
    scores are painted. So the shapes thicken until the mask covers exactly c (to half a
    pixel), instead of having a drawn width. ``masks(seeds, H, W)`` returns the masks alone.
    """

    name = "mask"
    KINDS = ("strokes", "boxes")
    SEGMENTS = (5, 7)  # segments per stroke, as GPEN's num_vertex
    TURN, TURN_JITTER = 2 * math.pi / 5, 2 * math.pi / 15  # GPEN's mean_angle, angle_range

    def __init__(
        self,
        kind: str = "strokes",
        coverage: Range = (0.1, 0.3),
        count: Range = (1, 3),
        fill: float = 0.0,
    ) -> None:
        super().__init__()
        if kind not in self.KINDS:
            raise ConfigError(f"mask.kind must be one of {', '.join(self.KINDS)}, not {kind!r}")
        self.kind = kind
        self.coverage = _as_range("mask.coverage", coverage, 0.0, 1.0)
        low, high = _as_range("mask.count", count, 1, 64)
        if low != int(low) or high != int(high):
            raise ConfigError(
                f"mask.count must be an integer or [min, max] integers, not {count!r}"
            )
        self.count = (int(low), int(high))
        if isinstance(fill, bool) or not isinstance(fill, int | float) or not -1 <= fill <= 1:
            raise ConfigError(f"mask.fill must be a number in [-1, 1], not {fill!r}")
        self.fill = float(fill)

    def _degrade(self, x: Tensor, seeds: Tensor) -> Tensor:
        return x.masked_fill(self.masks(seeds, *x.shape[-2:], device=x.device), self.fill)

    def masks(self, seeds: Tensor, height: int, width: int, device: Any = "cpu") -> Tensor:
        """(B, 1, H, W) bool: the pixels ``seeds`` paint."""
        gens = _generators(seeds)
        u = _rand(gens, 2)
        coverage = _lerp(self.coverage, u[:, 0])
        n_shapes = self.count[0] + (u[:, 1] * (self.count[1] - self.count[0] + 1)).long()
        ys, xs = torch.meshgrid(
            torch.arange(height, device=device) + 0.5,
            torch.arange(width, device=device) + 0.5,
            indexing="ij",
        )
        points = torch.stack([xs.flatten(), ys.flatten()])  # (2, H*W) pixel centres
        draw = self._stroke_scores if self.kind == "strokes" else self._box_scores
        score = torch.full((len(seeds), height * width), math.inf, device=device)
        for k in range(self.count[1]):
            shape_score = draw(gens, points, height, width)
            score = torch.where(
                (k < n_shapes).to(device)[:, None], score.minimum(shape_score), score
            )
        n_painted = (coverage * height * width + 0.5).floor().long().to(device)
        order = score.argsort(dim=1, stable=True)
        ranked = torch.arange(height * width, device=device)[None] < n_painted[:, None]
        return torch.zeros_like(ranked).scatter(1, order, ranked).view(-1, 1, height, width)

    def _stroke_scores(
        self, gens: list[torch.Generator], points: Tensor, height: int, width: int
    ) -> Tensor:
        """(B, P) distance of ``points`` to one zigzag stroke per sample, over its size."""
        max_segments = self.SEGMENTS[1]
        u = _rand(gens, 5 + 2 * max_segments)
        start = u[:, :2] * torch.tensor([width, height])
        heading = 2 * math.pi * u[:, 2]
        size = 0.5 + 0.5 * u[:, 3]
        n_segments = self.SEGMENTS[0] + (u[:, 4] * (max_segments - self.SEGMENTS[0] + 1)).long()
        turns = self.TURN + self.TURN_JITTER * (2 * u[:, 5 : 5 + max_segments] - 1)
        sides = torch.tensor([(-1.0) ** i for i in range(max_segments)])
        steps = math.hypot(height, width) / 8 * (0.5 + u[:, 5 + max_segments :])
        # segments past n_segments have zero length: they add only the last vertex
        steps = steps * (torch.arange(max_segments) < n_segments[:, None])
        direction = heading[:, None] + sides * turns
        moves = steps[..., None] * torch.stack([direction.cos(), direction.sin()], -1)
        limit = torch.tensor([float(width), float(height)])
        vertices = [start]
        for i in range(max_segments):
            vertices.append(torch.minimum(torch.clamp(vertices[-1] + moves[:, i], min=0), limit))
        vertices = torch.stack(vertices, 1).to(points.device)  # (B, segments + 1, 2)
        distance = _segment_distance(points, vertices[:, 0], vertices[:, 1])
        for i in range(1, max_segments):
            distance = distance.minimum(
                _segment_distance(points, vertices[:, i], vertices[:, i + 1])
            )
        return distance / size.to(points.device)[:, None]

    def _box_scores(
        self, gens: list[torch.Generator], points: Tensor, height: int, width: int
    ) -> Tensor:
        """(B, P) box-normalised Chebyshev distance of ``points`` to one box centre per sample."""
        u = _rand(gens, 4)
        centre = (u[:, :2] * torch.tensor([width, height])).to(points.device)
        aspect = torch.exp(math.log(2) * (2 * u[:, 2] - 1))  # width / height in [1/2, 2]
        size = 0.5 + 0.5 * u[:, 3]
        half = (size[:, None] * torch.stack([aspect.sqrt(), aspect.rsqrt()], -1)).to(points.device)
        return ((points[None] - centre[..., None]).abs() / half[..., None]).amax(1)


class Downsample(Degradation):
    """``downsample``: resize to (H // factor, W // factor) and back to (H, W), clamped.

    Exactly ``F.interpolate(F.interpolate(x, size=(H // factor, W // factor), mode=mode_down,
    antialias=antialias, align_corners=False), size=(H, W), mode=mode_up,
    align_corners=False).clamp(-1, 1)`` (``align_corners`` only for the linear/cubic modes).
    The default is an antialiased bilinear down (a triangle filter as wide as the factor)
    and a bilinear up. UDA-Inversion's is factor 2, an antialiased bicubic down (a=-0.5,
    which is torch's antialiased bicubic) and PIL's bilinear up: ``mode_down: bicubic``.
    Deterministic: the seeds are unused.
    """

    name = "downsample"
    MODES = ("nearest", "nearest-exact", "area", "bilinear", "bicubic")
    ANTIALIAS_MODES = ("bilinear", "bicubic")

    def __init__(
        self,
        factor: int = 4,
        mode_down: str = "bilinear",
        mode_up: str = "bilinear",
        antialias: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
            raise ConfigError(f"downsample.factor must be an integer >= 1, not {factor!r}")
        for param, mode in (("mode_down", mode_down), ("mode_up", mode_up)):
            if mode not in self.MODES:
                raise ConfigError(
                    f"downsample.{param} must be one of {', '.join(self.MODES)}, not {mode!r}"
                )
        if antialias and mode_down not in self.ANTIALIAS_MODES:
            raise ConfigError(
                f"downsample.antialias needs mode_down bilinear or bicubic, not {mode_down!r}; "
                "set antialias: false"
            )
        self.factor, self.mode_down, self.mode_up = factor, mode_down, mode_up
        self.antialias = bool(antialias)

    def _degrade(self, x: Tensor, seeds: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        if height < self.factor or width < self.factor:
            raise ValueError(
                f"downsample.factor={self.factor} is larger than the {height}x{width} images"
            )
        small = F.interpolate(
            x,
            size=(height // self.factor, width // self.factor),
            mode=self.mode_down,
            antialias=self.antialias,
            align_corners=_align_corners(self.mode_down),
        )
        up = F.interpolate(
            small,
            size=(height, width),
            mode=self.mode_up,
            align_corners=_align_corners(self.mode_up),
        )
        return up.clamp(-1, 1)


def _align_corners(mode: str) -> bool | None:
    """``align_corners=False`` where interpolate accepts it (linear and cubic modes)."""
    return False if mode in Downsample.ANTIALIAS_MODES else None


class Blur(Degradation):
    """``blur``: isotropic Gaussian blur (kornia.filters.gaussian_blur2d, replicated border),
    ``sigma`` in pixels drawn per sample; the kernel is 2 * ceil(3 * max sigma) + 1 wide."""

    name = "blur"

    def __init__(self, sigma: Range = (0.5, 2.0)) -> None:
        super().__init__()
        self.sigma = _as_range("blur.sigma", sigma, 1e-3, 100.0)

    def _degrade(self, x: Tensor, seeds: Tensor) -> Tensor:
        sigma = _lerp(self.sigma, _rand(_generators(seeds), 1)).to(x.device, x.dtype)
        kernel = 2 * math.ceil(3 * self.sigma[1]) + 1
        blurred = kornia.filters.gaussian_blur2d(
            x, kernel, sigma.expand(-1, 2), border_type="replicate"
        )
        return blurred.clamp(-1, 1)


class Noise(Degradation):
    """``noise``: additive white Gaussian noise, independent per pixel and channel, with
    ``std`` in [-1, 1] units drawn per sample, then clamped to [-1, 1]."""

    name = "noise"

    def __init__(self, std: Range = (0.05, 0.2)) -> None:
        super().__init__()
        self.std = _as_range("noise.std", std, 0.0, 10.0)

    def _degrade(self, x: Tensor, seeds: Tensor) -> Tensor:
        gens = _generators(seeds)
        std = _lerp(self.std, _rand(gens, 1))[:, :, None, None]
        noise = (std * _randn(gens, *x.shape[1:])).to(x.device, x.dtype)
        return (x + noise).clamp(-1, 1)


class JPEG(Degradation):
    """``jpeg``: JPEG compression and decompression at ``quality`` (1 to 100) drawn per sample,
    with kornia's differentiable codec (standard tables, 4:2:0 chroma) on (x + 1) / 2.
    Grey (C = 1) images are coded as RGB and averaged back; other channel counts are refused."""

    name = "jpeg"

    def __init__(self, quality: Range = (10.0, 50.0)) -> None:
        super().__init__()
        self.quality = _as_range("jpeg.quality", quality, 1.0, 100.0)

    def _degrade(self, x: Tensor, seeds: Tensor) -> Tensor:
        channels = x.shape[1]
        if channels not in (1, 3):
            raise ValueError(f"jpeg codes RGB or grey images, not {channels} channels")
        quality = _lerp(self.quality, _rand(_generators(seeds), 1)[:, 0]).to(x.device, x.dtype)
        rgb = ((x + 1) / 2).expand(-1, 3, -1, -1)
        coded = kornia.enhance.jpeg_codec_differentiable(rgb, quality)
        coded = coded.mean(1, keepdim=True) if channels == 1 else coded
        return (2 * coded - 1).clamp(-1, 1)


class RandomOne(Degradation):
    """``random_one``: each sample gets one of ``choices``, drawn with probabilities
    proportional to ``weights`` (default uniform), as UDA-Inversion degrades its targets.

    ``choices`` are names or ``{name: ..., **params}`` mappings. ``choose(seeds)`` gives the
    per-sample choice and the seed the chosen degradation gets, so sample i of the output is
    ``choices[kind[i]].degrade(x[i:i+1], child_seeds[i:i+1])``.
    """

    name = "random_one"

    def __init__(
        self, choices: Sequence[str | Mapping[str, Any]], weights: Sequence[float] | None = None
    ) -> None:
        super().__init__()
        if isinstance(choices, str) or not isinstance(choices, Sequence) or not choices:
            raise ConfigError(
                f"random_one.choices must be a non-empty list of degradation names or "
                f"{{name: ..., **params}} mappings, not {choices!r}"
            )
        self.choices = nn.ModuleList([_build_choice(c) for c in choices])
        weights = [1.0] * len(choices) if weights is None else list(weights)
        if len(weights) != len(choices) or min(weights) < 0 or sum(weights) <= 0:
            raise ConfigError(
                f"random_one.weights must be {len(choices)} non-negative numbers with a "
                f"positive sum (one per choice), not {weights!r}"
            )
        self.weights = [float(w) for w in weights]

    def choose(self, seeds: Tensor) -> tuple[Tensor, Tensor]:
        """(kind (B,) int64 index into ``choices``, child seeds (B,) int64), on the CPU."""
        weights = torch.tensor(self.weights)
        gens = _generators(seeds)
        kind = torch.stack([torch.multinomial(weights, 1, generator=g)[0] for g in gens])
        child = torch.stack([torch.randint(0, _SEED_HIGH, (), generator=g) for g in gens])
        return kind, child

    def _degrade(self, x: Tensor, seeds: Tensor) -> Tensor:
        kind, child = self.choose(seeds)
        out = x.clone()
        for k, degradation in enumerate(self.choices):
            picked = (kind == k).nonzero().squeeze(1)
            if len(picked):
                index = picked.to(x.device)
                out[index] = degradation.degrade(x[index], child[picked])
        return out

    def extra_repr(self) -> str:
        return f"weights={self.weights}"


_CLASSES = (Identity, Rain, Mask, Downsample, Blur, Noise, JPEG, RandomOne)
_REGISTRY: dict[str, type[Degradation]] = {cls.name: cls for cls in _CLASSES}
NAMES = tuple(_REGISTRY)


def _plain(value: Any) -> Any:
    """OmegaConf containers as plain lists and dicts; anything else as is."""
    if isinstance(value, DictConfig | ListConfig):
        return OmegaConf.to_container(value, resolve=True)
    return value


def _build_choice(choice: Any) -> Degradation:
    """A ``random_one`` choice: a name or a ``{name: ..., **params}`` mapping."""
    choice = _plain(choice)
    if isinstance(choice, Mapping):
        return from_config(choice)
    return build(choice)


def build(name: str | Sequence[str | Mapping[str, Any]], **params: Any) -> Degradation:
    """The degradation ``name`` (one of ``NAMES``) with ``params``; a list of names (or
    ``{name: ..., **params}`` mappings) is ``random_one`` over them, ``params`` then being
    random_one's (``weights``)."""
    name = _plain(name)
    params = {key: _plain(value) for key, value in params.items()}
    if not isinstance(name, str):
        return build("random_one", choices=name, **params)
    if name not in _REGISTRY:
        raise ConfigError(
            f"unknown degradation {name!r}; expected one of {', '.join(NAMES)} "
            "(or a list of them, meaning random_one)"
        )
    cls = _REGISTRY[name]
    valid = list(inspect.signature(cls).parameters)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ConfigError(
            f"degradation {name!r} has no parameter(s) {', '.join(unknown)}; "
            f"its parameters are: {', '.join(valid) or '(none)'}"
        )
    return cls(**params)


def from_config(cfg: Mapping[str, Any] | str | Sequence[Any]) -> Degradation:
    """``build`` from a config: a mapping ``{name: ..., **params}`` (e.g. a DictConfig of
    ``conf/degradation/<name>.yaml``), a name, or a list of names/mappings."""
    cfg = _plain(cfg)
    if not isinstance(cfg, Mapping):
        return build(cfg)
    if "name" not in cfg:
        raise ConfigError(
            f"a degradation config needs a 'name' (one of {', '.join(NAMES)}); got keys "
            f"{sorted(cfg)}"
        )
    params = dict(cfg)
    return build(params.pop("name"), **params)
