"""The feature registry: domain nets, missing weights, and real-weight code on fixture weights.

Real pretrained files cannot be downloaded here, so the LPIPS and Inception paths run on
randomly initialised weights written in the exact file layout of the real ones (torchvision
and torch-fidelity checkpoints) and are compared with the reference implementations.
"""

import json
import time
from unittest import mock

import lpips
import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch.utils.data import DataLoader
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
from torchmetrics.image.fid import FrechetInceptionDistance, NoTrainInceptionV3

from ganlab.assets import ASSET_DIR, publish
from ganlab.data.digits import DigitsDataModule
from ganlab.data.toyfaces import ToyFaces
from ganlab.errors import ConfigError, MissingWeightsError
from ganlab.features import NAMES, get_extractor, resolve_name, short_name
from ganlab.features import vgg as vgg_module
from ganlab.features.base import embed_together
from ganlab.features.domain import DomainNet, domain_extractor, load_domain_net
from ganlab.features.inception import INCEPTION_FILE, InceptionFeatures, to_uint8
from ganlab.features.lpips_net import LPIPSFeatures
from ganlab.features.vgg import VGGFeatures
from ganlab.metrics.attributes import classifier_attribute_accuracy
from ganlab.metrics.distribution import frechet_distance
from ganlab.metrics.reconstruction import (
    lpips_distance,
    reconstruction_scores,
    scores_and_features,
)
from ganlab.run import run_task
from tests.conftest import compose_run, run_cli


@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


@pytest.fixture(scope="module")
def alexnet_file(tmp_path_factory):
    """A torchvision AlexNet checkpoint (random weights) named like the real one."""
    path = tmp_path_factory.mktemp("hub") / "alexnet-owt-7be5be79.pth"
    torch.manual_seed(0)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), path)
    return path


@pytest.fixture(scope="module")
def inception_file(tmp_path_factory):
    """A torch-fidelity InceptionV3 checkpoint (random weights) in the real file's layout."""
    path = tmp_path_factory.mktemp("hub") / INCEPTION_FILE
    torch.save(random_inception_state(), path)
    return path


def random_inception_state() -> dict:
    """torch-fidelity's FID InceptionV3 state dict with random weights (seed 0); nothing is
    downloaded."""
    torch.manual_seed(0)
    with (
        mock.patch(
            "torch_fidelity.feature_extractor_inceptionv3.load_state_dict_from_url",
            return_value={},
        ),
        mock.patch.object(FeatureExtractorInceptionV3, "load_state_dict"),
    ):
        net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    return net.state_dict()


def test_registry_names_and_unknown_name():
    assert {"inception", "lpips_alex", "lpips_vgg", "vgg16", "vgg19", "domain_digits"} <= set(NAMES)
    with pytest.raises(ConfigError, match="unknown feature extractor 'fid'.*inception"):
        get_extractor("fid")


@pytest.mark.parametrize("name", ["inception", "lpips_alex", "lpips_vgg", "vgg16", "vgg19"])
def test_missing_weights_fail_fast_naming_file_dir_and_source(name, empty_torch_home):
    started = time.perf_counter()
    with pytest.raises(MissingWeightsError) as error:
        get_extractor(name)
    assert time.perf_counter() - started < 10  # a guard against a network wait, not a benchmark
    message = str(error.value)
    assert str(empty_torch_home) in message and "https://" in message
    assert "weights_path" in message


def test_features_inception_run_stops_before_training_with_one_message(tmp_path):
    result = run_cli(
        ["features=inception", "callbacks=none", "logger=none"],
        cwd=tmp_path,
        env={"TORCH_HOME": str(tmp_path / "torch")},
    )
    assert result.returncode == 2
    assert INCEPTION_FILE in result.stderr and "torch-fidelity" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("outputs/*/*/checkpoints"))


def test_inception_features_are_torchmetrics_fid_features(inception_file):
    images = torch.rand(6, 3, 40, 40) * 2 - 1
    ours = InceptionFeatures(str(inception_file))
    reference = NoTrainInceptionV3("inception-v3-compat", ["2048"], str(inception_file))
    assert ours(images).shape == (6, 2048)
    torch.testing.assert_close(ours(images), reference(to_uint8(images)).reshape(6, -1))
    # the whole FID protocol: torchmetrics on [0, 1] images == ours on [-1, 1] images
    fid = FrechetInceptionDistance(
        feature=2048, normalize=True, feature_extractor_weights_path=str(inception_file)
    ).double()
    real, fake = images[:3], torch.rand(3, 3, 40, 40) * 2 - 1
    fid.update((real + 1) / 2, real=True)
    fid.update((fake + 1) / 2, real=False)
    assert frechet_distance(ours(real), ours(fake)) == pytest.approx(fid.compute().item(), rel=1e-4)


