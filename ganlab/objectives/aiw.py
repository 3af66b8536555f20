"""Adversarial Importance Weighting and Multi-hop Sample Training of INIT (Cao et al.,
"Informative Sample Mining Network for Multi-Domain Image-to-Image Translation", ECCV 2020,
sec. 3.1-3.2), as pure functions of tensors. Equation numbers are the paper's.
``ganlab.methods.translation.init`` wires them into the game.

- eq. 6: the embeddings phi(x) lie on a hypersphere of radius r; E is the (B, B) matrix of
  distances e_ij = ||phi(x_i^s) - phi(x_j^t)|| between the batch's sources and their
  translations, and dl = dl_n - dl_p = sum_ij e_ij - 2 trace(E): **one number for the
  batch** (the permuted pairs' distances summed, less the matched pairs' sum).
- eq. 7: AIW(x^t) = ||1 + (dl* - dl)||^2 * exp(D~(x^t)), dl* = 2r, D~ the discriminator's
  logit (the optimal discriminator has exp(D~) = p_data / p_g, eq. 3-5). The first factor
  scales the whole batch; exp(D~) ranks its samples.
- eq. 8: L_g = E[AIW * log(1 - D(x^t, a^t))], minimised by G and maximised by D (eq. 2).
- eq. 9: x^{t_n} = G(x^{t_{n-1}}, a^{t_n}), the n-hop image.
- eq. 10: L_g = sum_{n=1..N} E[AIW * E_{n-hop}[sum_{i=1..n} log(1 - D(x^{t_i}, a^{t_i}))]]:
  hop i lies in the chains n = i..N, so it counts N - i + 1 times (``nested_hop_weights``).

The paper's dl* = 2r is the largest value of a *mean* distance, while eq. 6 sums: with sums
dl reaches 2r B (B - 1), so for a batch of 16 with r = 1 the factor is of order 10^4-10^5 and
the adversarial term outweighs any other term of the same loss. ganlab follows eq. 6 by
default; ``per_sample_distance_gap`` (a gap per translation, from means) and normalising the
weights to a batch mean of 1 (which cancels the batch factor) are the pre-change readings.

Ours where the paper is silent: the weights are constants (no gradient through them), and
exp(D~) is taken in float32 from D~ clamped to [-max_logit, max_logit] for numerical safety
only (float32 exp overflows above 88.7; the default 50 leaves room for the batch factor and
is reached only by a fake that D calls real with probability 1 - 2e-22).
"""

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def project_to_sphere(embeddings: Tensor, radius: float) -> Tensor:
    """(B, D) embeddings scaled to norm ``radius``."""
    # sec. 3.1: phi(x) projected onto a hypersphere of radius r
    return radius * F.normalize(embeddings.flatten(1), dim=1)


def distance_matrix(source_embeddings: Tensor, target_embeddings: Tensor) -> Tensor:
    """E, (B, B): rows sources, columns translations."""
    # eq. 6: e_ij = ||phi(x_i^s) - phi(x_j^t)||_2
    return torch.cdist(
        source_embeddings, target_embeddings, compute_mode="donot_use_mm_for_euclid_dist"
    )


def batch_distance_gap(distances: Tensor) -> Tensor:
    """One dl for the batch from its (B, B) distance matrix: a 0-dim tensor."""
    # eq. 6: dl = dl_n - dl_p = sum_ij e_ij - 2 trace(E)
    return distances.sum() - 2 * distances.trace()


def per_sample_distance_gap(distances: Tensor) -> Tensor:
    """(B,) gaps, each translation's mean distance to the other sources less its distance to
    its own; bounded by dl* = 2r like a single distance."""
    # ours (the pre-change reading of eq. 6): dl_j = mean_{i != j} e_ij - e_jj per translation
    n = distances.shape[0]
    if n < 2:
        raise ValueError(
            "the per-sample gap compares a translation with other sources: it needs a batch "
            "of >= 2 (or model.aiw_gap=batch)"
        )
    matched = distances.diagonal()
    permuted = (distances.sum(0) - matched) / (n - 1)
    return permuted - matched


def aiw_scale(gap: Tensor, radius: float) -> Tensor:
    """The embedding factor of AIW, of the gap's shape (0-dim for the batch gap)."""
    # eq. 7: ||1 + (dl* - dl)||^2 with dl* = 2r
    return (1 + (2 * radius - gap)).pow(2)


GAPS: dict[str, Callable[[Tensor], Tensor]] = {
    "batch": batch_distance_gap,
    "per_sample": per_sample_distance_gap,
}


