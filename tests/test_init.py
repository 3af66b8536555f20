"""INIT (ganlab.objectives.aiw, ganlab.methods.translation.init) and its baselines StarGAN
and AttGAN: AIW by hand (the paper's batch gap and the pre-change per-sample one), the collapsed
embedding, multi-hop generation, eq. 10's nested hop sum against its explicit chains, the
1-hop weights on every hop, the real term once, the saturating generator loss, the
concatenation-conditioned discriminator, the phase order, VGG-Face's missing file, the
baselines' loss terms, attribute targets and the translate task end to end."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from PIL import Image

from ganlab.data.attribute_targets import apply_target, flipped_attribute
from ganlab.errors import ConfigError, MissingWeightsError
from ganlab.features.vggface import VGGFACE_MEAN, VGGFace, VGGFaceFeatures, vggface_input
from ganlab.methods.base import StepContext
from ganlab.methods.translation.attgan import attribute_code
from ganlab.methods.translation.stargan import attribute_classification_loss
from ganlab.nets.attgan import AttGANDiscriminator, AttGANGenerator
from ganlab.nets.stargan import (
    AttributeTranslator,
    ConditionalPatchDiscriminator,
    StarGANDiscriminator,
)
from ganlab.objectives.aiw import (
    aiw_scale,
    batch_distance_gap,
    discriminator_fake_loss,
    discriminator_real_loss,
    embedding_scale,
    importance_weights,
    multi_hop,
    multi_hop_loss,
    nested_hop_weights,
    non_saturating_generator_loss,
    per_sample_distance_gap,
    per_sample_logits,
    saturating_generator_loss,
)
from ganlab.objectives.translation import cycle_consistency_loss
from tests.conftest import compose_run

NAMES = ("black_hair", "blond_hair", "brown_hair", "bangs", "smiling")
# the options that give back INIT's pre-change defaults (experiments/init_ablation's tables)
PRE_CHANGE = [
    "model.aiw_gap=per_sample",
    "model.normalise_weights=true",
    "model.max_logit=5",
    "model.aiw_per_hop=true",
    "model.hop_weighting=uniform",
    "model.real_term_per_hop=true",
    "model.generator_objective=non_saturating",
    "model.generator_first=false",
    "model.discriminator.conditioning=projection",
]


def test_aiw_by_hand_one_batch_gap_scales_every_sample():
    # sources at 0, 90 and 180 degrees on the unit circle (projected to radius 1); the
    # translations lie on the first, the second and again the second source
    source = torch.tensor([[2.0, 0.0], [0.0, 3.0], [-1.0, 0.0]])
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    r2 = math.sqrt(2)
    # E, rows sources, columns translations (eq. 6)
    e = torch.tensor([[0.0, r2, r2], [r2, 0.0, 0.0], [2.0, r2, r2]])
    # sum_ij e_ij = 2 + 5 sqrt2, trace(E) = sqrt2: dl = 2 + 5 sqrt2 - 2 sqrt2 = 2 + 3 sqrt2
    assert batch_distance_gap(e).item() == pytest.approx(2 + 3 * r2)
    # dl* = 2r = 2: ||1 + (dl* - dl)||^2 = (1 - 3 sqrt2)^2 = 19 - 6 sqrt2 ~ 10.515 (eq. 7)
    scale = embedding_scale(source, target, radius=1.0)
    assert scale.shape == () and scale.item() == pytest.approx(19 - 6 * r2)
    # radius 2: E doubles, dl = 4 + 6 sqrt2, dl* = 4: (1 - 6 sqrt2)^2 = 73 - 12 sqrt2
    assert embedding_scale(source, target, radius=2.0).item() == pytest.approx(73 - 12 * r2)
    # AIW = factor * exp(D~): one factor for the batch, not renormalised, D~ = 10 not clamped
    logits = torch.tensor([0.0, math.log(2.0), 10.0])
    weights = importance_weights(scale, logits)
    factor = 19 - 6 * r2
    torch.testing.assert_close(weights, torch.tensor([factor, 2 * factor, factor * math.exp(10)]))
    # normalised to a batch mean of 1 (the pre-change option) the factor cancels
    normalised = importance_weights(scale, logits, normalise=True)
    torch.testing.assert_close(normalised, logits.exp() / logits.exp().mean())


def test_the_pre_change_per_sample_aiw_by_hand():
    # the same batch as above, each translation with its own gap from mean distances
    source = torch.tensor([[2.0, 0.0], [0.0, 3.0], [-1.0, 0.0]])  # projected to radius 1
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    logits = torch.tensor([0.0, math.log(2.0), 10.0])
    # e_ij: rows sources, columns translations
    e = torch.tensor(
        [
            [0.0, math.sqrt(2), math.sqrt(2)],
            [math.sqrt(2), 0.0, 0.0],
            [2.0, math.sqrt(2), math.sqrt(2)],
        ]
    )
    gap = torch.tensor(
        [
            (e[1, 0] + e[2, 0]) / 2 - e[0, 0],
            (e[0, 1] + e[2, 1]) / 2 - e[1, 1],
            (e[0, 2] + e[1, 2]) / 2 - e[2, 2],
        ]
    )
    scale = (1 + 2 * 1.0 - gap) ** 2
    expected = scale * torch.exp(torch.tensor([0.0, math.log(2.0), 5.0]))  # logit 10 clamped to 5
    computed_scale = embedding_scale(source, target, 1.0, gap="per_sample")
    torch.testing.assert_close(computed_scale, scale)
    weights = importance_weights(computed_scale, logits, 5.0, normalise=False)
    torch.testing.assert_close(weights, expected)
    normalised = importance_weights(computed_scale, logits, 5.0, normalise=True)
    torch.testing.assert_close(normalised, expected / expected.mean())
    # the third translation lies on the second source: its gap is negative, its weight largest
    assert gap[2] < 0 < gap[0] and scale[2] > scale[0]
    unclamped = importance_weights(scale, logits, max_logit=None, normalise=False)
    torch.testing.assert_close(unclamped[2], scale[2] * math.exp(10.0))
    with pytest.raises(ValueError, match="gap must be one of"):
        embedding_scale(source, target, 1.0, gap="mean")


def test_a_collapsed_embedding_gives_every_sample_the_largest_gap_factor():
    embeddings = torch.ones(4, 8)  # phi maps everything to one point: e_ij = 0
    logits = torch.tensor([0.0, 1.0, -1.0, 2.0])
    radius = 3.0
    distances = torch.cdist(embeddings, embeddings)
    gap = per_sample_distance_gap(distances)
    assert torch.equal(gap, torch.zeros(4)) and batch_distance_gap(distances).item() == 0
    torch.testing.assert_close(aiw_scale(gap, radius), torch.full((4,), (1 + 2 * radius) ** 2))
    for gap_kind in ("batch", "per_sample"):
        scale = embedding_scale(embeddings, embeddings, radius, gap_kind)
        weights = importance_weights(scale, logits)
        torch.testing.assert_close(weights, (1 + 2 * radius) ** 2 * logits.exp())
    # normalised, the common factor cancels: only exp(D~) ranks the samples
    normalised = importance_weights(scale, logits, normalise=True)
    torch.testing.assert_close(normalised, logits.exp() / logits.exp().mean())
    with pytest.raises(ValueError, match="batch of >= 2"):
        per_sample_distance_gap(torch.zeros(1, 1))


def test_weighted_losses_by_hand():
    real, fake = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 3.0])
    weights = torch.tensor([2.0, 0.0])
    expected = (F.softplus(-real).mean() + (2 * F.softplus(torch.tensor(0.5))) / 2).item()
    discriminator = discriminator_real_loss(real) + discriminator_fake_loss(fake, weights)
    assert discriminator.item() == pytest.approx(expected)
    assert non_saturating_generator_loss(fake, weights).item() == pytest.approx(
        (2 * F.softplus(torch.tensor(-0.5))).item() / 2
    )
    unweighted = -(
        torch.log(torch.sigmoid(real)).mean() + torch.log(1 - torch.sigmoid(fake)).mean()
    )
    assert (discriminator_real_loss(real) + discriminator_fake_loss(fake)).item() == pytest.approx(
        unweighted.item(), rel=1e-5
    )
    patch = torch.arange(8.0).view(2, 1, 2, 2)
    assert per_sample_logits(patch).tolist() == [1.5, 5.5]
    # patch maps: every patch its own term, each sample's weight on all of its patches
    by_patch = (2 * F.softplus(-patch[0]).sum() + 0 * F.softplus(-patch[1]).sum()) / 8
    assert non_saturating_generator_loss(patch, weights).item() == pytest.approx(by_patch.item())
    assert non_saturating_generator_loss(patch).item() != pytest.approx(
        F.softplus(-per_sample_logits(patch)).mean().item()
    )  # not the loss of the averaged logit


def test_the_saturating_generator_loss_by_hand():
    # eq. 8: G minimises E[AIW log(1 - D)]; D = sigmoid(logit), weights 2 and 0
    logits = torch.tensor([0.5, 3.0], requires_grad=True)
    weights = torch.tensor([2.0, 0.0])
    loss = saturating_generator_loss(logits, weights)
    # (2 log(1 - sigmoid(0.5)) + 0) / 2 = log(1 / (1 + e^0.5)) = -log(1 + e^0.5) ~ -0.974
    assert loss.item() == pytest.approx(-math.log(1 + math.exp(0.5)))
    # d/dl of w log(1 - sigmoid(l)) / B = -w sigmoid(l) / B: -sigmoid(0.5) and 0
    (grad,) = torch.autograd.grad(loss, logits)
    torch.testing.assert_close(grad, torch.tensor([-1 / (1 + math.exp(-0.5)), 0.0]))
    # it saturates where D rejects the fake: at logit -10 the gradient is e^-10 times smaller
    # than the non-saturating form's (-w sigmoid(-l) / B)
    rejected = torch.tensor([-10.0], requires_grad=True)
    (saturating,) = torch.autograd.grad(saturating_generator_loss(rejected), rejected)
    (non_saturating,) = torch.autograd.grad(non_saturating_generator_loss(rejected), rejected)
    assert saturating.item() == pytest.approx(non_saturating.item() * math.exp(-10), rel=1e-4)


def test_two_hops_apply_the_generator_twice_with_the_drawn_attributes():
    calls = []

    def translate(images, attributes):
        calls.append((images.clone(), attributes.clone()))
        return images + attributes.sum(1, keepdim=True)[:, :, None, None]

    images = torch.zeros(2, 1, 2, 2)
    first, second = torch.tensor([[1.0, 0.0], [0.0, 0.0]]), torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    hops = multi_hop(translate, images, [first, second])
    assert len(hops) == 2 and len(calls) == 2
    assert torch.equal(calls[0][1], first) and torch.equal(calls[1][1], second)
    assert torch.equal(calls[1][0], hops[0])  # the second hop reads the first hop's image
    assert hops[1][:, 0, 0, 0].tolist() == [3.0, 1.0]
    losses = [torch.tensor(2.0), torch.tensor(3.0)]
    assert multi_hop_loss(losses).item() == 5.0  # each hop once
    # eq. 10 with N = 2: chain 1 holds hop 1, chain 2 hops 1 and 2: 2 * 2 + 1 * 3
    assert nested_hop_weights(2) == [2.0, 1.0] and nested_hop_weights(3) == [3.0, 2.0, 1.0]
    assert multi_hop_loss(losses, nested_hop_weights(2)).item() == 7.0
    with pytest.raises(ValueError, match="at least one hop"):
        multi_hop(translate, images, [])


def init_overrides(*extra):
    tiny = ["experiment=init_toyfaces", "data.n_train=64", "data.n_val=16", "data.n_test=16"]
    tiny += ["data.batch_size=4", "eval.n_samples=8", "model.generator.width=4"]
    tiny += ["model.generator.n_residual=1", "model.discriminator.width=4"]
    tiny += ["model.attribute_reader.width=4"]
    return [*tiny, *extra]


def toy_batch(n=4):
    torch.manual_seed(1)
    attributes = torch.zeros(n, 10)
    attributes[torch.arange(n), torch.arange(n) % 3] = 1.0
    attributes[:, 4] = torch.tensor([1.0, 0.0, 1.0, 0.0])[:n]
    return {"image": torch.rand(n, 3, 32, 32) * 2 - 1, "attributes": attributes}


def init_module(tmp_path, *overrides):
    """The tiny INIT of ``init_overrides``, its nets drawn from seed 0."""
    cfg = compose_run(tmp_path, init_overrides(*overrides))
    torch.manual_seed(0)
    return instantiate(cfg.model)


def log_one_minus_d(discriminator, images, attributes):
    """log(1 - D(x, a)) per patch, from D's probabilities."""
    return torch.log(1 - torch.sigmoid(discriminator(images, attributes)))


