"""Every shipped config composes and builds; experiments budget in generator steps."""

from pathlib import Path

import pytest
from hydra.utils import instantiate

from ganlab.evaluation import Translates
from ganlab.methods.base import AdversarialModule
from ganlab.methods.noise.stylegan2 import StyleGAN2
from ganlab.methods.noise.two_player import TwoPlayerModule
from ganlab.methods.noise.wgan import critic_steps_before
from ganlab.methods.translation.attribute_translation import AttributeTranslationModule
from ganlab.run import CONFIG_DIR
from tests.conftest import compose_run

EXPERIMENTS = sorted(p.stem for p in (Path(CONFIG_DIR) / "experiment").glob("*.yaml"))


# real data and weights (test_uda and test_bad_inputs check their file lists)
NEED_FILES = ("uda_ffhq", "uda_cars", "mgi_ffhq", "mgi_celebahq", "init_celebahq", "init_yosemite")
NEED_FILES += ("init_edges2shoes", "unit_svhn_mnist")


def small_data(experiment: str) -> list[str]:
    """Overrides that keep an experiment's embedded data small (no 20k-face render)."""
    two_domain = ("cyclegan", "gcgan", "distancegan", "unit", "munit")
    if experiment.startswith(("uda_", "psp_")) or experiment in [
        f"{m}_toyfaces" for m in two_domain
    ]:
        return ["data.base.n_train=128", "data.base.n_val=16", "data.base.n_test=16"]
    if experiment.endswith("_da"):
        return ["data.n_printed_train=64", "data.n_printed_test=16"]
    return ["data.n_train=128"] if "toyfaces" in experiment else []


@pytest.mark.parametrize("experiment", [e for e in EXPERIMENTS if e not in NEED_FILES])
def test_experiment_composes_and_builds(tmp_path, experiment):
    cfg = compose_run(tmp_path, [f"experiment={experiment}", *small_data(experiment)])
    assert cfg.name == experiment
    module = instantiate(cfg.model)
    if not getattr(module, "needs_training", True):  # a translator built from files (MGI)
        assert cfg.task == "translate" and isinstance(module, Translates)
        return
    assert isinstance(module, AdversarialModule)
    datamodule = instantiate(cfg.data)
    batch = next(iter(datamodule.train_dataloader()))
    assert cfg.trainer.max_steps == -1, "experiments set `steps` (generator steps), not max_steps"
    if isinstance(module, TwoPlayerModule):
        assert module.sample(2).shape[1:] == batch["image"].shape[1:]
        burst = getattr(module, "critic_burst", None)  # WGAN: Arjovsky's extra critic steps
        critic_steps = sum(critic_steps_before(g, module.n_critic, burst) for g in range(cfg.steps))
        assert module.optimizer_steps_for(cfg.steps) == cfg.steps + critic_steps
    elif isinstance(module, StyleGAN2):  # D and G every batch, lazy R1 every r1_every
        assert module.sample(2).shape[1:] == batch["image"].shape[1:]
        r1_steps = cfg.steps // module.r1_every
        assert module.optimizer_steps_for(cfg.steps) == 2 * cfg.steps + r1_steps
    elif isinstance(module, AttributeTranslationModule):  # D every batch, G every n_critic
        burst = getattr(module, "critic_burst", None)  # WGAN: Arjovsky's extra critic steps
        critic_steps = sum(critic_steps_before(g, module.n_critic, burst) for g in range(cfg.steps))
        assert module.optimizer_steps_for(cfg.steps) == cfg.steps + critic_steps
    else:  # every phase on every batch (a critic or a net trained alone, UDA's head + encoder)
        assert module.optimizer_steps_for(cfg.steps) == cfg.steps * len(module.phase_list)


@pytest.mark.parametrize("loss", ["gan", "nsgan", "hinge"])
def test_gan_losses_build(tmp_path, loss):
    module = instantiate(compose_run(tmp_path, [f"loss={loss}"]).model)
    assert module.game.critic_loss.__name__.startswith(("gan", "hinge"))


def test_default_run_is_the_uda_toyfaces_main_job(tmp_path):
    default = compose_run(tmp_path, [], main_defaults=True)
    preset = compose_run(tmp_path, ["experiment=uda_toyfaces"], main_defaults=True)
    assert default.model == preset.model and default.steps == preset.steps
    assert default.data == preset.data and default.eval == preset.eval
    assert default.model._target_ == "ganlab.methods.inversion.uda_inversion.UDAInversion"


@pytest.mark.parametrize(
    "override",
    [
        "trainer=debug",
        "trainer=gpu",
        "logger=none",
        "logger=tensorboard",
        "logger=wandb",
        "callbacks=none",
    ],
)
def test_group_options_compose(tmp_path, override):
    cfg = compose_run(tmp_path, [override])
    group, option = override.split("=")
    if group == "trainer":
        assert cfg.trainer._target_ == "pytorch_lightning.Trainer"
        assert cfg.trainer.max_steps == (12 if option == "debug" else -1)
    elif option == "none":
        assert len(cfg[group]) == 0
    else:
        assert option in cfg.logger


def test_a_swapped_optimizer_gets_none_of_the_defaults_settings(tmp_path):
    """Optimizers are built only when training starts; a swapped optimizer must not receive
    the default's settings (experiment=wgan_clip_digits: RMSprop with betas: null)."""
    cfg = compose_run(tmp_path, ["experiment=wgan_clip_digits"])
    module = instantiate(cfg.model)
    optimizers, _ = module.configure_optimizers()
    assert {type(o).__name__ for o in optimizers} == {"RMSprop"}
    assert all(group["lr"] == 5e-5 for o in optimizers for group in o.param_groups)