def test_grey_images_are_repeated_to_rgb(inception_file):
    net = InceptionFeatures(str(inception_file))
    grey = torch.rand(2, 1, 32, 32) * 2 - 1
    torch.testing.assert_close(net(grey), net(grey.expand(-1, 3, -1, -1)))


def test_lpips_embedding_distance_is_the_lpips_distance(alexnet_file):
    embed = LPIPSFeatures("alex", str(alexnet_file))
    reference = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)
    reference.net.load_state_dict(embed.model.net.state_dict())  # same backbone, package lins
    x, y = torch.rand(4, 3, 64, 64) * 2 - 1, torch.rand(4, 3, 64, 64) * 2 - 1
    ours = (embed(x) - embed(y)).pow(2).sum(1)
    torch.testing.assert_close(ours, reference(x, y).flatten(), rtol=1e-4, atol=1e-6)
    assert lpips_distance(x, y, embed) == pytest.approx(ours.mean().item(), rel=1e-6)
    assert lpips_distance(x, x, embed) == 0.0
    assert not any(p.requires_grad for p in embed.parameters()) and not embed.train().training


def test_lpips_backbone_is_read_from_the_checkpoint(alexnet_file):
    embed = LPIPSFeatures("alex", str(alexnet_file))
    saved = torch.load(alexnet_file, weights_only=True)
    torch.testing.assert_close(embed.model.net.slice1[0].weight, saved["features.0.weight"])
    torch.testing.assert_close(embed.model.net.slice5[0].weight, saved["features.10.weight"])


def test_vgg_features_tap_the_five_relu_layers(monkeypatch):
    torch.manual_seed(0)
    monkeypatch.setattr(
        vgg_module,
        "imagenet_backbone",
        lambda arch, weights, configured: (torchvision.models.vgg16(weights=None), "random"),
    )
    net = VGGFeatures(16)
    images = torch.rand(2, 3, 64, 64) * 2 - 1
    maps = net.maps(images)
    assert [m.shape[1] for m in maps] == [64, 128, 256, 512, 512]
    assert [m.shape[-1] for m in maps] == [64, 32, 16, 8, 4]
    assert all((m >= 0).all() for m in maps)  # relu outputs
    assert net(images).shape == (2, net.num_features)


def test_domain_net_shapes_and_bad_size():
    net = DomainNet(channels=3, image_size=64, n_classes=0, n_attributes=10, identity_dim=7)
    out = net(torch.zeros(2, 3, 64, 64))
    assert out["attribute_logits"].shape == (2, 10) and out["identity"].shape == (2, 7)
    assert "class_logits" not in out and net.features(torch.zeros(2, 3, 64, 64)).shape == (2, 128)
    with pytest.raises(ValueError, match="power-of-two"):
        DomainNet(channels=1, image_size=48)


def test_shipped_digits_net_matches_its_manifest_and_is_accurate():
    """The asset is the file its manifest describes, and it scores what the manifest says."""
    entry = json.loads((ASSET_DIR / "manifest.json").read_text())["domain_digits.pt"]
    assert entry["command"] == "python -m ganlab.run experiment=features_digits"
    assert entry["validation"]["val_class_accuracy"] >= 0.97
    net, sha256 = load_domain_net("digits")
    assert sha256 == entry["sha256"]
    data = DigitsDataModule()
    data.setup()
    with torch.no_grad():
        logits = net(data.val_set.images)["class_logits"]
    accuracy = (logits.argmax(1) == data.val_set.labels).double().mean().item()
    assert accuracy == pytest.approx(entry["validation"]["val_class_accuracy"], abs=1e-9)
    extractor = get_extractor("domain_digits")
    assert extractor(data.val_set.images[:4]).shape == (4, 128)


def test_domain_net_errors(tmp_path):
    with pytest.raises(MissingWeightsError, match="experiment=features_toyfaces"):
        load_domain_net("toyfaces", str(tmp_path / "nothing.pt"))
    copy = tmp_path / "domain_digits.pt"
    copy.write_bytes((ASSET_DIR / "domain_digits.pt").read_bytes())
    with pytest.raises(MissingWeightsError, match="trained on digits, not toyfaces"):
        load_domain_net("toyfaces", str(copy))
    (tmp_path / "manifest.json").write_text(json.dumps({"domain_digits.pt": {"sha256": "0" * 64}}))
    with pytest.raises(MissingWeightsError, match="does not match the sha256"):
        load_domain_net("digits", str(copy))