@pytest.mark.parametrize("aiw", [True, False])
def test_the_pre_change_generator_loss_sums_the_hop_losses(tmp_path, aiw):
    losses = {}
    for hops in (1, 2):
        module = init_module(tmp_path, *PRE_CHANGE, f"model.hops={hops}", f"model.aiw={aiw}")
        module.phase_name = "generator"
        batch = toy_batch()
        torch.manual_seed(5)
        losses[hops] = module.generator_loss(batch, StepContext(module)).item()
        sources = module.embed(batch["image"]) if aiw else None
        # by hand, with the same random targets: every hop its own normalised AIW
        torch.manual_seed(5)
        images, labels = batch["image"], batch["attributes"]
        targets = module.hop_targets(labels)
        total, current = 0.0, images
        for target in targets:
            current = module.generator(current, target)
            logits = per_sample_logits(module.discriminator(current, target))
            weights = None
            if aiw:
                scale = embedding_scale(sources, module.embed(current), module.radius, "per_sample")
                weights = importance_weights(scale, logits, module.max_logit, normalise=True)
            rec = (module.generator(current, labels) - images).abs().mean()
            adversarial = non_saturating_generator_loss(logits, weights)
            total += (adversarial + module.lambda_rec * rec).item()
        assert losses[hops] == pytest.approx(total, rel=1e-5)
    assert losses[1] != pytest.approx(losses[2])


