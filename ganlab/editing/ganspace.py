"""GANSpace (Härkönen et al. 2020, "Discovering Interpretable GAN Controls"): principal
components of w = M(z) over many samples are editing directions (sec. 2, StyleGAN: PCA on
w directly), applied to a range of W+ layers only ("layer-wise edits", sec. 3).

PCA is scikit-learn's; components are unit vectors ordered by explained variance, and
``stds`` are the standard deviations of the samples' coordinates along them, so an edit of
strength s moves a code s standard deviations (the reference's sigma units).
"""

from dataclasses import dataclass

import torch
from sklearn.decomposition import PCA
from torch import Tensor


@dataclass
class Components:
    """(K, D) orthonormal directions, their (K,) explained variances and coordinate stds,
    and the (D,) sample mean."""

    directions: Tensor
    variances: Tensor
    stds: Tensor
    mean: Tensor


def principal_components(w: Tensor, n_components: int, seed: int = 0) -> Components:
    """PCA of (N, D) w samples."""
    if w.ndim != 2 or n_components > min(w.shape):
        raise ValueError(f"PCA of {tuple(w.shape)} samples cannot give {n_components} components")
    pca = PCA(n_components=n_components, svd_solver="full", random_state=seed)
    pca.fit(w.double().numpy())
    directions = torch.from_numpy(pca.components_).float()
    directions = directions / directions.norm(dim=1, keepdim=True)
    coordinates = (w.double() - torch.from_numpy(pca.mean_)) @ directions.double().T
    return Components(
        directions,
        torch.from_numpy(pca.explained_variance_).float(),
        coordinates.std(0).float(),
        torch.from_numpy(pca.mean_).float(),
    )
