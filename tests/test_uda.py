"""UDA-Inversion: the discrepancy's math (eq. 19 per sample and the official code's form, the
layers' calibration), which net each phase trains, the frozen nets, the no-adaptation
ablation's gradients, the encoders' checkpoint layouts, the real-data experiments' file list,
and an end-to-end run on toyfaces."""

import json
import math

import pytest
import pytorch_lightning as pl
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from PIL import Image
from torch.utils.data import DataLoader

from ganlab.checkpoints import read_checkpoint
from ganlab.errors import CheckpointError, MissingWeightsError
from ganlab.features.arcface import ARCFACE_FILE, ArcFaceFeatures, save_random_arcface
from ganlab.methods.base import StepContext
from ganlab.nets.encoders import (
    ConsultationEncoder,
    GradualStyleEncoder,
    ResidualAligner,
    load_net_weights,
)
from ganlab.nets.stylegan2 import fit_to_input, load_stylegan2
from ganlab.objectives.discrepancy import (
    balanced_layer_weights,
    discrepancy_of_means,
    discrepancy_per_sample,
    domain_discrepancy,
    feature_distance,
    layer_distances,
)
from ganlab.objectives.divergences import get_divergence
from ganlab.run import run_task
from tests.conftest import (
    TINY_G,
    compose_run,
    final_state,
    run_cli,
    train_on_one_and_two_processes,
)

TINY_UDA = [
    "experiment=uda_toyfaces",
    "model.encoder_path=null",  # the base encoder trains too: no dependence on a shipped E0
    "model.train_encoder=true",
    "model.encoder.width=16",
    "model.consultation.widths=[8,8,8]",
    "data.base.n_train=64",
    "data.base.n_val=16",
    "data.base.n_test=16",
    "data.batch_size=2",
    "logger=csv",
    "eval.n_samples=8",
    "features=domain",
]


def tiny_uda(tmp_path, *overrides):
    cfg = compose_run(tmp_path / "unused", [*TINY_UDA, *overrides])
    return instantiate(cfg.model), cfg