def test_mst_with_two_hops_equals_the_sum_over_the_one_and_two_hop_chains(tmp_path):
    batch = toy_batch()
    images, labels = batch["image"], batch["attributes"]
    adversarial = {}
    for weighting in ("nested", "uniform"):
        module = init_module(tmp_path, "model.hops=2", f"model.hop_weighting={weighting}")
        module.phase_name = "generator"
        torch.manual_seed(5)
        module.generator_loss(batch, StepContext(module))
        adversarial[weighting] = module._step_logs["loss/generator/adversarial"].item()
    # by hand: eq. 10 with N = 2 as its two chains, the 1-hop chain and the 2-hop chain
    torch.manual_seed(5)
    first, second = module.hop_targets(labels)
    generator, discriminator = module.generator, module.discriminator
    with torch.no_grad():
        one_hop = generator(images, first)
        chains = [[(one_hop, first)], [(one_hop, first), (generator(one_hop, second), second)]]
        # AIW(x^t) of the 1-hop targets (eq. 6-7): one batch factor times exp(D~)
        scale = embedding_scale(module.embed(images), module.embed(one_hop), module.radius)
        logits = per_sample_logits(discriminator(one_hop, first))
        assert scale.shape == () and logits.abs().max() < module.max_logit  # no clamp acts
        aiw = (scale * logits.exp())[:, None, None, None]
        # sum_{n=1,2} E[AIW * sum_{i<=n} log(1 - D(x^{t_i}, a^{t_i}))]
        by_chains = sum(
            (aiw * sum(log_one_minus_d(discriminator, x, a) for x, a in chain)).mean()
            for chain in chains
        )
        each_hop_once = sum(
            (aiw * log_one_minus_d(discriminator, x, a)).mean() for x, a in chains[1]
        )
    assert adversarial["nested"] == pytest.approx(by_chains.item(), rel=1e-5)
    assert adversarial["uniform"] == pytest.approx(each_hop_once.item(), rel=1e-5)
    assert adversarial["nested"] != pytest.approx(adversarial["uniform"], rel=1e-3)


