"""The engine under methods unlike a GAN: a per-step context shared by the phases, weighted
loss terms logged one by one, EMA of several nets, an image pool, and a frozen pretrained
StyleGAN2 that is never trained, synchronised or stored."""

import json
from functools import partial

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from ganlab.assets import file_sha256
from ganlab.checkpoints import read_checkpoint
from ganlab.distributed import PlayerDDPStrategy
from ganlab.errors import CheckpointError
from ganlab.methods.base import AdversarialModule, Phase, Player
from ganlab.methods.translation.image_pool import ImagePool
from ganlab.run import run_task
from tests.conftest import (
    TEST_CONF,
    TINY_G,
    compose_run,
    final_state,
    train_on_one_and_two_processes,
)
from tests.methods.latent_encoder import LatentEncoder

TOY_DOMAINS = [
    TEST_CONF,
    "model=tiny_cycle",
    "data=toyfaces_domains",
    "data.base.size=32",
    "data.base.n_train=96",
    "data.base.n_val=48",
    "data.base.n_test=48",
    "logger=csv",
    "eval.n_samples=24",
]
TOY_ENCODER = [
    TEST_CONF,
    "model=latent_encoder",
    f"model.generator_path={TINY_G}",
    "data=digits",
    "data.size=16",
    "data.channels=3",
    "data.batch_size=16",
    "~features",
    "eval.n_samples=32",
    "eval.perceptual=null",
    "eval.split=val",  # digits has no test split
    "logger=csv",
]


class Recorder(AdversarialModule):
    """Two phases that record the context they see; the second reads what the first left."""

    step_phase = "second"

    def __init__(self):
        super().__init__({"a": torch.nn.Linear(2, 1), "b": torch.nn.Linear(2, 1)}, None)
        self.seen = []

    def players(self):
        sgd = partial(torch.optim.SGD, lr=0.1)
        return [Player("a", ("a",), sgd), Player("b", ("b",), sgd)]

    def phases(self):
        return [Phase("first", "a", self.first), Phase("second", "b", self.second, repeats=2)]

    def first(self, batch, ctx):
        ctx["made_by_first"] = self.a(batch["x"]).detach()
        self.seen.append(("first", ctx, sorted(ctx)))
        return self.weighted_sum(
            {"fit": self.a(batch["x"]).pow(2).mean(), "off": torch.ones(())}, {"off": 0.0}
        )

    def second(self, batch, ctx):
        calls = ctx.remember("calls", lambda: [])
        calls.append(1)
        self.seen.append(("second", ctx, sorted(ctx)))
        return (self.b(batch["x"]) - ctx["made_by_first"]).pow(2).mean()


