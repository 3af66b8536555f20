"""Cross-domain correspondence (ganlab.nets.correspondence): centring and correlation equal
hand-computed values; with identical features and a sharp softmax the warp is the identity;
the warp cycle undoes a permutation; the warp made a chunk of rows at a time equals the
whole matrix's; the net gives a convex warp at a quarter of the size; frozen features warp
as the trained net does, with masks drawn in a colour per class; the net trains with the
paper's Adam by default."""

import math

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from ganlab.nets.correspondence import (
    CorrespondenceNet,
    FrozenFeatureCorrespondence,
    centre_features,
    chunked_warp,
    correlation,
    neighbourhood_features,
    structure_as_image,
    warp,
    warp_back,
)
from tests.conftest import PooledPixels, compose_run


def test_centring_subtracts_the_channel_mean_per_position_and_normalises():
    features = torch.tensor([[1.0, 2.0], [3.0, 2.0]]).view(1, 2, 1, 2)  # C=2, two positions
    centred = centre_features(features)
    # position 0: (1, 3) - 2 = (-1, 1) -> unit; position 1: (2, 2) - 2 = 0 stays 0
    s = 1 / math.sqrt(2)
    torch.testing.assert_close(centred[0, :, 0, 0], torch.tensor([-s, s]))
    torch.testing.assert_close(centred[0, :, 0, 1], torch.zeros(2))


def test_correlation_is_the_cosine_of_every_pair_of_positions():
    s = 1 / math.sqrt(2)
    theta = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).view(1, 2, 1, 2)  # positions e1, e2
    phi = torch.tensor([[s, 0.0, -1.0], [s, 1.0, 0.0]]).view(1, 2, 1, 3)
    matrix = correlation(theta, phi)
    expected = torch.tensor([[s, 0.0, -1.0], [s, 1.0, 0.0]])
    torch.testing.assert_close(matrix[0], expected)


def test_a_sharp_warp_with_identical_features_reproduces_the_exemplar():
    rng = torch.Generator().manual_seed(0)
    features = centre_features(torch.randn(2, 16, 4, 4, generator=rng))
    exemplar = torch.rand(2, 3, 4, 4, generator=rng)
    matrix = correlation(features, features)
    assert torch.allclose(matrix.diagonal(dim1=1, dim2=2), torch.ones(2, 16))
    torch.testing.assert_close(warp(matrix, exemplar, alpha=1e4), exemplar)
    blurred = warp(matrix, exemplar, alpha=0.0)  # a flat softmax: every pixel the mean
    torch.testing.assert_close(blurred, exemplar.mean((2, 3), keepdim=True).expand_as(blurred))


def test_the_warp_cycle_undoes_a_permutation():
    rng = torch.Generator().manual_seed(1)
    features = centre_features(torch.randn(1, 16, 3, 3, generator=rng))
    order = torch.randperm(9, generator=rng)
    shuffled = features.flatten(2)[:, :, order].view_as(features)
    exemplar = torch.rand(1, 3, 3, 3, generator=rng)
    matrix = correlation(shuffled, features)  # structure position u matches exemplar order[u]
    warped = warp(matrix, exemplar, alpha=1e4)
    torch.testing.assert_close(warped.flatten(2), exemplar.flatten(2)[:, :, order])
    torch.testing.assert_close(warp_back(matrix, warped, alpha=1e4), exemplar)


def test_the_warp_made_a_chunk_of_rows_at_a_time_equals_the_whole_matrixs():
    rng = torch.Generator().manual_seed(2)
    structure = centre_features(torch.randn(2, 8, 4, 4, generator=rng))
    exemplar_features = centre_features(torch.randn(2, 8, 4, 4, generator=rng))
    exemplar = torch.rand(2, 3, 4, 4, generator=rng)
    whole = warp(correlation(structure, exemplar_features), exemplar, alpha=100.0)
    for rows in (1, 3, 7, 16, 100):  # chunks that divide the 16 positions or do not
        chunked = chunked_warp(structure, exemplar_features, exemplar, 100.0, rows)
        torch.testing.assert_close(chunked, whole)


def test_both_nets_warp_alike_whole_and_within_a_bound_on_the_matrix():
    torch.manual_seed(0)
    structure = torch.rand(2, 1, 32, 32) * 2 - 1
    exemplar = torch.rand(2, 3, 32, 32) * 2 - 1
    nets = [
        CorrespondenceNet(structure_channels=1, width=8, match_kernel=3).eval(),
        FrozenFeatureCorrespondence(PooledPixels(), layer=2, match_kernel=3),
    ]
    with torch.no_grad():
        for net in nets:
            whole = net(structure, exemplar)["warped"]  # (2, 3, 8, 8): 64 x 64 entries each
            bounded = net.warp_exemplar(structure, exemplar, max_entries=2 * 64 * 5)  # 5 rows
            torch.testing.assert_close(bounded, whole)