def faces(n=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return {
        "source": torch.rand(n, 3, 64, 64, generator=generator) * 2 - 1,
        "target": torch.rand(n, 3, 64, 64, generator=generator) * 2 - 1,
    }


# ---- the math -------------------------------------------------------------------------
def test_feature_distance_is_lpips_between_unit_normalised_maps():
    head = [torch.tensor([3.0, 0.0]).view(1, 2, 1, 1), torch.ones(1, 1, 2, 2)]
    frozen = [torch.tensor([0.0, 0.5]).view(1, 2, 1, 1), torch.ones(1, 1, 2, 2)]
    # layer 1: unit (1, 0) vs (0, 1): squared difference 1 + 1 = 2; layer 2: equal maps: 0
    assert layer_distances(head, frozen).tolist() == [[pytest.approx(2.0), 0.0]]
    assert feature_distance(layer_distances(head, frozen)).item() == pytest.approx(2.0)
    weights = [torch.tensor([0.5, 1.5]).view(1, 2, 1, 1), torch.ones(1, 1, 1, 1)]
    weighted = feature_distance(layer_distances(head, frozen, weights))
    assert weighted.item() == pytest.approx(0.5 + 1.5)


SOURCE, TARGET = torch.tensor([0.2, 0.4]), torch.tensor([0.5, 0.7])


def softplus(x):
    return math.log1p(math.exp(x))


def test_eq_19_takes_f_star_of_each_target_sample():
    pearson, js = get_divergence("pearson"), get_divergence("js")
    # Pearson, g_f(v) = v, f*(t) = t^2/4 + t: mean_s ℓ̂ - mean_t (ℓ̂^2/4 + ℓ̂)
    # = 0.3 - ((0.0625 + 0.5) + (0.1225 + 0.7)) / 2 = 0.3 - 0.6925
    assert discrepancy_per_sample(SOURCE, TARGET, pearson).item() == pytest.approx(-0.3925)
    # JS, g_f(v) = log 2 - softplus(-v), f*(g_f(v)) = softplus(v) - log 2:
    # mean_s (log 2 - softplus(-ℓ̂)) - mean_t (softplus(ℓ̂) - log 2)
    source = (2 * math.log(2) - softplus(-0.2) - softplus(-0.4)) / 2
    target = (softplus(0.5) + softplus(0.7) - 2 * math.log(2)) / 2
    assert source - target == pytest.approx(-0.2079142, abs=1e-7)
    assert discrepancy_per_sample(SOURCE, TARGET, js).item() == pytest.approx(source - target)
    assert domain_discrepancy(SOURCE, TARGET, js, "paper").item() == pytest.approx(source - target)


def test_the_official_form_is_f_star_of_the_batch_mean_as_before():
    pearson, js = get_divergence("pearson"), get_divergence("js")
    # the function as it was: g_f(mean_s ℓ̂) - f*(g_f(mean_t ℓ̂)); Pearson: 0.3 - (0.09 + 0.6)
    assert discrepancy_of_means(SOURCE, TARGET, pearson).item() == pytest.approx(-0.39)
    js_as_before = (math.log(2) - softplus(-0.3)) - (softplus(0.6) - math.log(2))
    assert discrepancy_of_means(SOURCE, TARGET, js).item() == pytest.approx(js_as_before)
    official = domain_discrepancy(SOURCE, TARGET, pearson, "official")
    assert official.item() == pytest.approx(-0.39)
    # equal domains: d_st(m, m) = m - m^2/4 - m = -m^2/4 (Pearson's bound at ratio 1 is 0
    # only for the optimal critic; the head is what moves it)
    assert discrepancy_of_means(TARGET, TARGET, pearson).item() == pytest.approx(-(0.6**2) / 4)
    with pytest.raises(ValueError, match=r"one of \('paper', 'official'\), got 'mean'"):
        domain_discrepancy(SOURCE, TARGET, pearson, "mean")


def test_for_pearson_the_two_forms_differ_by_a_quarter_of_the_target_variance():
    pearson = get_divergence("pearson")
    target = torch.tensor([0.1, 0.5, 0.9, 1.3])  # mean 0.7, variance (0.36 + 0.04) * 2 / 4
    variance = 0.2
    gap = discrepancy_of_means(SOURCE, target, pearson) - discrepancy_per_sample(
        SOURCE, target, pearson
    )
    assert gap.item() == pytest.approx(variance / 4)
    assert target.var(unbiased=False).item() == pytest.approx(variance)


def test_per_layer_calibration_balances_the_layers_and_keeps_the_initial_total():
    initial = torch.tensor([0.5, 2.0, 1.5])  # mean 4/3
    weights = balanced_layer_weights(initial)
    torch.testing.assert_close(weights, torch.tensor([8 / 3, 2 / 3, 8 / 9]))
    torch.testing.assert_close(weights * initial, torch.full((3,), 4 / 3))  # equal shares
    assert feature_distance(initial[None], weights).item() == pytest.approx(4.0)  # as summed
    later = torch.tensor([[1.0, 1.0, 0.0], [0.0, 3.0, 9.0]])
    expected = [8 / 3 + 2 / 3, 3 * 2 / 3 + 9 * 8 / 9]
    assert feature_distance(later, weights).tolist() == pytest.approx(expected)
    with pytest.raises(ValueError, match="some are not positive"):
        balanced_layer_weights(torch.tensor([0.5, 0.0]))


# ---- phases, frozen nets, the ablation's gradients --------------------------------------
def snapshot(module):
    """Every parameter, and the buffers of the frozen nets (a trained net's BatchNorm
    statistics move with its forward passes, which the head phase runs once per step)."""
    frozen = tuple(f"{name}." for name in module.frozen_sources)
    buffers = {k: v for k, v in module.named_buffers() if k.startswith(frozen)}
    return {
        name: value.clone()
        for name, value in {**dict(module.named_parameters()), **buffers}.items()
    }


def changed(before, after):
    return {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])}


