"""IcGAN (ganlab.methods.noise.icgan, ganlab.nets.icgan): the encoders' losses (eq. 3-4) by hand,
the three encoder layouts, attribute conditioning of the critic, and attribute swapping."""

import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from ganlab.methods.noise.icgan import attribute_regression_loss, noise_reconstruction_loss, swapped
from ganlab.nets.conditional import ConditionalCritic, label_maps
from ganlab.nets.dcgan import DCGANDiscriminator
from ganlab.nets.icgan import IcGANEncoders
from tests.conftest import compose_run


def test_encoder_losses_by_hand():
    predicted, noise = (
        torch.tensor([[1.0, 2.0], [0.0, 0.0]]),
        torch.tensor([[0.0, 0.0], [3.0, 0.0]]),
    )
    assert noise_reconstruction_loss(predicted, noise).item() == pytest.approx((5 + 9) / 2)
    logits = torch.tensor([[0.0, 100.0]])  # sigmoid: 1/2 and ~1
    attributes = torch.tensor([[1.0, 1.0]])
    assert attribute_regression_loss(logits, attributes).item() == pytest.approx(0.25, abs=1e-6)
    flipped = swapped(torch.tensor([[1.0, 0.0, 1.0]]), 1)
    assert flipped.tolist() == [[1.0, 1.0, 1.0]]


def test_attribute_vectors_condition_the_critic():
    maps = label_maps(torch.tensor([[1.0, 0.0, 1.0]]), 3, (2, 2))
    assert maps[0, 0].eq(1).all() and maps[0, 1].eq(0).all() and maps[0, 2].eq(1).all()

    def body(channels):
        return DCGANDiscriminator(size=16, channels=channels, width=4, norm="none")

    critic = ConditionalCritic(body, channels=1, n_classes=3, conditioning="projection")
    image = torch.randn(2, 1, 16, 16)
    pooled = critic.net.features(image).sum((2, 3))
    both = critic(image, torch.tensor([[1.0, 0.0, 1.0]] * 2))
    none = critic(image, torch.zeros(2, 3))
    # an attribute vector's embedding is the sum of its attributes' embeddings
    expected = pooled @ (critic.embed.weight[0] + critic.embed.weight[2])
    torch.testing.assert_close(both - none, expected)
    with pytest.raises(ValueError, match="expected 3 attributes"):
        critic(image, torch.zeros(2, 4))


@pytest.mark.parametrize("layout", ["sng", "ind", "ind_cond"])
def test_encoder_layouts(layout):
    encoders = IcGANEncoders(layout, noise_dim=5, n_attributes=3, size=16, channels=1, width=4)
    images = torch.randn(4, 1, 16, 16)
    assert encoders.attribute_logits(images).shape == (4, 3)
    assert encoders.noise(images).shape == (4, 5)
    given = encoders.noise(images, torch.ones(4, 3))
    if layout == "ind_cond":  # E_z reads the attributes it is given
        assert not torch.allclose(given, encoders.noise(images, torch.zeros(4, 3)))
    else:
        torch.testing.assert_close(given, encoders.noise(images, torch.zeros(4, 3)))
    if layout == "sng":  # one net, its output split into [z, y]
        joint = encoders.joint(images)
        torch.testing.assert_close(joint[:, 5:], encoders.attribute_logits(images))
    with pytest.raises(ValueError, match="layout must be one of"):
        IcGANEncoders("shared")


def icgan_overrides(*extra):
    return ["experiment=icgan_toyfaces", "data.size=32", *extra]


def test_icgan_generates_from_attribute_rates_and_swaps(tmp_path):
    torch.manual_seed(0)
    module = instantiate(compose_run(tmp_path, icgan_overrides()).model)
    module.observe_attributes(torch.tensor([[1.0] * 5 + [0.0] * 5] * 3))
    module.observe_attributes(torch.tensor([[0.0] * 10]))
    torch.testing.assert_close(module.attribute_rates, torch.tensor([0.75] * 5 + [0.0] * 5))
    latent = module.sample_latent(400, torch.Generator().manual_seed(0))
    assert latent.shape == (400, 110)
    assert latent[:, 105:].eq(0).all() and 0.6 < latent[:, 100:105].mean() < 0.9
    images = torch.rand(3, 3, 32, 32) * 2 - 1
    edited, targets = module.swap_attributes(images, ["smiling", "young"])
    assert edited.shape == (2, 3, 3, 32, 32)
    _, attributes = module.encode(images)
    assert torch.equal(targets[0, :, 4], 1 - attributes[:, 4])
    assert torch.equal(targets[1, :, :9], attributes[:, :9])
    with pytest.raises(ValueError, match="unknown attributes \\['beard'\\]"):
        module.swap_attributes(images, ["beard"])


def test_icgan_checks_its_sizes(tmp_path):
    cfg = compose_run(tmp_path, icgan_overrides("model.generator.latent_dim=100"))
    with pytest.raises(InstantiationException, match="noise_dim \\+ attributes = 110"):
        instantiate(cfg.model)
    cfg = compose_run(tmp_path, icgan_overrides("model.encoders.noise_dim=20"))
    with pytest.raises(InstantiationException, match="the encoders give 20 noise dims"):
        instantiate(cfg.model)


def test_edit_swaps_the_attributes_of_user_images(tmp_path):
    import json

    import numpy as np
    from PIL import Image

    from ganlab.errors import ConfigError
    from ganlab.run import run_task

    trained = tmp_path / "icgan"
    tiny = ["steps=2", "data.n_train=64", "data.n_val=16", "data.n_test=16"]
    tiny += ["data.batch_size=8", "eval.n_samples=8", "model.generator.width=4"]
    tiny += ["model.discriminator.body.width=4", "model.encoders.width=4"]
    run_task(compose_run(trained, icgan_overrides(*tiny)))
    metrics = json.loads((trained / "metrics.json").read_text())["metrics"]
    assert (
        0 <= metrics["icgan_swap_accuracy"] <= 1 and 0 <= metrics["icgan_unedited_flip_rate"] <= 1
    )
    assert set(metrics) >= {f"icgan_swap_accuracy_{name}" for name in ("smiling", "young")}
    faces = tmp_path / "faces"
    faces.mkdir()
    rng = np.random.default_rng(0)
    for name in ("ann", "bob"):
        pixels = rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(faces / f"{name}.png")
    checkpoint = trained / "checkpoints" / "last.ckpt"
    edit = ["task=edit", f"ckpt_path={checkpoint}", f"input={faces}"]
    out = tmp_path / "edit"
    run_task(compose_run(out, [*edit, "swap=[smiling,young]"], main_defaults=True))
    index = json.loads((out / "index.json").read_text())
    assert index["swap"] == ["smiling", "young"]
    assert index["items"][0]["swapped"] == {
        "smiling": "swapped/ann_smiling.png",
        "young": "swapped/ann_young.png",
    }
    assert (out / "swapped" / "bob_young.png").is_file() and (out / "edits.png").is_file()
    with pytest.raises(ConfigError, match="not attributes of this model"):
        run_task(compose_run(tmp_path / "bad", [*edit, "swap=[beard]"], main_defaults=True))
    with pytest.raises(ConfigError, match="needs direction="):
        run_task(compose_run(tmp_path / "none", edit, main_defaults=True))