@pytest.mark.parametrize("per_hop", [False, True])
def test_the_1_hop_targets_weights_weigh_every_hop(tmp_path, per_hop):
    module = init_module(tmp_path, "model.hops=3", f"model.aiw_per_hop={per_hop}")
    module.phase_name = "generator"
    batch, ctx = toy_batch(), StepContext(module)
    images = batch["image"]
    torch.manual_seed(5)
    module.generator_loss(batch, ctx)
    adversarial = module._step_logs["loss/generator/adversarial"].item()
    hops, targets = ctx["hops"]
    assert len(ctx["aiw_scales"]) == (3 if per_hop else 1)  # phi reads the 1-hop targets only
    discriminator = module.discriminator
    with torch.no_grad():
        sources = module.embed(images)

        def aiw_of(hop, target):
            scale = embedding_scale(sources, module.embed(hop), module.radius)
            return (scale * per_sample_logits(discriminator(hop, target)).exp())[
                :, None, None, None
            ]

        one_hop_weights = aiw_of(hops[0], targets[0])
        expected = 0.0
        for index, (hop, target) in enumerate(zip(hops, targets, strict=True)):
            weights = aiw_of(hop, target) if per_hop else one_hop_weights
            expected += (3 - index) * (weights * log_one_minus_d(discriminator, hop, target)).mean()
    assert adversarial == pytest.approx(expected.item(), rel=1e-5)