def test_the_net_trains_with_the_papers_adam_by_default_and_the_old_one_on_request(tmp_path):
    parameters = [torch.zeros(1, requires_grad=True)]
    cfg = compose_run(tmp_path, ["experiment=correspondence_toyfaces"])
    optimizer = instantiate(cfg.model).optimizer(parameters)
    assert type(optimizer) is torch.optim.Adam
    assert optimizer.defaults["lr"] == 1e-4 and optimizer.defaults["betas"] == (0.0, 0.999)
    old = ["model.optimizer.lr=2.0e-4", "model.optimizer.betas=[0.5,0.999]"]
    cfg = compose_run(tmp_path, ["experiment=correspondence_toyfaces", *old])
    optimizer = instantiate(cfg.model).optimizer(parameters)
    assert optimizer.defaults["lr"] == 2e-4 and optimizer.defaults["betas"] == (0.5, 0.999)


def test_neighbourhood_features_stack_the_3x3_patch_with_the_centre_in_the_middle():
    features = torch.arange(2 * 4 * 4, dtype=torch.float32).view(1, 2, 4, 4)
    patches = neighbourhood_features(features, 3)
    assert patches.shape == (1, 18, 4, 4)
    centre = patches.view(1, 2, 9, 4, 4)[:, :, 4]
    torch.testing.assert_close(centre, features)
    assert patches.view(1, 2, 9, 4, 4)[0, 0, 0, 0, 0] == 0  # zero padding at the corner
    assert neighbourhood_features(features, 1) is features


def test_the_net_warps_the_exemplar_at_a_quarter_of_the_size_as_a_convex_mix():
    torch.manual_seed(0)
    net = CorrespondenceNet(structure_channels=1, width=16, match_kernel=3)
    structure = torch.rand(2, 1, 32, 32)
    exemplar = torch.rand(2, 3, 32, 32) * 2 - 1
    out = net(structure, exemplar)
    assert out["warped"].shape == (2, 3, 8, 8) and out["matrix"].shape == (2, 64, 64)
    small = out["exemplar_small"].flatten(2)
    warped = out["warped"].flatten(2)
    assert (warped.amin(2) >= small.amin(2) - 1e-5).all()
    assert (warped.amax(2) <= small.amax(2) + 1e-5).all()
    assert out["matrix"].abs().max() <= 1 + 1e-5
    with pytest.raises(ValueError, match="match_kernel must be odd"):
        CorrespondenceNet(structure_channels=1, match_kernel=2)


def test_training_on_toyfaces_edges_lowers_the_warp_alignment_and_mask_losses():
    from ganlab.data.toyfaces import ToyFaces
    from ganlab.methods.instruments.correspondence import CorrespondenceTraining

    faces = ToyFaces(size=32, split="train", n=8)
    batch = {k: torch.stack([faces[i][k] for i in range(8)]) for k in ("image", "edges", "mask")}
    torch.manual_seed(0)
    net = CorrespondenceNet(structure_channels=1, width=16, adaptor_blocks=1, shared_blocks=1)
    module = CorrespondenceTraining(
        net, torch.optim.Adam, "toyfaces", n_mask_classes=10, max_rotation=0.0
    )
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-3)
    first = {k: v.item() for k, v in module.losses(batch).items()}
    for _ in range(40):
        losses = module.losses(batch)
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
    last = {k: v.item() for k, v in module.losses(batch).items()}
    assert last["warp"] < 0.6 * first["warp"]  # 0.30 -> 0.13
    assert last["align"] < 0.9 * first["align"]  # 0.90 -> 0.75
    assert last["mask"] < 0.3 * first["mask"]  # 6.6 -> 0.91


def test_the_warp_mask_loss_is_zero_for_a_matching_warp_and_large_for_a_wrong_one():
    from ganlab.methods.instruments.correspondence import warp_mask_loss

    mask = torch.tensor([[0, 1], [2, 1]]).view(1, 2, 2)
    identity = torch.eye(4)[None] * 2 - 1  # cosine 1 on the diagonal, -1 elsewhere
    assert warp_mask_loss(identity, mask, mask, 1, 1e3, 3).item() < 1e-6
    swapped = torch.tensor([[1, 0], [2, 1]]).view(1, 2, 2)
    assert warp_mask_loss(identity, swapped, mask, 1, 1e3, 3).item() > 10


def test_frozen_features_warp_an_exemplar_onto_itself_when_the_structure_matches_it():
    grey = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    net = FrozenFeatureCorrespondence(PooledPixels(), layer=2, match_kernel=3, alpha=1e4)
    out = net(grey, grey.expand(-1, 3, -1, -1))  # the edge map drawn in grey is the exemplar
    assert out["warped"].shape == (2, 3, 8, 8)
    torch.testing.assert_close(out["warped"], out["exemplar_small"], atol=1e-4, rtol=0)


def test_mask_classes_are_drawn_in_distinct_colours_and_edges_in_grey():
    ids = torch.arange(19).view(1, 1, 19)
    mask = F.one_hot(ids, 19).permute(0, 3, 1, 2).float()  # (1, 19, 1, 19)
    colours = structure_as_image(mask)[0, :, 0].T  # (19, 3)
    assert torch.equal(colours[0], torch.full((3,), -1.0))  # background black
    assert len({tuple(c.round(decimals=4).tolist()) for c in colours}) == 19
    assert colours.abs().max() <= 1
    edges = torch.rand(1, 1, 4, 4)
    assert torch.equal(structure_as_image(edges), edges.expand(-1, 3, -1, -1))
