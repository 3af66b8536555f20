"""AdversarialModule: phases touch only their player's nets, the schedule, EMA, NaN guard."""

import copy
from functools import partial

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from ganlab.methods.base import AdversarialModule, NonFiniteLossError, Phase, Player
from ganlab.methods.noise.gan import GAN
from ganlab.methods.noise.wgan import WGAN, CriticBurst, GeneratorSchedule, critic_steps_before
from ganlab.nets.dcgan import DCGANDiscriminator, DCGANGenerator


class RandomImages(Dataset):
    def __init__(self, n=64, fill=None):
        self.images = (
            torch.rand(n, 1, 16, 16) * 2 - 1 if fill is None else torch.full((n, 1, 16, 16), fill)
        )

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return {"image": self.images[i]}


def tiny_gan(**kwargs) -> GAN:
    adam = partial(torch.optim.Adam, lr=1e-3)
    return GAN(DCGANGenerator(8, 16, 1, 4), DCGANDiscriminator(16, 1, 4), adam, adam, **kwargs)


def tiny_wgan(**kwargs) -> WGAN:
    adam = partial(torch.optim.Adam, lr=1e-3)
    return WGAN(
        DCGANGenerator(8, 16, 1, 4),
        DCGANDiscriminator(16, 1, 4, norm="layer"),
        adam,
        adam,
        **kwargs,
    )