PAPER_FORM_CALIBRATED = ["model.discrepancy_form=paper", "model.distance_calibration=per_layer"]


@pytest.mark.parametrize(
    "options", [[], PAPER_FORM_CALIBRATED], ids=["official", "paper_calibrated"]
)
def test_each_phase_trains_only_its_player_and_frozen_nets_never_change(
    tmp_path, monkeypatch, options
):
    module, _ = tiny_uda(tmp_path, *options)
    record = []
    run_phase = module._run_phase

    def spy(phase, *args):
        before = snapshot(module)
        run_phase(phase, *args)
        record.append((phase.name, changed(before, snapshot(module))))

    monkeypatch.setattr(module, "_run_phase", spy)
    trainer = pl.Trainer(
        max_steps=4,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(module, DataLoader([faces(1, s) for s in range(8)], batch_size=None))
    assert [name for name, _ in record] == ["head", "encoder", "head", "encoder"]
    for name, nets in record:
        assert nets == ({"head"} if name == "head" else {"encoder", "residue"}), (name, nets)
    assert set(module.frozen_sources) == {
        "generator",
        "perceptual_net",
        "identity_net",
        "head_reference",
    }
    stored = {key.split(".")[0] for key in module.checkpoint_state_dict()}
    assert stored.isdisjoint(module.frozen_sources)
    assert not module.head.training and not module.generator.training
    assert ("layer_balance" in stored) == bool(options)


@pytest.mark.parametrize("form", ["official", "paper"])
def test_the_encoder_descends_d_st_through_both_branches_in_the_paper_form(tmp_path, form):
    module, _ = tiny_uda(tmp_path, f"model.discrepancy_form={form}")
    module.configure_optimizers()
    module.phase_name = "encoder"
    ctx = StepContext(module)
    module.encoder_loss(faces(), ctx)
    logs = module._step_logs
    d_st, term = logs["uda/encoder/d_st"], logs["loss/encoder/discrepancy"]
    # eq. 20 and Algorithm 1 descend d_st; the official code descends |d_st|
    assert torch.equal(term, d_st if form == "paper" else d_st.abs())
    # H's maps of the reconstructions: with a graph to the encoder in the paper's form only
    maps = [m for domain in ctx["reference_maps"].values() for m in domain]
    assert all(m.requires_grad == (form == "paper") for m in maps)


def test_per_layer_calibration_is_measured_once_on_the_first_batch(tmp_path):
    module, _ = tiny_uda(tmp_path, "model.distance_calibration=per_layer")
    module.configure_optimizers()
    module.phase_name = "head"
    assert not bool(module.layer_balance_measured)
    first = faces(seed=0)
    ctx = StepContext(module)
    with torch.no_grad():
        module.discrepancy(first, ctx, detached=True)
        reconstructions, reference = ctx["inversions"], ctx["reference_maps"]
        per_layer = [
            module.head_layer_distances(
                module.for_features(reconstructions[d]["image"]), reference[d]
            )
            for d in ("source", "target")
        ]
    means = torch.cat(per_layer).mean(0)
    torch.testing.assert_close(module.layer_balance, balanced_layer_weights(means))
    measured = module.layer_balance.clone()
    module.discrepancy(faces(seed=1), StepContext(module), detached=True)
    assert torch.equal(module.layer_balance, measured)  # kept: later batches change nothing
    with pytest.raises(InstantiationException, match="distance_calibration must be one of"):
        tiny_uda(tmp_path, "model.distance_calibration=mean")
    with pytest.raises(InstantiationException, match="discrepancy_form must be one of"):
        tiny_uda(tmp_path, "model.discrepancy_form=eq19")


def test_without_adaptation_the_encoder_gets_exactly_the_source_loss_gradients(tmp_path):
    module, _ = tiny_uda(tmp_path, "model.lambda_uda=0")
    module.configure_optimizers()
    module.phase_name = "encoder"
    batch = faces()
    params = [p for name in module.encoder_nets() for p in module.get_submodule(name).parameters()]
    with_head = torch.autograd.grad(module.encoder_loss(batch, StepContext(module)), params)
    parts = module.invert_parts(batch["source"])
    source_only = module.weighted_terms(module.source_terms(parts, batch["source"]))
    alone = torch.autograd.grad(source_only, params)
    assert all(torch.equal(a, b) for a, b in zip(with_head, alone, strict=True))
    module.weights["discrepancy"] = 0.5  # the same nets, adapted: d_st now moves the encoder
    adapted = torch.autograd.grad(module.encoder_loss(batch, StepContext(module)), params)
    assert any(not torch.equal(a, b) for a, b in zip(adapted, alone, strict=True))


# ---- nets and their checkpoint layouts ----------------------------------------------------
def test_psp_encoder_has_the_ir_se50_layout_and_loads_prefixed_weights(tmp_path):
    encoder = GradualStyleEncoder(18, 256)  # pSp / e4e at 1024 px: 18 styles
    keys = encoder.state_dict()
    for key, shape in {
        "input_layer.0.weight": (64, 3, 3, 3),
        "body.0.shortcut_layer.0.weight": None,  # 64 -> 64: a max-pool shortcut, no weights
        "body.3.shortcut_layer.0.weight": (128, 64, 1, 1),
        "body.23.res_layer.5.fc2.weight": (512, 32, 1, 1),
        "styles.0.convs.6.weight": (512, 512, 3, 3),  # coarse: 16 -> 1 in 4 convs
        "styles.17.convs.10.weight": (512, 512, 3, 3),  # fine: 64 -> 1 in 6 convs
        "styles.17.linear.weight": (512, 512),
        "latlayer1.weight": (512, 256, 1, 1),
        "latlayer2.weight": (512, 128, 1, 1),
    }.items():
        if shape is None:
            assert key not in keys
        else:
            assert tuple(keys[key].shape) == shape, key
    assert not any(key.startswith("latlayer3") for key in keys)
    small = GradualStyleEncoder(10, 64, style_dim=32, backbone="conv", width=16)
    assert small(torch.randn(2, 3, 64, 64)).shape == (2, 10, 32)
    path = tmp_path / "e4e_like.pt"
    state = {f"encoder.{k}": v + 1 for k, v in small.state_dict().items()}
    torch.save({"state_dict": state | {"decoder.x": torch.zeros(1)}}, path)
    copy = GradualStyleEncoder(10, 64, style_dim=32, backbone="conv", width=16)
    load_net_weights(copy, path, "encoder.", "encoder")
    assert torch.equal(copy.styles[3].linear.weight, small.styles[3].linear.weight + 1)
    wrong = GradualStyleEncoder(10, 64, style_dim=32, backbone="conv", width=24)
    with pytest.raises(CheckpointError, match="does not fit the encoder .* shape mismatches"):
        load_net_weights(wrong, path, "encoder.", "encoder")
    with pytest.raises(MissingWeightsError, match="encoder weights not found"):
        load_net_weights(wrong, tmp_path / "none.pt", "encoder.", "encoder")


def test_hfgi_parts_have_hfgis_layout_and_shapes():
    residue = ConsultationEncoder(512, 64)
    keys = residue.state_dict()
    assert tuple(keys["conv_layer1.0.weight"].shape) == (32, 3, 3, 3)
    assert tuple(keys["conv_layer2.0.shortcut_layer.0.weight"].shape) == (48, 32, 1, 1)
    assert tuple(keys["condition_scale3.0.weight"].shape) == (512, 64, 3, 3)
    assert tuple(keys["condition_shift3.2.weight"].shape) == (512, 512, 3, 3)
    scale, shift = ConsultationEncoder(16, 32, widths=(8, 8, 8))(torch.randn(2, 3, 64, 64))
    assert scale.shape == shift.shape == (2, 16, 32, 32) and scale.abs().max() > 0
    quiet = ConsultationEncoder(16, 32, widths=(8, 8, 8), zero_init=True)
    assert all(t.abs().max() == 0 for t in quiet(torch.randn(2, 3, 64, 64)))  # starts as plain G
    aligner = ResidualAligner(widths=(4, 8, 8, 8))
    assert aligner(torch.randn(2, 6, 64, 64)).shape == (2, 3, 64, 64)
    assert "dconv_layer3.1.shortcut_layer.0.weight" in ResidualAligner().state_dict()


def test_generator_fuses_conditions_into_one_block():
    generator, _ = load_stylegan2(TINY_G)  # 16 px: blocks at 8 and 16 px
    codes = torch.randn(2, generator.n_latent, generator.style_dim)
    plain = generator([codes], input_is_latent=True, randomize_noise=False)[0]
    zeros = (torch.zeros(2, 32, 8, 8), torch.zeros(2, 32, 8, 8))
    fused = generator([codes], input_is_latent=True, randomize_noise=False, conditions=zeros)[0]
    assert torch.equal(plain, fused)  # scale 0, shift 0: features * 1 + 0
    shifted = (torch.zeros(2, 32, 8, 8), torch.ones(2, 32, 8, 8))
    moved = generator([codes], input_is_latent=True, randomize_noise=False, conditions=shifted)[0]
    assert (moved - plain).abs().max() > 1e-3
    with pytest.raises(ValueError, match="conditions of size 5 match no block"):
        generator([codes], input_is_latent=True, conditions=(torch.zeros(2, 32, 5, 5),) * 2)


def test_hfgis_two_draws_share_the_blocks_below_the_fusion_and_equal_two_full_draws(tmp_path):
    module, _ = tiny_uda(tmp_path, "model.consultation.zero_init=false")
    images = faces(3)["source"]
    calls = []
    first_conv = module.generator.conv1
    hook = first_conv.register_forward_hook(lambda *_: calls.append(1))
    with torch.no_grad():
        parts = module.invert_parts(images)
        assert len(calls) == 1  # the 4 px block ran once for both draws
        codes = module.codes(images)
        coarse = module.draw(codes)
        distortion = images - fit_to_input(coarse.clamp(-1, 1), images, mode="bilinear")
        conditions = module.residue(distortion)
        full = fit_to_input(module.draw(codes, conditions), images)
    hook.remove()
    assert torch.equal(parts["coarse"], coarse) and torch.equal(parts["image"], full)
    assert (full - coarse).abs().max() > 1e-3  # the conditions change the image


def test_a_condition_size_that_no_block_fuses_is_refused(tmp_path):
    with pytest.raises(InstantiationException, match="condition_size=128"):
        tiny_uda(tmp_path, "model.condition_size=128")


def test_arcface_loads_the_insightface_layout_and_embeds_unit_vectors(tmp_path):
    save_random_arcface(tmp_path / ARCFACE_FILE)
    net = ArcFaceFeatures(str(tmp_path))
    embeddings = net(torch.rand(3, 3, 256, 256) * 2 - 1)
    assert embeddings.shape == (3, 512)
    torch.testing.assert_close(embeddings.norm(dim=1), torch.ones(3))
    with pytest.raises(MissingWeightsError, match="model_ir_se50.pth.*InsightFace_Pytorch"):
        ArcFaceFeatures(str(tmp_path / "elsewhere"))


# ---- experiments --------------------------------------------------------------------------
@pytest.mark.parametrize("experiment, count", [("uda_ffhq", 7), ("uda_cars", 5)])
def test_real_data_experiments_list_every_missing_file_before_training(tmp_path, experiment, count):
    env = {
        "GANLAB_DATA": str(tmp_path / "data"),
        "GANLAB_PRETRAINED": str(tmp_path / "weights"),
        "TORCH_HOME": str(tmp_path / "torch"),
    }
    result = run_cli(
        [f"experiment={experiment}", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path, env=env
    )
    assert result.returncode == 2
    message = result.stderr.strip().splitlines()
    assert message[0] == (
        f"ganlab: error: {experiment} needs {count} file(s) that are not on this machine "
        "(ganlab never downloads them):"
    )
    listed = "\n".join(message[1:])
    assert str(tmp_path / "weights") in listed and "alexnet-owt-7be5be79.pth" in listed
    assert not (tmp_path / "run" / "config.yaml").exists()  # stopped before the run began


def test_a_short_uda_run_writes_table_ii_metrics_and_a_published_model_that_inverts(tmp_path):
    run_dir = tmp_path / "uda"
    run_task(compose_run(run_dir, [*TINY_UDA, "steps=3", "callbacks=none"]))
    report = json.loads((run_dir / "metrics.json").read_text())
    for metric in ("psnr", "ssim", "mse", "lpips_domain", "identity_similarity", "fid_domain_8"):
        for domain in ("source", "target"):
            assert f"{metric}_{domain}" in report["metrics"], (metric, domain)
    assert report["protocol"]["psnr_target"]["input"] == "degraded"
    assert report["protocol"]["psnr_target"]["compared_with"] == "clean"
    assert report["protocol"]["psnr_target"]["split"] == "test"
    published = run_dir / "uda_toyfaces.pt"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["uda_toyfaces.pt"]["run_step"] == 3
    saved = read_checkpoint(published)
    assert not any(k.startswith(("generator.", "head_reference.")) for k in saved["state_dict"])
    assert saved["ganlab"]["frozen"]["generator"]["source"] == "asset:stylegan2_toyfaces_64.pt"
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (80, 64), (90, 120, 200)).save(photos / "face.png")
    out = tmp_path / "invert"
    run_task(compose_run(out, ["task=invert", f"input={photos}", f"ckpt_path={published}"]))
    index = json.loads((out / "index.json").read_text())
    assert index["code_shape"] == [10, 128]  # W+ of the toyfaces generator


@pytest.mark.slow  # ~35 s; the quick suite keeps the engine's DDP check (test_engine)
def test_uda_on_two_processes_equals_one_process_with_twice_the_batch(tmp_path):
    """Encoder (plain convs), discrepancy head and all frozen nets in float64: 2 gloo
    processes with 2 + 2 faces a step end where 1 process with 4 + 4 does."""
    common = [
        *TINY_UDA,
        "steps=3",
        "trainer.precision=64-true",
        "model.consultation=null",
        "callbacks=default",
        "callbacks.progress=null",
        "callbacks.samples=null",
        "callbacks.evaluation=null",
        "callbacks.lr_monitor=null",
        "eval.n_samples=4",
    ]
    run_dirs = train_on_one_and_two_processes(tmp_path, common, batch=2)
    states = {name: final_state(run_dir) for name, run_dir in run_dirs.items()}
    assert states["two"].keys() == states["one"].keys()
    assert any(k.startswith("head.") for k in states["one"])
    # float64: only the order of the batch means' additions differs (up to ~1e-9 seen)
    torch.testing.assert_close(states["two"], states["one"], rtol=0, atol=1e-7)


def test_the_shipped_uda_encoder_inverts_a_users_photo_out_of_the_box(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (96, 64), (200, 170, 140)).save(photos / "portrait.jpg")
    out = tmp_path / "invert"
    run_task(compose_run(out, ["task=invert", f"input={photos}", "asset=uda_toyfaces"]))
    index = json.loads((out / "index.json").read_text())
    assert index["model"].endswith("ganlab/assets/uda_toyfaces.pt")
    assert Image.open(out / index["items"][0]["reconstruction"]).size == (64, 64)
    assert (out / "before_after.png").is_file()
