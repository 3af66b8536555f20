"""Target attribute vectors for multi-domain attribute translation (StarGAN, AttGAN, INIT).

Attributes are binary vectors in a data set's ``attribute_names`` order. Hair colours are
exclusive (StarGAN's test convention: at most one of black/blond/brown hair is on), so turning
one on turns the others off. ``parse_target`` reads what a user writes after
``task=translate attributes=``: ``[smiling, -eyeglasses]`` turns smiling on and eyeglasses
off and keeps the rest of each input's own attributes.
"""

from collections.abc import Sequence

from torch import Tensor

from ganlab.errors import ConfigError

EXCLUSIVE_GROUPS = (("black_hair", "blond_hair", "brown_hair"),)


def exclusive_partners(names: Sequence[str], index: int) -> list[int]:
    """Indices of the attributes that must be off when attribute ``index`` is on."""
    for group in EXCLUSIVE_GROUPS:
        if names[index] in group:
            return [
                names.index(other) for other in group if other != names[index] and other in names
            ]
    return []


def set_attribute(attributes: Tensor, names: Sequence[str], index: int, value: bool) -> Tensor:
    """(B, K) 0/1 vectors with attribute ``index`` set to ``value`` (its exclusive partners
    turned off when it is turned on)."""
    result = attributes.clone()
    result[:, index] = float(value)
    if value:
        result[:, exclusive_partners(names, index)] = 0.0
    return result


def flipped_attribute(attributes: Tensor, names: Sequence[str], index: int) -> Tensor:
    """Each vector with attribute ``index`` flipped, exclusivity kept: the single-attribute
    targets of StarGAN's and INIT's evaluations."""
    result = attributes.clone()
    for value in (False, True):
        rows = attributes[:, index] == float(not value)
        result[rows] = set_attribute(attributes[rows], names, index, value)
    return result


def parse_target(spec: Sequence[str] | str, names: Sequence[str]) -> list[tuple[int, bool]]:
    """``[name, -name, ...]`` -> [(index, value)]: ``name`` on, ``-name`` off."""
    items = [spec] if isinstance(spec, str) else list(spec)
    if not items:
        raise ConfigError("attributes= names at least one attribute, e.g. attributes=[smiling]")
    parsed = []
    for item in items:
        name = str(item).strip()
        value = not name.startswith("-")
        name = name.lstrip("+-")
        if name not in names:
            raise ConfigError(
                f"unknown attribute {name!r} in attributes=; this model has {', '.join(names)} "
                "(write name to turn one on, -name to turn it off)"
            )
        parsed.append((list(names).index(name), value))
    return parsed


def apply_target(attributes: Tensor, names: Sequence[str], spec: Sequence[str] | str) -> Tensor:
    """Each input's own attributes (B, K) with the changes ``spec`` names applied in order."""
    result = attributes.clone()
    for index, value in parse_target(spec, names):
        result = set_attribute(result, names, index, value)
    return result


def shuffled_targets(attributes: Tensor, permutation: Tensor) -> Tensor:
    """Training targets: the batch's own label vectors in a random order (StarGAN, AttGAN)."""
    return attributes[permutation.to(attributes.device)]
