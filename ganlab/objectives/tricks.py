"""The improved-training techniques of Salimans et al. 2016 ("Improved Techniques for Training
GANs", sec. 3) and instance noise (Sønderby et al. 2017, sec. 3.1; Arjovsky & Bottou 2017,
sec. 3.1), as pure functions of tensors. ``ganlab.nets.tricks`` holds the layers built on
them and ``ganlab.methods.noise.two_player.Tricks`` the options that switch them on.
"""

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor


def feature_matching_loss(real_features: Tensor, fake_features: Tensor) -> Tensor:
    """||E_x f(x) - E_z f(G(z))||_2^2 over an intermediate critic layer f (sec. 3.1)."""
    real_mean = real_features.flatten(1).mean(0)
    fake_mean = fake_features.flatten(1).mean(0)
    return (real_mean - fake_mean).pow(2).sum()


def minibatch_closeness(kernel_rows: Tensor) -> Tensor:
    """o(x_i)_b = sum_j exp(-||M_{i,b} - M_{j,b}||_L1) for M (N, B, C) (sec. 3.2); (N, B).

    The sum runs over the whole minibatch, j = i included (which adds exp(0) = 1)."""
    l1_distances = (kernel_rows[:, None] - kernel_rows[None]).abs().sum(-1)  # (N, N, B)
    return torch.exp(-l1_distances).sum(1)


def historical_average_penalty(parameters: Iterable[Tensor], averages: Iterable[Tensor]) -> Tensor:
    """sum over parameters of ||theta - (1/t) sum_i theta[i]||_2^2 (sec. 3.3)."""
    terms = [(p - a).pow(2).sum() for p, a in zip(parameters, averages, strict=True)]
    return torch.stack(terms).sum()


def label_cross_entropy(logits: Tensor, label: float) -> Tensor:
    """-E[y log D + (1 - y) log(1 - D)] of D = sigmoid(logits) against the soft label y."""
    return (label * F.softplus(-logits) + (1 - label) * F.softplus(logits)).mean()


def smoothed_gan_critic_loss(
    real_logits: Tensor, fake_logits: Tensor, real_label: float, fake_label: float = 0.0
) -> Tensor:
    """-E[a log D(x) + (1 - a) log(1 - D(x))] - E[b log D(G(z)) + (1 - b) log(1 - D(G(z)))]:
    target a for real images, b for fakes; b = 0 is one-sided smoothing, which sec. 3.4
    recommends (with b > 0 the optimal D is b where only the generator puts mass, so its
    samples there get no push towards the data)."""
    # sec. 3.4
    return label_cross_entropy(real_logits, real_label) + label_cross_entropy(
        fake_logits, fake_label
    )


def smoothed_lsgan_critic_loss(
    real_scores: Tensor, fake_scores: Tensor, real_label: float, fake_label: float = 0.0
) -> Tensor:
    """1/2 E[(D(x) - a)^2] + 1/2 E[(D(G(z)) - b)^2]: LSGAN's critic with the real target a
    and the fake target b (b = 0: one-sided)."""
    # sec. 3.4 on Mao et al. 2017, Eq. 2
    real_term = 0.5 * (real_scores - real_label).pow(2).mean()
    return real_term + 0.5 * (fake_scores - fake_label).pow(2).mean()


def virtual_batch_normalize(
    reference: Tensor, samples: Tensor, eps: float = 1e-5
) -> tuple[Tensor, Tensor]:
    """Virtual batch normalisation (sec. 3.4) of (N, C, H, W) maps, without the affine part.

    The reference batch (R, C, H, W) is normalised with its own per-channel statistics; each
    sample with the statistics of the reference batch plus itself, weights R/(R+1) and
    1/(R+1), so its output does not depend on the other samples of its batch.
    """
    dims = (0, 2, 3)
    reference_mean = reference.mean(dims, keepdim=True)
    reference_square = reference.pow(2).mean(dims, keepdim=True)
    reference_var = reference_square - reference_mean.pow(2)
    normalised_reference = (reference - reference_mean) / torch.sqrt(reference_var + eps)
    share = 1.0 / (reference.shape[0] + 1)
    own_mean, own_square = (
        samples.mean((2, 3), keepdim=True),
        samples.pow(2).mean((2, 3), keepdim=True),
    )
    sample_mean = share * own_mean + (1 - share) * reference_mean
    sample_square = share * own_square + (1 - share) * reference_square
    sample_var = sample_square - sample_mean.pow(2)
    normalised_samples = (samples - sample_mean) / torch.sqrt(sample_var + eps)
    return normalised_reference, normalised_samples


def instance_noise_std(run_step: int, initial_std: float, decay_steps: int | None) -> float:
    """The std of the noise on the critic's inputs: ``initial_std`` decayed linearly to 0
    over ``decay_steps`` run steps (constant when ``decay_steps`` is None)."""
    if decay_steps is None:
        return initial_std
    return initial_std * max(0.0, 1.0 - run_step / max(decay_steps, 1))