def test_features_run_exports_a_net_that_publish_ships(tmp_path):
    run_dir = tmp_path / "run"
    overrides = ["experiment=features_digits", "steps=3", "model.domain_net.width=4"]
    cfg = compose_run(run_dir, overrides)
    run_task(cfg)
    manifest = json.loads((run_dir / "manifest.json").read_text())["domain_digits.pt"]
    assert manifest["seed"] == cfg.seed and "features_digits" in manifest["command"]
    assets = tmp_path / "assets"
    assets.mkdir()
    assert publish(run_dir, assets) == ["domain_digits.pt"]
    shipped = json.loads((assets / "manifest.json").read_text())["domain_digits.pt"]
    assert shipped["sha256"] == manifest["sha256"]
    extractor = domain_extractor("digits", str(assets / "domain_digits.pt"))
    assert extractor.net.config["width"] == 4


def test_shipped_toyfaces_net_matches_its_manifest_and_scores_attributes():
    """The toyfaces asset is the file its manifest names and judges real faces' attributes."""
    entry = json.loads((ASSET_DIR / "manifest.json").read_text())["domain_toyfaces.pt"]
    assert entry["command"] == "python -m ganlab.run experiment=features_toyfaces"
    assert entry["validation"]["val_mean_attribute_accuracy"] >= 0.97
    net, sha256 = load_domain_net("toyfaces")
    assert sha256 == entry["sha256"]
    faces = ToyFaces(64, "val", n=300)
    batch = next(iter(DataLoader(faces, batch_size=300)))
    scores = classifier_attribute_accuracy(
        batch["image"], batch["attributes"], faces.ATTRIBUTES, "toyfaces"
    )
    assert scores["mean_attribute_accuracy"] >= 0.97
    flipped = batch["attributes"].clone()
    glasses = faces.ATTRIBUTES.index("eyeglasses")
    flipped[:, glasses] = 1 - flipped[:, glasses]
    wrong = classifier_attribute_accuracy(batch["image"], flipped, faces.ATTRIBUTES, "toyfaces")
    assert wrong["eyeglasses_accuracy"] == pytest.approx(1 - scores["eyeglasses_accuracy"])


def test_32px_judge_reads_small_faces_the_default_net_misses():
    """ToyFaces at 32 px are judged by the net trained at 32 px (the default 64 px net reads
    them upsampled and misses smiles); 64 px faces keep the default net."""
    from ganlab.evaluation.tools import AttributeClassifier

    entry = json.loads((ASSET_DIR / "manifest.json").read_text())["domain_toyfaces_32px.pt"]
    assert entry["command"] == "python -m ganlab.run experiment=features_toyfaces_32"
    small, default = AttributeClassifier("toyfaces", 32), AttributeClassifier("toyfaces", 64)
    assert small.source == "domain_toyfaces_32px.pt" and small.net.config["image_size"] == 32
    assert default.source == "domain_toyfaces.pt" and default.net.config["image_size"] == 64
    faces = ToyFaces(32, "val", n=200)
    batch = next(iter(DataLoader(faces, batch_size=200)))
    smiling = faces.ATTRIBUTES.index("smiling")
    truth = batch["attributes"][:, smiling].bool()
    with torch.no_grad():
        read_small = small(batch["image"])[:, smiling] > 0
        read_default = default(batch["image"])[:, smiling] > 0
    assert (read_small == truth).double().mean() >= 0.95
    assert (read_default == truth).double().mean() < 0.85


def test_32px_identity_embedding_reads_small_faces_the_default_net_misreads():
    """INIT's phi on 32 px faces (experiment=init_toyfaces): the 32 px net's identity head
    predicts the faces' identity parameters; the 64 px net on upsampled faces does worse than
    predicting their mean."""
    faces = ToyFaces(32, "val", n=200)
    batch = next(iter(DataLoader(faces, batch_size=200)))
    truth = batch["identity"] - 0.5  # the extractor centres the parameters on 0.5

    def relative_error(name: str, size: int) -> float:
        phi = get_extractor(name)
        images = F.interpolate(batch["image"], size=(size, size), mode="bilinear")
        with torch.no_grad():
            error = (phi(images) - truth).pow(2).mean()
        return float(error / truth.var(0).mean())

    assert relative_error("identity_toyfaces_32px", 32) < 0.5
    assert relative_error("identity_toyfaces", 64) > 0.9
    assert get_extractor("identity_toyfaces_32px").fingerprint != (
        get_extractor("identity_toyfaces").fingerprint
    )


