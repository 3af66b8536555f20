"""UNIT's real digit benchmarks (data=digits_da): SVHN .mat, MNIST IDX and LIBSVM USPS files
read from tiny fixtures written here; missing or malformed files stop with one message."""

import bz2
import json

import numpy as np
import pytest
import scipy.io
import torch
from sklearn.datasets import dump_svmlight_file

from ganlab.data.digit_benchmarks import DigitBenchmarkDataModule
from ganlab.errors import ConfigError
from ganlab.features import get_extractor, resolve_name
from tests.conftest import compose_run
from tests.test_real_data import make_mnist


def make_svhn(root, n_train=10, n_test=4):
    """SVHN format 2: X (32, 32, 3, N) uint8; y (N, 1) in 1..10, 10 standing for the digit 0.
    Pixel X[h, w, c, n] = h + 2 w + 70 c + n, so any mix-up of the axes shows."""
    root.mkdir(parents=True, exist_ok=True)
    h, w, c, n = np.meshgrid(
        *(np.arange(k) for k in (32, 32, 3, max(n_train, n_test))), indexing="ij"
    )
    pixels = (h + 2 * w + 70 * c + n).astype(np.uint8)
    for name, count in (("train_32x32.mat", n_train), ("test_32x32.mat", n_test)):
        labels = (np.arange(count) % 10 + 1)[:, None]
        scipy.io.savemat(root / name, {"X": pixels[..., :count], "y": labels})


def make_usps(root, n_train=10, n_test=4):
    """LIBSVM USPS: 256 values in [-1, 1] per line, 1-based feature indices, labels 1..10 for
    the digits 0..9; the test file bz2-compressed, as LIBSVM ships it."""
    root.mkdir(parents=True, exist_ok=True)
    for name, n in (("usps", n_train), ("usps.t", n_test)):
        values = np.full((n, 256), -1.0)
        values[:, :16] = 1.0  # the top row of the 16x16 scan is ink
        dump_svmlight_file(values, np.arange(n) % 10 + 1, str(root / name), zero_based=False)
    (root / "usps.t.bz2").write_bytes(bz2.compress((root / "usps.t").read_bytes()))
    (root / "usps.t").unlink()


def test_svhn_labels_and_pixels_follow_the_format(tmp_path):
    make_svhn(tmp_path / "svhn")
    make_mnist(tmp_path / "mnist", n_train=12, n_test=4)
    data = DigitBenchmarkDataModule(
        "svhn", "mnist", {"svhn": tmp_path / "svhn", "mnist": tmp_path / "mnist"}, batch_size=5
    )
    svhn = data.domain_dataset("train", "svhn")
    # y = 1..10 -> digits 1..9, 0 (label 10 is the digit 0)
    assert svhn.labels.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]
    h, w = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    for c in range(3):  # image 3, channel c, row h, column w holds h + 2 w + 70 c + 3
        expected = (h + 2 * w + 70 * c + 3).float() / 127.5 - 1
        torch.testing.assert_close(svhn.images[3, c], expected)
    mnist = data.domain_dataset("test", "mnist")
    assert mnist.images.shape == (4, 3, 32, 32)  # grey repeated to SVHN's 3 channels
    assert torch.equal(mnist.images[:, 0], mnist.images[:, 2])
    assert mnist.labels.tolist() == [0, 3, 6, 9]
    batch = next(iter(data.train_dataloader()))
    assert batch["image_a"].shape == (5, 3, 32, 32)
    index = ((batch["image_a"][:, 0, 0, 0] + 1) * 127.5).round().long()  # pixel (0, 0, 0) is n
    assert batch["label_a"].tolist() == ((index % 10 + 1) % 10).tolist()  # labels follow images
    # the digits feature net knows the scikit-learn scans only: none is found for these sets
    with pytest.raises(ConfigError, match="domain_digits_da"):
        get_extractor(resolve_name("domain", data.feature_dataset))


def test_usps_scans_are_resized_and_labels_shifted(tmp_path):
    make_usps(tmp_path / "usps")
    make_mnist(tmp_path / "mnist", n_train=12, n_test=4)
    roots = {"usps": tmp_path / "usps", "mnist": tmp_path / "mnist"}
    data = DigitBenchmarkDataModule("mnist", "usps", roots, channels=1, batch_size=4)
    usps = data.domain_dataset("train", "usps")
    assert usps.labels.tolist() == list(range(10))
    assert usps.images.shape == (10, 1, 32, 32)
    assert usps.images[:, :, 0].min() > 0.9 and usps.images[:, :, 8:].max() < -0.9
    assert data.domains == ("mnist", "usps") and len(data.domain_dataset("test", "usps")) == 4


def test_missing_or_corrupt_files_stop_with_the_layout(tmp_path):
    make_mnist(tmp_path / "mnist")
    (tmp_path / "svhn").mkdir()
    roots = {"svhn": tmp_path / "svhn", "mnist": tmp_path / "mnist"}
    with pytest.raises(ConfigError, match=r"has no train_32x32\.mat(.|\n)*housenumbers"):
        DigitBenchmarkDataModule("svhn", "mnist", roots)
    (tmp_path / "svhn" / "train_32x32.mat").write_bytes(b"not a mat file")
    with pytest.raises(ConfigError, match=r"is not an SVHN \.mat file"):
        DigitBenchmarkDataModule("svhn", "mnist", roots)
    with pytest.raises(ConfigError, match=r"data\.roots\.usps is not set(.|\n)*usps\.t"):
        DigitBenchmarkDataModule("mnist", "usps", roots, channels=1)
    with pytest.raises(ConfigError, match="known digit sets are"):
        DigitBenchmarkDataModule("svhm", "mnist", roots)


def test_unit_adapts_on_the_real_benchmark_files(tmp_path):
    from ganlab.run import run_task

    make_svhn(tmp_path / "svhn", n_train=16, n_test=8)
    make_mnist(tmp_path / "mnist", n_train=16, n_test=8)
    overrides = [
        "experiment=unit_svhn_mnist",
        f"data.roots.svhn={tmp_path / 'svhn'}",
        f"data.roots.mnist={tmp_path / 'mnist'}",
        "data.batch_size=4",
        "steps=2",
        "eval.n_samples=8",
        "model.encoder_a.width=4",
        "model.discriminator_a.width=4",
    ]
    run_task(compose_run(tmp_path / "run", overrides))
    report = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert 0 <= report["metrics"]["da_accuracy_mnist"] <= 1
    assert report["protocol"]["da_accuracy_svhn"]["labelled_in_training"] is True
    assert report["protocol"]["da_accuracy_mnist"]["labelled_in_training"] is False
