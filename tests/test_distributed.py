"""ganlab's per-player DDP: W CPU processes (gloo) with batch B compute exactly what one process
with batch W x B computes, every process ends with the same weights, and a multi-process run
that nobody synchronises is refused."""

import os
import socket
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from ganlab.distributed import (
    GradientAverager,
    PlayerDDPStrategy,
    gradients_are_averaged,
    own_share,
    split_into_buckets,
    state_fingerprint,
)
from ganlab.errors import ConfigError
from tests.conftest import (
    REPO,
    compose_run,
    final_state,
    run_cli,
    train_on_one_and_two_processes,
)

TINY_DIGITS = [
    # float64: in float32 the two runs differ by rounding, which Adam's normalised steps
    # amplify to ~lr (1e-4) for weights whose gradients are ~0 (measured 1.1e-4 after 120
    # WGAN-GP optimizer steps); in float64 the same comparison isolates the algorithm
    "trainer.precision=64-true",
    "model.generator.width=8",
    "model.generator.norm=layer",  # BatchNorm would normalise each process's share alone
    "logger=csv",
    "eval.n_samples=100",
    "callbacks.evaluation.every_n_steps=100000",
    "callbacks.samples.every_n_steps=100000",
]


def assert_same_training(tmp_path, overrides: list[str], batch: int) -> dict:
    run_dirs = train_on_one_and_two_processes(tmp_path, overrides, batch)
    two = run_dirs["two"]
    two_state, one_state = final_state(two), final_state(run_dirs["one"])
    assert two_state.keys() == one_state.keys()
    for name, value in one_state.items():
        torch.testing.assert_close(two_state[name], value, rtol=0, atol=1e-5, msg=name)
    moved = max((one_state[k] - two_state[k]).abs().max().item() for k in one_state)
    assert (two / "metrics.json").exists() and not (two / "train_ddp_process_1").exists()
    return {"largest_difference": moved}


@pytest.mark.slow  # the quick suite keeps the CycleGAN-shaped method's DDP check
def test_wgan_gp_two_processes_equal_one_process_with_twice_the_batch(tmp_path):
    assert_same_training(
        tmp_path,
        ["experiment=wgan_digits", "steps=20", "model.critic.width=8", *TINY_DIGITS],
        batch=8,
    )