def fit(module, max_steps, data=None):
    trainer = pl.Trainer(
        max_steps=max_steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(module, DataLoader(data or RandomImages(), batch_size=8, drop_last=True))
    return trainer


def snapshot(module):
    return {name: p.detach().clone() for name, p in module.named_parameters()}


def changed_nets(before, after):
    return {name.split(".")[0] for name in before if not torch.equal(before[name], after[name])}


@pytest.mark.parametrize(
    "make", [tiny_gan, lambda: tiny_wgan(gradient_penalty=10.0, weight_clip=None)]
)
def test_each_phase_changes_only_its_players_parameters(make, monkeypatch):
    module = make()
    record = []
    run_phase = module._run_phase

    def spy(phase, *args):
        before = snapshot(module)
        run_phase(phase, *args)
        record.append((phase.name, changed_nets(before, snapshot(module))))

    monkeypatch.setattr(module, "_run_phase", spy)
    fit(module, max_steps=12)
    assert {name for name, _ in record} == {phase.name for phase in module.phase_list}
    for name, changed in record:
        if name == "generator":
            assert "generator" in changed and changed <= {"generator", "generator_ema"}
        else:
            assert changed == {name}, f"{name} phase changed {changed}"


def test_wgan_schedule_runs_critic_every_batch_and_generator_every_n_critic():
    module = tiny_wgan(n_critic=5, weight_clip=0.01)
    assert module.optimizer_steps_for(2) == 12  # (5 critic + 1 generator) per generator step
    fit(module, max_steps=module.optimizer_steps_for(3))
    assert module.phase_steps == {"critic": 15, "generator": 3}
    assert module.iteration == 15
    assert all(p.abs().max() <= 0.01 for p in module.critic.parameters())


def test_critic_burst_gives_the_first_and_every_kth_generator_step_more_critic_steps():
    # Arjovsky et al.'s code: 100 critic steps before generator steps 0..24 and every 500th
    assert [critic_steps_before(g, 5, CriticBurst()) for g in (0, 24, 25, 499, 500, 1000)] == [
        100,
        100,
        5,
        5,
        100,
        100,
    ]
    burst = CriticBurst(steps=3, first=2, every=4)  # lengths 3 3 5 5 3 5 5 5 3 ...
    schedule = GeneratorSchedule(5, burst)
    assert [i for i in range(40) if schedule.runs_at(i)] == [2, 5, 10, 15, 18, 23, 28, 33, 36]
    assert GeneratorSchedule(5, burst).runs_at(36)  # asked out of order, from a fresh schedule
    assert copy.deepcopy(schedule).runs_at(36)  # plain data: modules holding it still copy
    module = tiny_wgan(
        n_critic=5, weight_clip=0.01, critic_burst={"steps": 3, "first": 2, "every": 4}
    )
    assert module.optimizer_steps_for(5) == (3 + 3 + 5 + 5 + 3) + 5  # critic + generator
    fit(module, max_steps=module.optimizer_steps_for(5))
    assert module.phase_steps == {"critic": 19, "generator": 5}
    with pytest.raises(ValueError, match="critic_burst needs steps >= 1"):
        CriticBurst(steps=0)


def test_joint_batch_lets_a_batchnorm_critic_see_a_shift_of_the_fakes():
    critic = torch.nn.Sequential(
        torch.nn.BatchNorm2d(1), torch.nn.Conv2d(1, 1, 16), torch.nn.Flatten(0)
    )
    adam = partial(torch.optim.Adam, lr=1e-3)
    generator = DCGANGenerator(8, 16, 1, 4)
    real = torch.randn(6, 1, 16, 16)
    fake = real + 3.0  # the same images, shifted
    separate = WGAN(generator, critic, adam, adam, weight_clip=0.01)
    real_scores, fake_scores = separate.scores(real, fake)
    assert torch.allclose(real_scores, fake_scores, atol=1e-5)  # each batch normalised alone
    joint = WGAN(generator, critic, adam, adam, weight_clip=0.01, joint_batch=True)
    real_scores, fake_scores = joint.scores(real, fake)
    assert torch.equal(torch.cat([real_scores, fake_scores]), critic(torch.cat([real, fake])))
    assert not torch.allclose(real_scores, fake_scores, atol=1e-3)


def test_gan_with_one_critic_step_counts_two_optimizer_steps_per_run_step():
    module = tiny_gan()
    trainer = fit(module, max_steps=module.optimizer_steps_for(4))
    assert trainer.global_step == 8 and module.run_step == 4


def test_ema_copies_before_start_and_lerps_after():
    module = tiny_gan(ema_decay=0.9, ema_start_step=1000)
    gen, ema = module.generator, module.generator_ema
    with torch.no_grad():
        for p in gen.parameters():
            p.fill_(1.0)
    module.phase_steps = {"generator": 1000}  # at the start step: plain copy
    module.update_ema()
    assert all(torch.all(p == 1.0) for p in ema.parameters())
    with torch.no_grad():
        for p in gen.parameters():
            p.fill_(3.0)
    module.phase_steps = {"generator": 1100}  # 0.9 * 1 + 0.1 * 3 (warm-up over: 101/110 > 0.9)
    module.update_ema()
    assert all(torch.allclose(p, torch.full_like(p, 1.2)) for p in ema.parameters())
    module.phase_steps = {"generator": 1001}  # warm-up: decay (1 + 1) / (10 + 1)
    assert module.ema_decay_now() == pytest.approx(2 / 11)
    assert not any(p.requires_grad for p in ema.parameters())


def test_sample_uses_the_ema_generator_in_eval_mode():
    module = tiny_gan()
    latent = torch.randn(3, 8)
    module.generator_ema.eval()
    with torch.no_grad():
        expected = module.generator_ema(latent)
    assert torch.equal(module.sample(latent=latent), expected)
    assert module.sample(5).shape == (5, 1, 16, 16)


def test_nan_loss_stops_before_the_step_is_applied():
    module = tiny_gan()
    before = snapshot(module)
    with pytest.raises(
        NonFiniteLossError, match="phase 'discriminator' produced a non-finite loss"
    ):
        fit(module, max_steps=4, data=RandomImages(fill=float("nan")))
    assert changed_nets(before, snapshot(module)) == set()


def test_method_choice_errors():
    with pytest.raises(ValueError, match="use model=wgan"):
        tiny_gan(game="wasserstein")
    adam = partial(torch.optim.Adam, lr=1e-3)

    def wgan_gp(critic, **options):
        generator = DCGANGenerator(8, 16, 1, 4)
        return WGAN(
            generator, critic, adam, adam, gradient_penalty=10.0, weight_clip=None, **options
        )

    with pytest.raises(ValueError, match="must not use BatchNorm"):
        wgan_gp(DCGANDiscriminator(16, 1, 4, norm="batch"))
    # a minibatch layer, from the trick or built into the critic
    with pytest.raises(ValueError, match="must not have a minibatch layer"):
        wgan_gp(DCGANDiscriminator(16, 1, 4, norm="layer"), tricks={"minibatch_discrimination": 4})
    with pytest.raises(ValueError, match="must not have a minibatch layer"):
        wgan_gp(DCGANDiscriminator(16, 1, 4, norm="layer", minibatch_kernels=4))
    with pytest.raises(ValueError, match="needs a Lipschitz constraint"):
        tiny_wgan(gradient_penalty=0.0, weight_clip=None)


def test_schedule_is_validated():
    class Broken(AdversarialModule):
        def players(self):
            return [Player("g", ("generator",), torch.optim.SGD)]

        def phases(self):
            return [Phase("generator", "nobody", lambda batch: torch.zeros(()))]

    with pytest.raises(ValueError, match="names unknown player 'nobody'"):
        _ = Broken({"generator": torch.nn.Linear(1, 1)}).phase_list


def test_each_player_steps_its_own_scheduler_once_per_optimizer_step():
    halve = partial(torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.5)
    module = tiny_wgan(n_critic=2, weight_clip=0.01, generator_scheduler=halve)
    fit(module, max_steps=module.optimizer_steps_for(3))
    critic_opt, generator_opt = (opt.optimizer for opt in module.optimizers())
    assert generator_opt.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.5**3)
    assert critic_opt.param_groups[0]["lr"] == pytest.approx(1e-3)