def embedding_scale(
    source_embeddings: Tensor, target_embeddings: Tensor, radius: float, gap: str = "batch"
) -> Tensor:
    """(1 + dl* - dl)^2 with both embeddings projected onto the sphere; ``gap`` is ``batch``
    (eq. 6, a 0-dim factor) or ``per_sample`` (pre-change, (B,))."""
    # eq. 6-7: the embedding factor from raw embeddings of sources and translations
    if gap not in GAPS:
        raise ValueError(f"gap must be one of {sorted(GAPS)}, got {gap!r}")
    source = project_to_sphere(source_embeddings, radius)
    target = project_to_sphere(target_embeddings, radius)
    return aiw_scale(GAPS[gap](distance_matrix(source, target)), radius)


def importance_weights(
    scale: Tensor, logits: Tensor, max_logit: float | None = 50.0, normalise: bool = False
) -> Tensor:
    """(B,) weights from the embedding factor (0-dim or (B,)) and each sample's logit D~ (B,),
    in float32 and detached: weights are constants. D~ is clamped to [-max_logit, max_logit]
    first (None: not clamped); ``normalise`` divides by the batch mean (ours, pre-change)."""
    # eq. 7: AIW = ||1 + (dl* - dl)||^2 * exp(D~(x^t))
    logits = logits.detach().float()
    if max_logit is not None:
        logits = logits.clamp(-max_logit, max_logit)
    weights = scale.detach().float() * torch.exp(logits)
    return weights / weights.mean() if normalise else weights


def per_sample_logits(logits: Tensor) -> Tensor:
    """(B, 1, h, w) logit map -> (B,)."""
    # ours: a patch discriminator's D~ of a sample is the mean of its patch logits
    return logits.flatten(1).mean(1)


def per_sample(weights: Tensor, terms: Tensor) -> Tensor:
    """Per-sample weights (B,) broadcast over a (B, ...) map of per-patch loss terms."""
    return weights.view(-1, *([1] * (terms.dim() - 1))).to(terms) * terms


def discriminator_real_loss(real_logits: Tensor) -> Tensor:
    """Logits of any shape (B, ...), every patch its own term."""
    # eq. 2's L_data for D: -E log D(x^s, a^s)
    return F.softplus(-real_logits).mean()


def discriminator_fake_loss(fake_logits: Tensor, weights: Tensor | None = None) -> Tensor:
    """Logits of any shape (B, ...), each sample's weight on every one of its patches."""
    # eq. 8 for D: -E[AIW * log(1 - D(x^t, a^t))] (D maximises L_g)
    terms = F.softplus(fake_logits)
    return (terms if weights is None else per_sample(weights, terms)).mean()


def saturating_generator_loss(fake_logits: Tensor, weights: Tensor | None = None) -> Tensor:
    """L_g itself, the negative of the discriminator's fake term."""
    # eq. 8 for G: E[AIW * log(1 - D(x^t, a^t))] (G minimises L_g: the saturating form)
    return -discriminator_fake_loss(fake_logits, weights)


def non_saturating_generator_loss(fake_logits: Tensor, weights: Tensor | None = None) -> Tensor:
    """Logits of any shape (B, ...), each sample's weight on every one of its patches."""
    # ours (the pre-change default): -E[AIW * log D(x^t, a^t)], the non-saturating form
    terms = F.softplus(-fake_logits)
    return (terms if weights is None else per_sample(weights, terms)).mean()


def multi_hop(
    translate: Callable[[Tensor, Tensor], Tensor], images: Tensor, hop_attributes: Sequence[Tensor]
) -> list[Tensor]:
    """Every hop's image, the n-th read by hop n + 1."""
    # eq. 9: x^{t_n} = G(x^{t_{n-1}}, a^{t_n}) for n = 1..N, x^{t_0} = x^s
    if not hop_attributes:
        raise ValueError("multi-hop translation needs at least one hop")
    hops, current = [], images
    for attributes in hop_attributes:
        current = translate(current, attributes)
        hops.append(current)
    return hops


def nested_hop_weights(n_hops: int) -> list[float]:
    """Hop i's weight: the number of the chains n = i..N of eq. 10 that contain it."""
    # eq. 10: sum_{n=1..N} sum_{i=1..n} L_i = sum_{i=1..N} (N - i + 1) L_i
    return [float(n_hops - i) for i in range(n_hops)]


def multi_hop_loss(hop_losses: Sequence[Tensor], weights: Sequence[float] | None = None) -> Tensor:
    """sum_i w_i L_i over the hops."""
    # eq. 10: the hops' terms summed with their weights (None: each hop once)
    if not hop_losses:
        raise ValueError("the multi-hop loss needs at least one hop")
    weights = [1.0] * len(hop_losses) if weights is None else weights
    if len(weights) != len(hop_losses):
        raise ValueError(f"{len(hop_losses)} hop losses but {len(weights)} hop weights")
    return torch.stack([w * loss for w, loss in zip(weights, hop_losses, strict=True)]).sum()