def test_sized_asset_is_named_after_its_image_size(tmp_path):
    run_dir = tmp_path / "run"
    overrides = ["experiment=features_digits", "steps=2", "model.domain_net.width=4"]
    run_task(compose_run(run_dir, [*overrides, "data.size=16", "model.sized_asset=true"]))
    assert list(json.loads((run_dir / "manifest.json").read_text())) == ["domain_digits_16px.pt"]
    net, _ = load_domain_net("digits", str(run_dir / "domain_digits_16px.pt"))
    assert net.config["image_size"] == 16
    with pytest.raises(MissingWeightsError, match="features_digits data.size=16 model.sized_asset"):
        load_domain_net("digits", image_size=16)


def test_names_of_own_nets_for_a_data_set_and_their_metric_tags():
    assert resolve_name("domain", "toyfaces") == "domain_toyfaces"
    assert resolve_name("domain_32px", "toyfaces") == "domain_toyfaces_32px"
    assert resolve_name("identity_32px", "toyfaces") == "identity_toyfaces_32px"
    assert resolve_name("inception", "toyfaces") == "inception"
    assert short_name("domain_toyfaces") == "domain"
    assert short_name("domain_toyfaces_32px") == "domain32px"
    assert short_name("lpips_domain_toyfaces") == "lpips_domain"
    assert short_name("inception") == "inception"


def test_32px_fid_judge_reads_64px_faces_at_its_own_size():
    """The second FID judge of toyfaces (``eval.check_features=[domain_32px]``): 64 px faces
    are read as the same faces downsampled to 32 px, by a net other than the default one."""
    judge = get_extractor("domain_toyfaces_32px")
    faces = next(iter(DataLoader(ToyFaces(64, "val", n=8), batch_size=8)))["image"]
    small = F.interpolate(faces, size=(32, 32), mode="bilinear")
    with torch.no_grad():
        torch.testing.assert_close(judge(faces), judge.net.features(small))
    assert judge.name == "domain_toyfaces_32px" and judge.num_features == 128
    assert judge.fingerprint != get_extractor("domain_toyfaces").fingerprint


def test_the_domain_nets_extractors_share_one_pass_of_the_body_and_score_as_apart():
    """LPIPS-domain, identity and FID-domain features of reconstructions come from one pass
    of the domain net's body per image (the three nets load one file) and equal the
    extractors run one by one; a net of other weights (the 32 px judge) runs its own."""
    lpips_net, identity_net, fid_net = (
        get_extractor(name)
        for name in ("lpips_domain_toyfaces", "identity_toyfaces", "domain_toyfaces")
    )
    judge_32 = get_extractor("domain_toyfaces_32px")
    assert lpips_net.trunk_key() == identity_net.trunk_key() == fid_net.trunk_key()
    assert judge_32.trunk_key() != fid_net.trunk_key()
    faces = next(iter(DataLoader(ToyFaces(64, "val", n=10), batch_size=10)))["image"]
    predicted = (
        faces + 0.2 * torch.randn(faces.shape, generator=torch.Generator().manual_seed(0))
    ).clamp(-1, 1)
    passes = []
    hooks = [
        net.net.body[0].register_forward_hook(lambda module, args, out: passes.append(len(out)))
        for net in (lpips_net, identity_net, fid_net, judge_32)
    ]
    with torch.no_grad():
        shared = embed_together(predicted, [lpips_net, identity_net, fid_net, judge_32])
        assert passes == [10, 10]  # one pass of each body for the batch
        apart = [net(predicted) for net in (lpips_net, identity_net, fid_net, judge_32)]
    for a, b in zip(shared, apart, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    passes.clear()
    scores, features = scores_and_features(predicted, faces, lpips_net, identity_net, fid_net)
    assert passes == [10, 10]  # predicted: one pass for three nets; targets: one for two
    assert scores == pytest.approx(reconstruction_scores(predicted, faces, lpips_net, identity_net))
    assert scores["lpips_domain"] == pytest.approx(lpips_distance(predicted, faces, lpips_net))
    torch.testing.assert_close(features, apart[2])
    for hook in hooks:
        hook.remove()