def test_the_discriminator_loss_by_hand_and_the_shared_hops_reach_the_generator(tmp_path):
    module = init_module(tmp_path)
    batch, ctx = toy_batch(), StepContext(module)
    module.phase_name = "discriminator"
    torch.manual_seed(5)
    loss = module.discriminator_loss(batch, ctx)
    images, labels = batch["image"], batch["attributes"]
    hops, targets = ctx["hops"]
    (scale,) = ctx["aiw_scales"]
    discriminator = module.discriminator
    fakes = [discriminator(hop.detach(), target) for hop, target in zip(hops, targets, strict=True)]
    aiw = importance_weights(scale, per_sample_logits(fakes[0]))[:, None, None, None]
    # -L: -E log D(x^s, a^s) once, then -L_g of eq. 10 with N = 2 (hop weights 2 and 1)
    real_term = -torch.log(torch.sigmoid(discriminator(images, labels))).mean()
    fake_terms = [-(aiw * torch.log(1 - torch.sigmoid(fake))).mean() for fake in fakes]
    adversarial = real_term + 2 * fake_terms[0] + fake_terms[1]
    logged = module._step_logs["loss/discriminator/adversarial"].item()
    assert logged == pytest.approx(adversarial.item(), rel=1e-5)
    reader = F.binary_cross_entropy_with_logits(module.attribute_reader(images), labels)
    assert loss.item() == pytest.approx((adversarial + reader).item(), rel=1e-5)
    generator_parameters = list(module.generator.parameters())
    through_d = torch.autograd.grad(loss, generator_parameters, allow_unused=True)
    assert all(g is None for g in through_d)  # the discriminator reads the hops detached
    module.phase_name = "generator"
    generator_loss = module.generator_loss(batch, ctx)  # the same hops, with their graph
    assert ctx["hops"][0][0] is hops[0] and hops[0].requires_grad
    hop_two = saturating_generator_loss(discriminator(hops[1], targets[1]))
    (through_hops,) = torch.autograd.grad(hop_two, [generator_parameters[0]])
    assert through_hops.abs().sum() > 0 and generator_loss.requires_grad
    # the pre-change count adds the real term once per hop: once more with two hops
    per_hop = init_module(tmp_path, "model.real_term_per_hop=true")
    per_hop.phase_name = "discriminator"
    torch.manual_seed(5)
    per_hop.discriminator_loss(batch, StepContext(per_hop))
    logged = per_hop._step_logs["loss/discriminator/adversarial"].item()
    assert logged == pytest.approx((adversarial + real_term).item(), rel=1e-5)


def test_the_generator_steps_before_the_discriminator_by_default(tmp_path):
    assert [phase.name for phase in init_module(tmp_path).phase_list] == [
        "generator",
        "discriminator",
    ]
    pre_change = init_module(tmp_path, "model.generator_first=false")
    assert [phase.name for phase in pre_change.phase_list] == ["discriminator", "generator"]


def test_the_one_hop_warm_up_draws_one_target_until_its_last_step(tmp_path):
    cfg = compose_run(tmp_path, init_overrides("model.hops=2", "model.one_hop_steps=3"))
    module = instantiate(cfg.model)
    labels = toy_batch()["attributes"]
    counts = []
    for step in (0, 2, 3, 10):
        module.phase_steps = {"generator": step}
        counts.append(len(module.hop_targets(labels)))
    assert counts == [1, 1, 2, 2]


def test_init_refuses_bad_settings(tmp_path):
    from hydra.errors import InstantiationException

    for override, message in (
        ("model.hops=0", "hops must be >= 1"),
        ("model.embedding=null", "AIW needs an embedding"),
        ("model.radius=0", "radius must be > 0"),
        ("model.max_logit=0", "max_logit clamps"),
        ("model.one_hop_steps=-1", "one_hop_steps must be >= 0"),
        ("model.aiw_gap=mean", "aiw_gap must be one of batch, per_sample"),
        ("model.hop_weighting=linear", "hop_weighting must be one of nested, uniform"),
        ("model.generator_objective=hinge", "generator_objective must be one of saturating"),
        ("model.discriminator.conditioning=film", "conditioning must be 'concat'"),
    ):
        cfg = compose_run(tmp_path, init_overrides(override))
        with pytest.raises(InstantiationException, match=message):
            instantiate(cfg.model)


