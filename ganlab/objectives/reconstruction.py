"""Reconstruction losses of encoder-based GAN inversion (pSp, Richardson et al. 2021, Sec. 3.3;
UDA-Inversion's source loss, eq. 9-12): pixel L2, LPIPS through an embedding whose squared
distance is LPIPS, identity through face-recognition embeddings, and HFGI's alignment L1."""

import torch.nn.functional as F
from torch import Tensor

IDENTITY_LOSSES = ("cosine", "mse")


def l2_loss(reconstruction: Tensor, target: Tensor) -> Tensor:
    """mean (x̂ - x)^2 over pixels and batch (eq. 9)."""
    return (reconstruction - target).pow(2).mean()


def embedding_loss(reconstruction_embedding: Tensor, target_embedding: Tensor) -> Tensor:
    """E_b ||e(x̂) - e(x)||^2: LPIPS when e is an LPIPS embedding (eq. 10)."""
    return (reconstruction_embedding - target_embedding).pow(2).sum(dim=1).mean()


def identity_loss(
    reconstruction_embedding: Tensor, target_embedding: Tensor, kind: str = "cosine"
) -> Tensor:
    """pSp's 1 - cos(f(x̂), f(x)) (``cosine``, eq. 11; its ArcFace embeddings are unit
    vectors) or the UDA code's mean squared difference of the embeddings (``mse``)."""
    if kind == "cosine":
        return (1 - F.cosine_similarity(reconstruction_embedding, target_embedding, dim=1)).mean()
    if kind == "mse":
        return (reconstruction_embedding - target_embedding).pow(2).mean()
    raise ValueError(f"identity loss must be one of {IDENTITY_LOSSES}, got {kind!r}")


def align_loss(aligned: Tensor, distortion: Tensor) -> Tensor:
    """HFGI's ADA loss: mean |ADA(warped distortion, coarse) - distortion| (eq. 12)."""
    return (aligned - distortion).abs().mean()