@pytest.mark.slow  # the quick suite keeps the CycleGAN-shaped method's DDP check (test_engine)
def test_infogan_two_processes_equal_one_process_with_twice_the_batch(tmp_path):
    assert_same_training(
        tmp_path,
        [
            "experiment=infogan_digits",
            "steps=20",
            "model.discriminator.width=8",
            "model.discriminator.norm=layer",
            "model.q_head.norm=layer",
            *TINY_DIGITS,
        ],
        batch=8,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_two_nodes_of_one_process_equal_one_process_with_twice_the_batch(tmp_path):
    """trainer.num_nodes=2: the processes a cluster starts on two nodes (here both on this
    machine, with the environment torchrun or srun gives them) form one run."""
    overrides = ["experiment=wgan_digits", "steps=10", "model.critic.width=8", *TINY_DIGITS]
    two, one = tmp_path / "two_nodes", tmp_path / "one_process"
    trainer = ["trainer=ddp_cpu", "trainer.devices=1", "trainer.num_nodes=2", "data.batch_size=8"]
    rendezvous = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "WORLD_SIZE": "2"}
    nodes = [
        subprocess.Popen(
            [sys.executable, "-m", "ganlab.run", *overrides, *trainer, f"hydra.run.dir={two}"],
            cwd=tmp_path,
            env={
                **os.environ,
                **rendezvous,
                "NODE_RANK": str(node),
                "RANK": str(node),
                "LOCAL_RANK": "0",
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for node in (0, 1)
    ]
    outputs = [node.communicate(timeout=600)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    assert "MEMBER: 2/2" in outputs[1]
    single = ["trainer=cpu", "data.batch_size=16", f"hydra.run.dir={one}"]
    result = run_cli([*overrides, *single], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    two_state, one_state = final_state(two), final_state(one)
    for name, value in one_state.items():
        torch.testing.assert_close(two_state[name], value, rtol=0, atol=1e-5, msg=name)


def test_each_process_keeps_every_wth_row_of_the_global_draw():
    draw = torch.arange(12).view(6, 2)
    shares = [own_share(draw, rank, 3) for rank in range(3)]
    assert shares[1].tolist() == [[2, 3], [8, 9]]
    assert sorted(torch.cat(shares)[:, 0].tolist()) == draw[:, 0].tolist()


def test_one_process_draws_its_batch_directly():
    from ganlab.methods.noise.gan import GAN
    from ganlab.nets.dcgan import DCGANDiscriminator, DCGANGenerator

    module = GAN(DCGANGenerator(8, 16), DCGANDiscriminator(16), torch.optim.Adam, torch.optim.Adam)
    torch.manual_seed(0)
    latent = module.sample_latent(5)
    torch.manual_seed(0)
    assert torch.equal(latent, torch.randn(5, 8))


def test_unsynchronised_processes_are_refused():
    single = SimpleNamespace(world_size=1, strategy=SimpleNamespace(model=nn.Linear(1, 1)))
    bare = SimpleNamespace(world_size=2, strategy=SimpleNamespace(model=nn.Linear(1, 1)))
    assert gradients_are_averaged(single)
    assert not gradients_are_averaged(bare)
    ours = SimpleNamespace(world_size=2, strategy=PlayerDDPStrategy.__new__(PlayerDDPStrategy))
    assert gradients_are_averaged(ours)


def test_fingerprint_sees_any_weight_change():
    net = nn.Linear(3, 2)
    before = state_fingerprint(net)
    with torch.no_grad():
        net.weight[0, 0] += 1e-3
    assert (state_fingerprint(net) - before).abs().max() > 0


def test_ddp_configs_use_the_per_player_strategy():
    for name in ("ddp", "ddp_cpu"):
        text = (REPO / "conf" / "trainer" / f"{name}.yaml").read_text()
        assert "ganlab.distributed.PlayerDDPStrategy" in text


def test_a_local_sweep_of_ddp_members_is_refused_before_lightning_relaunches_it(
    tmp_path, monkeypatch
):
    """Lightning's own DDP launch re-runs the command line, which for `-m` is the whole sweep;
    sweep members with several processes go through SLURM (tests/test_slurm.py)."""
    import ganlab.run

    for variable in ("SLURM_NTASKS", "SLURM_JOB_NAME", "LOCAL_RANK", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(variable, raising=False)
    single = compose_run(tmp_path, ["trainer=ddp_cpu", "trainer.devices=2"])
    ganlab.run.check_config(single)  # one run: Lightning may start the second process
    monkeypatch.setattr(ganlab.run, "is_multirun", lambda: True)
    ganlab.run.check_config(compose_run(tmp_path, ["trainer=cpu"]))  # one process: fine
    with pytest.raises(
        ConfigError, match="sweep member with 4 DDP processes.*hydra/launcher=slurm"
    ):
        ganlab.run.check_config(
            compose_run(tmp_path, ["trainer=ddp_cpu", "trainer.devices=2", "trainer.num_nodes=2"])
        )
    monkeypatch.setenv("SLURM_NTASKS", "2")  # srun started them: used as they are
    ganlab.run.check_config(single)


def test_buckets_keep_order_dtype_and_size_caps():
    params = [nn.Parameter(torch.zeros(n)) for n in (3, 3, 3, 5, 1)]
    params.insert(2, nn.Parameter(torch.zeros(2, dtype=torch.float64)))
    buckets = split_into_buckets(params, first_bytes=8, bytes_each=24)
    sizes = [[p.numel() for p in bucket] for bucket in buckets]
    assert sizes == [[3], [3], [2], [3], [5, 1]]  # first cap 8 bytes, then 24; dtype breaks
    assert [p for bucket in buckets for p in bucket] == params  # every parameter, in order
    assert all(len({p.dtype for p in bucket}) == 1 for bucket in buckets)


def _average_in_two_processes(rank: int, rendezvous: str, results: str) -> None:
    torch.distributed.init_process_group("gloo", init_method=rendezvous, rank=rank, world_size=2)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 1))
    unused = nn.Parameter(torch.ones(3))  # only rank 0's graph reaches it
    params = [*net.parameters(), unused]
    averager = GradientAverager(params, 2, first_bucket_bytes=64, bucket_bytes=256)
    inputs = torch.randn(6, 4, generator=torch.Generator().manual_seed(rank))
    with averager:
        loss = net(inputs).pow(2).mean() + (unused.sum() if rank == 0 else 0.0)
        loss.backward()
    averaged = [p.grad.clone() for p in params]
    try:
        with averager:  # a second backward into the same gradients is refused
            net(inputs).sum().backward(retain_graph=True)
            net(inputs).sum().backward()
        twice = ""
    except RuntimeError as error:
        twice = str(error)
    result = {"grads": averaged, "inputs": inputs, "buckets": len(averager.buckets)}
    torch.save({**result, "twice": twice}, f"{results}/rank{rank}.pt")
    torch.distributed.destroy_process_group()


def test_gradients_averaged_while_backward_runs_equal_the_mean_of_each_process(tmp_path):
    """Several buckets sent during backward, one process without a gradient for a parameter:
    every process gets the mean, with the missing gradient counted as zero."""
    import torch.multiprocessing as mp

    mp.spawn(
        _average_in_two_processes,
        args=(f"file://{tmp_path}/rendezvous", str(tmp_path)),
        nprocs=2,
    )
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    assert ranks[0]["buckets"] > 2
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 1))
    for result in ranks:
        net.zero_grad()
        net(result["inputs"]).pow(2).mean().backward()
        result["expected"] = [p.grad.clone() for p in net.parameters()]
    for result in ranks:
        *grads, unused_grad = result["grads"]
        for got, *per_process in zip(grads, *(r["expected"] for r in ranks), strict=True):
            torch.testing.assert_close(got, sum(per_process) / 2)
        torch.testing.assert_close(unused_grad, torch.full((3,), 0.5))
        assert "accumulated twice" in result["twice"]