def test_translator_and_discriminators_shapes_and_projection():
    torch.manual_seed(0)
    translator = AttributeTranslator(3, channels=3, width=4, n_down=2, n_residual=1)
    images = torch.rand(2, 3, 16, 16) * 2 - 1
    assert translator(images, torch.ones(2, 3)).shape == (2, 3, 16, 16)
    with pytest.raises(ValueError, match="takes 3 attributes, got 2"):
        translator(images, torch.ones(2, 2))
    star = StarGANDiscriminator(3, size=16, width=4, n_layers=3)
    scores, logits = star(images)
    assert scores.shape == (2, 1, 2, 2) and logits.shape == (2, 3)
    patch = ConditionalPatchDiscriminator(
        3, size=16, width=4, n_layers=3, conditioning="projection"
    )
    h = patch.trunk(images)
    a = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    difference = patch(images, a) - patch(images, torch.zeros(2, 3))
    expected = (h * (patch.attribute_embedding.weight @ a.T).T[:, :, None, None]).sum(
        1, keepdim=True
    )
    torch.testing.assert_close(difference, expected)
    with pytest.raises(ValueError, match="not divisible by 2\\^3"):
        StarGANDiscriminator(3, size=20, n_layers=3)
    generator = AttGANGenerator(3, width=4, max_width=16, n_layers=3, shortcut_layers=1)
    maps = generator.encode(images)
    assert [m.shape[1] for m in maps] == [4, 8, 16] and maps[-1].shape[-1] == 2
    assert generator(images, attribute_code(torch.ones(2, 3))).shape == (2, 3, 16, 16)
    adversarial, classes = AttGANDiscriminator(3, size=16, width=4, n_layers=3, fc_dim=8)(images)
    assert adversarial.shape == (2, 1) and classes.shape == (2, 3)


def test_the_concatenation_conditioned_discriminator_reads_attribute_maps():
    torch.manual_seed(0)
    discriminator = ConditionalPatchDiscriminator(3, size=16, width=4, n_layers=3)
    assert discriminator.conditioning == "concat"  # the paper's (sec. 3)
    assert discriminator.trunk[0].in_channels == 3 + 3  # RGB and one map per attribute
    images = torch.rand(2, 3, 16, 16) * 2 - 1
    a = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    logits = discriminator(images, a)
    assert logits.shape == (2, 1, 2, 2)
    maps = a[:, :, None, None].expand(-1, -1, 16, 16)  # the attributes replicated spatially
    by_hand = discriminator.source_head(discriminator.trunk(torch.cat([images, maps], 1)))
    torch.testing.assert_close(logits, by_hand)
    assert not torch.allclose(logits, discriminator(images, 1 - a))  # a changes the verdict
    with torch.no_grad():  # without first-layer weights on the attribute maps, a does not
        discriminator.trunk[0].weight[:, 3:] = 0
    torch.testing.assert_close(discriminator(images, a), discriminator(images, 1 - a))
    with pytest.raises(ValueError, match="takes 3 attributes, got 2"):
        discriminator(images, torch.ones(2, 2))


def test_vggface_keeps_the_layout_of_vgg_face_dag_and_reads_faces_at_224_px():
    with torch.device("meta"):  # the layout, without allocating its 138M parameters
        net = VGGFace()
    shapes = {name: tuple(value.shape) for name, value in net.state_dict().items()}
    assert len(shapes) == 32 and list(shapes)[:2] == ["conv1_1.weight", "conv1_1.bias"]
    assert shapes["conv3_3.weight"] == (256, 256, 3, 3) and shapes["conv5_3.bias"] == (512,)
    assert shapes["fc6.weight"] == (4096, 512 * 7 * 7) and shapes["fc8.weight"] == (2622, 4096)
    assert net(torch.empty(2, 3, 224, 224, device="meta")).shape == (2, 4096)
    # [-1, 1] -> [0, 255] less the RGB means, resized to 224 px
    faces = vggface_input(torch.tensor([-1.0, 1.0]).view(2, 1, 1, 1).expand(2, 3, 32, 32))
    mean = torch.tensor(VGGFACE_MEAN)
    assert faces.shape == (2, 3, 224, 224)
    torch.testing.assert_close(faces[:, :, 100, 100], torch.stack([-mean, 255 - mean]))