def test_gradient_clipping_bounds_each_update():
    sgd = partial(torch.optim.SGD, lr=1.0)
    module = GAN(
        DCGANGenerator(8, 16, 1, 4),
        DCGANDiscriminator(16, 1, 4),
        sgd,
        sgd,
        grad_clip_norm=1e-3,
        ema_decay=None,
    )
    before = snapshot(module)
    fit(module, max_steps=2)  # one SGD step per player with lr 1: ||update|| = ||clipped grad||
    for net in ("generator", "discriminator"):
        delta = torch.cat(
            [(snapshot(module)[k] - before[k]).flatten() for k in before if k.startswith(net)]
        )
        assert 0 < delta.norm().item() <= 1e-3 * (1 + 1e-4)


def test_models_stored_before_the_family_folders_load_where_their_classes_live_now():
    import torch

    from ganlab.assets import ASSET_DIR
    from ganlab.checkpoints import current_target, load_trained, with_current_targets

    assert current_target("ganlab.methods.gan.GAN") == "ganlab.methods.noise.gan.GAN"
    assert current_target("ganlab.methods.init.INIT") == "ganlab.methods.translation.init.INIT"
    for unchanged in ("ganlab.methods.base.Frozen", "ganlab.nets.dcgan.DCGANGenerator", "x.y"):
        assert current_target(unchanged) == unchanged
    stored = {
        "_target_": "ganlab.methods.cgan.CGAN",
        "nets": [{"_target_": "ganlab.methods.mgi.M"}],
    }
    assert with_current_targets(stored) == {
        "_target_": "ganlab.methods.noise.cgan.CGAN",
        "nets": [{"_target_": "ganlab.methods.inversion.mgi.M"}],
    }
    published = ASSET_DIR / "uda_toyfaces.pt"  # written before the move, and not re-made
    record = torch.load(published, weights_only=True, map_location="cpu")["ganlab"]
    assert record["method"] == "ganlab.methods.uda_inversion.UDAInversion"
    module, _ = load_trained(published)
    assert type(module).__module__ == "ganlab.methods.inversion.uda_inversion"
