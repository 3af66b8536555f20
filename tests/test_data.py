import torch

from ganlab.data.digits import DigitsDataModule, load_digit_scans, scans_to_images
from ganlab.data.samplers import EpochShuffleSampler


def test_digits_are_the_bundled_real_scans():
    scans, labels = load_digit_scans()
    assert scans.shape == (1797, 1, 8, 8) and labels.shape == (1797,)
    assert scans.min() == 0 and scans.max() == 16
    assert torch.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_scans_map_to_minus_one_one_and_upsample():
    scans = torch.tensor([[[[0.0, 16.0], [8.0, 4.0]]]])
    assert scans_to_images(scans, 2).flatten().tolist() == [-1.0, 1.0, 0.0, -0.5]
    images = scans_to_images(load_digit_scans()[0][:4], 32)
    assert images.shape == (4, 1, 32, 32) and images.min() >= -1 and images.max() <= 1


def test_split_is_seeded_disjoint_and_complete():
    a, b = DigitsDataModule(split_seed=3), DigitsDataModule(split_seed=3)
    a.setup(), b.setup()
    assert torch.equal(a.train_set.images, b.train_set.images)
    assert len(a.train_set) + len(a.val_set) == 1797 and len(a.val_set) == 180
    other = DigitsDataModule(split_seed=4)
    other.setup()
    assert not torch.equal(a.val_set.labels, other.val_set.labels)
    batch = next(iter(a.train_dataloader()))
    assert batch["image"].shape == (64, 1, 32, 32) and batch["label"].shape == (64,)
    assert "1617 train / 180 val" in a.describe()


def test_epoch_sampler_depends_only_on_seed_and_epoch():
    sampler = EpochShuffleSampler(100, seed=7)
    first = list(sampler)
    torch.manual_seed(123)  # the global RNG must not matter
    assert list(sampler) == first and sorted(first) == list(range(100))
    sampler.set_epoch(1)
    second = list(sampler)
    assert second != first
    fresh = EpochShuffleSampler(100, seed=7)
    fresh.set_epoch(1)
    assert list(fresh) == second