def fit_module(module, steps, batch=4):
    data = [{"x": torch.randn(2)} for _ in range(32)]
    trainer = pl.Trainer(
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(module, DataLoader(data, batch_size=batch))
    return trainer


def test_phases_of_one_step_share_a_fresh_context():
    module = Recorder()
    fit_module(module, module.optimizer_steps_for(4))  # two batches
    first, second, second_again, next_first = module.seen[:4]
    assert first[1] is second[1] is second_again[1] and next_first[1] is not first[1]
    assert first[2] == ["made_by_first"] and next_first[2] == ["made_by_first"]
    assert second[2] == ["calls", "made_by_first"]  # remember() computed "calls" once per step


def test_weighted_sum_logs_every_term_and_leaves_out_zero_weights():
    module = Recorder()
    module.phase_name = "first"
    fit, off = torch.tensor(2.0), torch.tensor(5.0)
    total = module.weighted_sum({"fit": fit, "off": off}, {"fit": 3.0, "off": 0.0})
    assert total.item() == 6.0
    assert {k: v.item() for k, v in module._step_logs.items()} == {
        "loss/first/fit": 2.0,
        "loss/first/off": 5.0,
    }
    with pytest.raises(KeyError, match="not computed"):
        module.weighted_sum({"fit": fit}, {"typo": 1.0})


def test_image_pool_returns_new_images_until_full_then_swaps_half():
    pool = ImagePool(size=4)
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: every image passes through
    torch.manual_seed(0)
    swap, slots = torch.rand(6) < 0.5, torch.randint(4, (6,))
    torch.manual_seed(0)
    new = 10 + torch.arange(6.0).view(6, 1, 1, 1)
    shown = pool.query(new)
    stored = list(range(4))
    for i in range(6):  # the reference rule, image by image
        if swap[i]:
            assert shown[i].item() == stored[slots[i]]
            stored[slots[i]] = 10 + i
        else:
            assert shown[i].item() == 10 + i
    assert pool.images.flatten().tolist() == stored
    state = pool.get_extra_state()
    restored = ImagePool(4)
    restored.set_extra_state(state)
    assert torch.equal(restored.images, pool.images)


def test_tiny_cycle_trains_with_ema_of_both_generators_and_a_translation_evaluation(tmp_path):
    run_dir = tmp_path / "cycle"
    cfg = compose_run(
        run_dir,
        [
            *TOY_DOMAINS,
            "steps=6",
            "callbacks=default",
            "callbacks.progress=null",
            "callbacks.samples.every_n_steps=3",
            "callbacks.evaluation.every_n_steps=3",
            "callbacks.evaluation.n_samples=16",
        ],
    )
    run_task(cfg)
    state = read_checkpoint(run_dir / "checkpoints" / "last.ckpt")["state_dict"]
    for net in ("generator_ab", "generator_ba"):
        live = state[f"{net}.0.weight"]
        ema = state[f"{net}_ema.0.weight"]
        assert not torch.equal(live, ema)  # lerped with decay 0.9, not copied
    assert state["pool_a._extra_state"]["images"].shape == (50, 3, 32, 32)  # full: 6 x 16 > 50
    report = json.loads((run_dir / "metrics.json").read_text())
    assert report["run_step"] == 6 and report["global_step"] == 12
    assert {
        "fid_domain_24_a_to_b",
        "attribute_accuracy_a_to_b",
        "attribute_accuracy_b_to_a",
    } <= set(report["metrics"])
    assert report["protocol"]["fid_domain_24_a_to_b"]["reference"].endswith("domain b")
    assert sorted(p.name for p in (run_dir / "samples").glob("*.png")) == [
        "step_0000003.png",
        "step_0000006.png",
    ]
    history = [
        json.loads(line) for line in (run_dir / "evaluations.jsonl").read_text().splitlines()
    ]
    assert [entry["run_step"] for entry in history] == [3, 6]
    columns = (run_dir / "logs" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"loss/generators/cycle", "loss/generators/adversarial", "loss/discriminators/a"} <= set(
        columns
    )


@pytest.mark.slow  # test_cyclegan's two-process test checks the same on the real method
def test_tiny_cycle_on_two_processes_equals_one_process_with_twice_the_batch(tmp_path):
    """Two generators, two discriminators, two image pools acting on the global batch and EMA
    of both generators: 2 gloo processes with batch 4 end where 1 process with batch 8 does."""
    common = [
        *TOY_DOMAINS,
        "steps=8",
        "trainer.precision=64-true",
        "callbacks=default",
        "callbacks.progress=null",
        "callbacks.samples=null",
        "callbacks.evaluation=null",
        "callbacks.lr_monitor=null",
        "model.width=4",
        "eval.n_samples=8",
    ]
    run_dirs = train_on_one_and_two_processes(tmp_path, common, batch=4)
    states = {name: final_state(run_dir) for name, run_dir in run_dirs.items()}
    assert states["two"].keys() == states["one"].keys()
    torch.testing.assert_close(states["two"], states["one"], rtol=0, atol=1e-9)
    assert len(states["one"]["pool_b._extra_state"]["images"]) == 50


def test_frozen_stylegan2_is_never_trained_synchronised_or_stored(tmp_path, monkeypatch):
    run_dir = tmp_path / "encoder"
    run_task(
        compose_run(
            run_dir,
            [
                *TOY_ENCODER,
                "steps=3",
                "callbacks=default",
                "callbacks.progress=null",
                "callbacks.samples=null",
                "callbacks.evaluation=null",
                "callbacks.lr_monitor=null",
            ],
        )
    )
    module = LatentEncoder(str(TINY_G))
    generator = dict(module.generator.named_parameters())
    # in no optimizer, no gradients, always in eval mode
    module.configure_optimizers()
    assert all(
        not any(p is g for g in generator.values()) for p in module._player_params["encoder"]
    )
    assert not any(p.requires_grad for p in generator.values())
    module.train()
    assert not module.generator.training and module.encoder.training
    # not broadcast or shared between DDP processes
    sent = []
    monkeypatch.setattr(PlayerDDPStrategy, "world_size", property(lambda self: 2))
    monkeypatch.setattr(
        "ganlab.distributed.broadcast_tensors", lambda tensors: sent.extend(tensors)
    )
    strategy = PlayerDDPStrategy()
    strategy._lightning_module = strategy._model = module
    strategy.configure_ddp()
    strategy.synchronize_buffers(list(module.synchronized_buffers()))
    frozen = {t.data_ptr() for t in [*module.generator.parameters(), *module.generator.buffers()]}
    assert sent and not frozen & {t.data_ptr() for t in sent}
    assert {p.data_ptr() for p in module.encoder.parameters()} <= {t.data_ptr() for t in sent}
    # not in the checkpoint; its source and sha256 are
    checkpoint = read_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    assert not any(k.startswith("generator.") for k in checkpoint["state_dict"])
    assert any(k.startswith("encoder_ema.") for k in checkpoint["state_dict"])
    assert checkpoint["ganlab"]["frozen"] == {
        "generator": {"source": str(TINY_G), "fingerprint": f"sha256:{file_sha256(TINY_G)}"}
    }
    # a run that loads another file for the frozen net cannot restore the checkpoint
    other = tmp_path / "other_g.pt"
    other.write_bytes(TINY_G.read_bytes() + b"\0")
    with pytest.raises(CheckpointError, match="frozen net 'generator': the checkpoint was trained"):
        LatentEncoder(str(other)).restore_frozen_state(checkpoint)
    restored = LatentEncoder(str(TINY_G))
    restored.restore_frozen_state(checkpoint)
    restored.load_state_dict(checkpoint["state_dict"])  # strict: the generator is filled in
    assert torch.equal(restored.encoder[0].weight, checkpoint["state_dict"]["encoder.0.weight"])


def test_a_phase_may_not_train_a_frozen_net():
    module = LatentEncoder(str(TINY_G))
    monkeypatched = Player("encoder", ("encoder", "generator"), torch.optim.SGD)
    module.players = lambda: [monkeypatched]
    with pytest.raises(ValueError, match="trains frozen net 'generator'"):
        _ = module.phase_list


def test_encoder_reconstruction_loss_falls_and_is_evaluated(tmp_path):
    run_dir = tmp_path / "encoder"
    run_task(compose_run(run_dir, [*TOY_ENCODER, "steps=40", "callbacks=none"]))
    rows = (run_dir / "logs" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    column = header.index("loss/encoder/l2")
    losses = [float(r.split(",")[column]) for r in rows[1:] if r.split(",")[column]]
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5
    report = json.loads((run_dir / "metrics.json").read_text())
    assert {"psnr", "ssim", "mse"} <= set(report["metrics"])
    assert report["protocol"]["psnr"]["split"] == "val"


class SharedForward(AdversarialModule):
    """The head phase computes the encoder's output once; the encoder phase trains through it."""

    step_phase = "encoder"

    def __init__(self):
        super().__init__({"encoder": torch.nn.Linear(2, 2), "head": torch.nn.Linear(2, 1)}, None)

    def players(self):
        sgd = partial(torch.optim.SGD, lr=0.1)
        return [Player("head", ("head",), sgd), Player("encoder", ("encoder",), sgd)]

    def phases(self):
        return [
            Phase("head", "head", self.head_loss),
            Phase("encoder", "encoder", self.encoder_loss),
        ]

    def encoded(self, batch, ctx):
        return ctx.remember("encoded", lambda: self.encoder(batch["x"]))

    def head_loss(self, batch, ctx):
        return self.head(self.encoded(batch, ctx).detach()).pow(2).mean()

    def encoder_loss(self, batch, ctx):
        return self.encoded(batch, ctx).pow(2).mean()


def test_a_value_remembered_in_one_phase_trains_another_players_nets():
    module = SharedForward()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    fit_module(module, 2)  # one batch: head step, then encoder step through the head's forward
    after = module.state_dict()
    assert not torch.equal(before["encoder.weight"], after["encoder.weight"])
    assert not torch.equal(before["head.weight"], after["head.weight"])
    assert all(p.requires_grad for p in module.parameters())  # the toggling was undone