def test_a_missing_vggface_file_is_one_message_naming_it_and_its_source(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_hub"))
    with pytest.raises(MissingWeightsError) as missing:
        VGGFaceFeatures(str(tmp_path))  # a folder without the file
    message = str(missing.value)
    assert str(tmp_path / "vgg_face_dag.pth") in message and "\n" not in message
    assert "albanie/models/pytorch-mcn/vgg_face_dag.pth" in message
    assert "model.embedding_weights=<file>" in message
    with pytest.raises(MissingWeightsError, match="empty_hub"):
        VGGFaceFeatures()  # the torch hub cache


def test_stargan_generator_loss_by_hand(tmp_path):
    overrides = ["experiment=stargan_toyfaces", "model.generator.width=4"]
    overrides += ["model.generator.n_residual=1", "model.discriminator.width=4"]
    module = instantiate(compose_run(tmp_path, overrides).model)
    module.phase_name = "generator"
    batch = toy_batch()
    torch.manual_seed(3)
    loss = module.generator_loss(batch, StepContext(module)).item()
    torch.manual_seed(3)
    images, labels = batch["image"], batch["attributes"]
    targets = module.draw_targets(labels)
    fake = module.generator(images, targets)
    scores, logits = module.discriminator(fake)
    expected = -scores.mean() + attribute_classification_loss(logits, targets)
    expected = expected + 10 * (module.generator(fake, labels) - images).abs().mean()
    assert loss == pytest.approx(expected.item(), rel=1e-5)


def test_baseline_loss_terms_by_hand():
    logits, attributes = (
        torch.tensor([[0.0, 2.0], [1.0, -1.0]]),
        torch.tensor([[1.0, 0.0], [0.0, 0.0]]),
    )
    by_hand = (
        math.log(2)
        + F.softplus(torch.tensor(2.0))
        + F.softplus(torch.tensor(1.0))
        + F.softplus(torch.tensor(-1.0))
    ) / 2
    assert attribute_classification_loss(logits, attributes).item() == pytest.approx(by_hand.item())
    a, b = torch.zeros(1, 1, 2, 2), torch.tensor([1.0, -1.0, 2.0, 0.0]).view(1, 1, 2, 2)
    assert cycle_consistency_loss(b, a).item() == pytest.approx(1.0)
    assert attribute_code(torch.tensor([[1.0, 0.0]])).tolist() == [[0.5, -0.5]]


def test_the_evaluation_flips_attribute_i_mod_k_of_image_i():
    from ganlab.evaluation.declarations import one_flip_each

    attributes = torch.tensor([[1.0, 0.0, 0.0, 0.0, 1.0]] * 6)
    targets = one_flip_each(attributes, list(NAMES))
    assert targets.tolist() == [
        [0.0, 0.0, 0.0, 0.0, 1.0],  # 0: black hair off
        [0.0, 1.0, 0.0, 0.0, 1.0],  # 1: blond on, black off (exclusive)
        [0.0, 0.0, 1.0, 0.0, 1.0],  # 2: brown on
        [1.0, 0.0, 0.0, 1.0, 1.0],  # 3: bangs on
        [1.0, 0.0, 0.0, 0.0, 0.0],  # 4: smiling off
        [0.0, 0.0, 0.0, 0.0, 1.0],  # 5 = 0 mod 5
    ]


def test_attribute_targets_keep_hair_colours_exclusive():
    attributes = torch.tensor([[1.0, 0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 1.0, 0.0]])
    to_blond = flipped_attribute(attributes, NAMES, 1)
    assert to_blond.tolist() == [[0.0, 1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 1.0, 0.0]]
    off_black = flipped_attribute(attributes, NAMES, 0)
    assert off_black.tolist() == [[0.0, 0.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 1.0, 0.0]]
    changed = apply_target(attributes, NAMES, ["brown_hair", "-smiling"])
    assert changed.tolist() == [[0.0, 0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0, 0.0]]
    with pytest.raises(ConfigError, match="unknown attribute 'beard'"):
        apply_target(attributes, NAMES, ["beard"])


def write_faces(folder, names=("ann", "bob")):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in names:
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(
            folder / f"{name}.png"
        )
    return folder


def test_init_trains_scores_and_translates_user_images(tmp_path):
    from ganlab.run import run_task

    trained = tmp_path / "init"
    run_task(compose_run(trained, init_overrides("steps=3")))
    report = json.loads((trained / "metrics.json").read_text())
    metrics = report["metrics"]
    assert report["protocol"]["aiw_embedding"].startswith("features:identity_toyfaces_32px (")
    for key in (
        "attribute_accuracy_mean",
        "attribute_accuracy_multi",
        "attribute_accuracy_smiling",
    ):
        assert 0 <= metrics[key] <= 1
    # the untranslated input differs from its ground truth only in the flipped attribute
    assert 15 < metrics["psnr_input"] < 60 and metrics["psnr_ground_truth"] < metrics["psnr_input"]
    faces = write_faces(tmp_path / "faces")
    translate = [
        "task=translate",
        f"ckpt_path={trained / 'checkpoints' / 'last.ckpt'}",
        f"input={faces}",
    ]
    out = tmp_path / "translated"
    run_task(compose_run(out, [*translate, "attributes=[smiling,-male]"], main_defaults=True))
    index = json.loads((out / "index.json").read_text())
    assert index["attributes"] == ["smiling", "-male"]
    assert (out / "translations" / "bob_0.png").is_file()
    with pytest.raises(ConfigError, match="unknown attribute 'beard'"):
        run_task(
            compose_run(tmp_path / "bad", [*translate, "attributes=[beard]"], main_defaults=True)
        )


@pytest.mark.parametrize("method", ["stargan", "attgan"])
def test_baselines_train_and_score(tmp_path, method):
    from ganlab.run import run_task

    overrides = [f"experiment={method}_toyfaces", "steps=2", "data.n_train=64", "data.n_val=16"]
    overrides += ["data.n_test=16", "data.batch_size=4", "eval.n_samples=8"]
    overrides += ["model.generator.width=4", "model.discriminator.width=4"]
    if method == "stargan":
        overrides += ["model.generator.n_residual=1"]
    else:
        overrides += ["model.generator.max_width=16", "model.discriminator.max_width=16"]
        overrides += ["model.discriminator.fc_dim=8"]
    run_task(compose_run(tmp_path / method, overrides))
    metrics = json.loads((tmp_path / method / "metrics.json").read_text())["metrics"]
    assert 0 <= metrics["attribute_accuracy_mean"] <= 1 and "fid_domain_8" in metrics


def test_init_trains_on_two_domains_and_on_pairs(tmp_path):
    from ganlab.run import run_task

    rng = np.random.default_rng(0)
    for group, count in (("trainA", 3), ("trainB", 4), ("testA", 2), ("testB", 2)):
        (tmp_path / "yosemite" / group).mkdir(parents=True)
        for index in range(count):
            pixels = rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "yosemite" / group / f"{index}.png")
    for split, count in (("train", 4), ("val", 2)):
        (tmp_path / "e2s" / split).mkdir(parents=True)
        for index in range(count):
            pixels = rng.integers(0, 255, (16, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "e2s" / split / f"{index + 1}_AB.png")
    tiny = ["steps=2", "data.size=32", "data.batch_size=2", "data.num_workers=0", "~features"]
    tiny += ["model.aiw=false", "model.generator.width=4", "model.generator.n_residual=1"]
    tiny += ["model.discriminator.width=4", "model.discriminator.n_layers=3", "eval.n_samples=2"]
    tiny += ["model.attribute_reader.width=4", "model.attribute_reader.n_layers=3"]
    tiny += ["eval.perceptual=null"]
    for name, root in (("yosemite", "yosemite"), ("edges2shoes", "e2s")):
        run_dir = tmp_path / f"init_{name}"
        overrides = [f"experiment=init_{name}", f"data.root={tmp_path / root}", *tiny]
        run_task(compose_run(run_dir, overrides))
        metrics = json.loads((run_dir / "metrics.json").read_text())["metrics"]
        if name == "edges2shoes":
            assert metrics["psnr_edges_to_image"] > 0 and metrics["psnr_image_to_edges"] > 0
    module = instantiate(compose_run(tmp_path / "m", overrides).model)  # the edges2shoes run
    images, domains = module.labelled(
        {"edges": torch.zeros(2, 3, 4, 4), "image": torch.ones(2, 3, 4, 4)}
    )
    assert domains.flatten().tolist() == [0.0, 0.0, 1.0, 1.0] and images[2:].eq(1).all()
    batch = {"image": torch.ones(2, 3, 32, 32), "attributes": torch.ones(2, 1)}
    with pytest.raises(ValueError, match="needs paired two-domain data"):
        module.paired_loss(batch)


@pytest.mark.parametrize(
    ("experiment", "embedding", "weights_file"),
    [
        ("init_celebahq", "vggface", "vgg_face_dag.pth"),  # the paper's phi for faces
        ("init_yosemite", "vgg16", "vgg16-397923af.pth"),
        ("init_edges2shoes", "vgg16", "vgg16-397923af.pth"),
    ],
)
def test_real_data_experiments_name_the_missing_embedding_weights(
    tmp_path, monkeypatch, experiment, embedding, weights_file
):
    from hydra.errors import InstantiationException

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_hub"))
    cfg = compose_run(tmp_path, [f"experiment={experiment}", f"data.root={tmp_path}"])
    assert cfg.model.embedding == embedding and cfg.model.generator.n_attributes >= 1
    with pytest.raises(InstantiationException, match=weights_file):
        instantiate(cfg.model)
    plain = instantiate(
        compose_run(tmp_path, [f"experiment={experiment}", "model.aiw=false", "model.hops=1"]).model
    )
    assert plain.hops == 1 and not hasattr(plain, "embedding")


def test_data_whose_labels_are_not_the_models_attributes_is_refused_before_training(tmp_path):
    from ganlab.run import run_task

    with pytest.raises(ConfigError, match="set model.attribute_names="):
        run_task(compose_run(tmp_path / "r", init_overrides("model.attribute_names=[smiling]")))
    assert not (tmp_path / "r" / "checkpoints").exists()
