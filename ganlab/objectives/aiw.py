"""Adversarial Importance Weighting and multi-hop targets of INIT (Cao et al., "Informative
Sample Mining Network for Multi-Domain Image-to-Image Translation", ECCV 2020, sec. 3.1-3.2),
as pure functions of tensors. ``ganlab.methods.init`` wires them into the game.

AIW(x^t) = ||1 + (dl* - dl)||^2 * exp(D~(x^t)) (eq. 8), D~ the discriminator's logit (the
optimal discriminator gives exp(D~) = p_data / p_g, the importance of a generated sample).

How we read what the paper leaves open:

- **dl is a difference of mean distances.** The embeddings phi(x) lie on a hypersphere of
  radius r, e_ij = ||phi(x_i^s) - phi(x_j^t)|| (eq. 6). For translated sample j,
  dl_p = e_jj (its own source: the matched pair) and dl_n = the mean of e_ij over the other
  sources i != j (the permuted pairs), dl = dl_n - dl_p (eq. 7). The paper writes sums, but
  states dl* = 2r, the largest value dl can take only when dl_n is a *mean* of distances
  (each at most the sphere's diameter 2r) and dl_p >= 0. So dl* - dl >= 0 and the scale
  factor (1 + dl* - dl)^2 lies in [1, (1 + 4r)^2]: a translation that lies as close to
  other people's sources as to its own (identity lost, a hard sample) weighs more.
- **exp(D~) is kept finite** by clamping the logit to [-max_logit, max_logit] before the
  exponential (ours; default 5, so a weight is at most e^5 ~ 148 times the scale factor),
  then the weights are normalised to mean 1 over the batch (self-normalised importance
  weighting, ours), so the weighted loss keeps the scale of the unweighted one.
- **Weights are constants**: no gradient flows through them into D, G or phi.
"""

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def project_to_sphere(embeddings: Tensor, radius: float) -> Tensor:
    """(B, D) embeddings scaled to norm ``radius`` (sec. 3.1: phi on a hypersphere of radius r)."""
    return radius * F.normalize(embeddings.flatten(1), dim=1)


def distance_matrix(source_embeddings: Tensor, target_embeddings: Tensor) -> Tensor:
    """e_ij = ||phi(x_i^s) - phi(x_j^t)||_2 (eq. 6): (B, B), rows sources, columns translations."""
    return torch.cdist(
        source_embeddings, target_embeddings, compute_mode="donot_use_mm_for_euclid_dist"
    )


def distance_gap(distances: Tensor) -> Tensor:
    """dl_j = mean_{i != j} e_ij - e_jj (eq. 7, means instead of sums): (B,) per translation."""
    n = distances.shape[0]
    if n < 2:
        raise ValueError("AIW compares a translation with other sources: it needs a batch of >= 2")
    matched = distances.diagonal()
    permuted = (distances.sum(0) - matched) / (n - 1)
    return permuted - matched


def aiw_scale(gap: Tensor, radius: float) -> Tensor:
    """||1 + (dl* - dl)||^2 with dl* = 2r (eq. 8), per translation."""
    return (1 + (2 * radius - gap)).pow(2)


def importance_weights(
    scale: Tensor, logits: Tensor, max_logit: float | None = 5.0, normalise: bool = True
) -> Tensor:
    """AIW = scale * exp(D~) (eq. 8), D~ clamped to [-max_logit, max_logit] (None: not
    clamped); ``normalise`` divides by the batch mean. Detached: weights are constants."""
    logits = logits.detach()
    if max_logit is not None:
        logits = logits.clamp(-max_logit, max_logit)
    weights = scale.detach() * torch.exp(logits)
    return weights / weights.mean() if normalise else weights


def embedding_scale(source_embeddings: Tensor, target_embeddings: Tensor, radius: float) -> Tensor:
    """(1 + dl* - dl)^2 per translation from raw embeddings, projected onto the sphere (eq. 6-8)."""
    source = project_to_sphere(source_embeddings, radius)
    target = project_to_sphere(target_embeddings, radius)
    return aiw_scale(distance_gap(distance_matrix(source, target)), radius)


def per_sample_logits(logits: Tensor) -> Tensor:
    """D~ of each sample: a patch discriminator's (B, 1, h, w) logit map averaged to (B,)."""
    return logits.flatten(1).mean(1)


def per_sample(weights: Tensor, terms: Tensor) -> Tensor:
    """Per-sample weights (B,) broadcast over a (B, ...) map of per-patch loss terms."""
    return weights.view(-1, *([1] * (terms.dim() - 1))) * terms


def weighted_discriminator_loss(
    real_logits: Tensor, fake_logits: Tensor, fake_weights: Tensor | None = None
) -> Tensor:
    """-E log D(x, a) - E[AIW * log(1 - D(x^t, a^t))] (eq. 5 with eq. 8's weights): logits of
    any shape (B, ...), every patch its own term, the sample's weight on each of its patches."""
    fake_terms = F.softplus(fake_logits)
    if fake_weights is not None:
        fake_terms = per_sample(fake_weights, fake_terms)
    return F.softplus(-real_logits).mean() + fake_terms.mean()


def weighted_generator_loss(fake_logits: Tensor, fake_weights: Tensor | None = None) -> Tensor:
    """-E[AIW * log D(x^t, a^t)]: the non-saturating form of the generator's weighted term."""
    terms = F.softplus(-fake_logits)
    if fake_weights is not None:
        terms = per_sample(fake_weights, terms)
    return terms.mean()


def multi_hop(
    translate: Callable[[Tensor, Tensor], Tensor], images: Tensor, hop_attributes: Sequence[Tensor]
) -> list[Tensor]:
    """x^{t_n} = G(x^{t_{n-1}}, a^{t_n}) for n = 1..N, x^{t_0} = x^s (eq. 9): every hop's image."""
    if not hop_attributes:
        raise ValueError("multi-hop translation needs at least one hop")
    hops, current = [], images
    for attributes in hop_attributes:
        current = translate(current, attributes)
        hops.append(current)
    return hops


def multi_hop_loss(hop_losses: Sequence[Tensor]) -> Tensor:
    """L_MST = sum over the hops n = 1..N of each hop's loss (eq. 10)."""
    if not hop_losses:
        raise ValueError("the multi-hop loss needs at least one hop")
    return torch.stack(list(hop_losses)).sum()
