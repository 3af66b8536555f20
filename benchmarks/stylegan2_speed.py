"""StyleGAN2 training speed on the CPU: ganlab's whole step against rosinality/stylegan2-pytorch.

``step`` (the default) times the whole training step of ``experiment=stylegan2_toyfaces``
(G main + D main + lazy R1 + EMA, and path length regularisation when the recipe has it on),
in one process, alternating rounds of

- **ganlab**: the StyleGAN2 method under a Lightning Trainer (the engine's phases, EMA and
  logging as a run has them; no progress bar, checkpoints or loggers), and
- **rosinality**: the same nets built from rosinality/stylegan2-pytorch's ``model.py`` with
  the recipe's channel table and loaded with ganlab's initial weights, stepped as its
  ``train.py`` loop steps them (its loss functions, ``requires_grad`` toggles, style mixing,
  lazy R1 with the ``0 * real_pred[0]`` term, ``accumulate`` for the EMA, its Adam
  correction for lazy regularisation). On a CPU its ops take their CPU path:
  ``upfirdn2d_native`` and ``F.leaky_relu``; the CUDA extensions are never built.

Each round is ``r1_every`` steps (one R1 step per round on both sides), on the same random
batch of real images. Before timing, the two generators are checked to compute the same
images from the same codes and noise. Prints seconds per step and the ratio
rosinality / ganlab (target >= 2.5). Options after ``--`` go to ganlab's Hydra config, e.g.
``-- trainer.precision=bf16-mixed`` or another channel table.

``generator`` times the generator alone (forward + backward, images/s and peak memory) with
the reference's grouped modulated convs and with ganlab's shared-weight form.

    git clone https://github.com/rosinality/stylegan2-pytorch /tmp/stylegan2-pytorch
    python benchmarks/stylegan2_speed.py step --reference /tmp/stylegan2-pytorch [--rounds 3]
    python benchmarks/stylegan2_speed.py generator [--device cpu|cuda]
"""

import argparse
import contextlib
import copy
import json
import math
import resource
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from torch import nn
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from timing import timed_fit  # noqa: E402  (benchmarks/timing.py)

from ganlab.nets.stylegan2 import Generator  # noqa: E402
from ganlab.run import CONFIG_DIR  # noqa: E402


# ---- the whole step ---------------------------------------------------------------------
def build_ganlab(overrides: list[str]) -> tuple[object, dict]:
    """The StyleGAN2 module of ``experiment=stylegan2_toyfaces`` and the resolved config."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(
            "config",
            overrides=["experiment=stylegan2_toyfaces", "model.dataset=toyfaces", *overrides],
        )
    return instantiate(cfg.model), cfg


@contextlib.contextmanager
def importable_reference(path: Path):
    """Import the reference's modules from its checkout without building its CUDA ops: on a
    CPU its ops never call them (``torch.utils.cpp_extension.load`` returns None while the
    modules load); ``lmdb``, which only its data set reads, may be absent."""
    import torch.utils.cpp_extension as cpp_extension

    if not (path / "model.py").is_file() or not (path / "train.py").is_file():
        raise SystemExit(f"{path} is not a checkout of rosinality/stylegan2-pytorch")
    build = cpp_extension.load
    cpp_extension.load = lambda *args, **kwargs: None
    sys.path.insert(0, str(path))
    sys.modules.setdefault("lmdb", types.ModuleType("lmdb"))
    try:
        yield
    finally:
        cpp_extension.load = build


def reference_nets(path: Path, generator: nn.Module, discriminator: nn.Module):
    """rosinality's Generator and Discriminator with ganlab's channel table and weights, and
    its ``train`` module (the loss functions and helpers of its loop)."""
    with importable_reference(path):
        import model as reference  # noqa: PLC0415  (the checkout's model.py)
        import train as reference_train  # noqa: PLC0415

    table = dict(generator.channels)

    class TableGenerator(reference.Generator):
        """The reference generator built from ``table`` instead of its config-f channels."""

        def __setattr__(self, name, value):
            super().__setattr__(name, dict(table) if name == "channels" else value)

    class TableDiscriminator(reference.Discriminator):
        """The reference discriminator's layers (1x1 from RGB, residual blocks down to 4 px,
        minibatch stddev, 3x3 conv, two linear layers) at ``table``'s widths."""

        def __init__(self, size: int) -> None:
            nn.Module.__init__(self)
            widths = [table[2**i] for i in range(int(math.log2(size)), 1, -1)]
            blocks = [reference.ConvLayer(3, widths[0], 1)]
            blocks += [reference.ResBlock(a, b) for a, b in zip(widths, widths[1:], strict=False)]
            self.convs = nn.Sequential(*blocks)
            self.stddev_group, self.stddev_feat = 4, 1
            self.final_conv = reference.ConvLayer(table[4] + 1, table[4], 3)
            self.final_linear = nn.Sequential(
                reference.EqualLinear(table[4] * 16, table[4], activation="fused_lrelu"),
                reference.EqualLinear(table[4], 1),
            )

    g = TableGenerator(
        generator.size, generator.style_dim, generator.n_mlp, lr_mlp=generator.lr_mlp
    )
    d = TableDiscriminator(generator.size)
    g.load_state_dict(generator.state_dict())
    d.load_state_dict(discriminator.state_dict())
    return g, d, reference_train


@torch.no_grad()
def same_images(ours: nn.Module, theirs: nn.Module, style_dim: int) -> float:
    """Largest pixel difference of the two generators on the same codes and stored noise."""
    z = torch.randn(4, style_dim, generator=torch.Generator().manual_seed(1))
    mine, _ = ours.eval()([z], randomize_noise=False)
    reference, _ = theirs.eval()([z], randomize_noise=False)
    ours.train(), theirs.train()
    return (mine - reference).abs().max().item()


class ReferenceLoop:
    """rosinality's ``train.py`` step, line for line in order, on the given batch."""

    def __init__(self, train, g, d, cfg) -> None:
        model = cfg.model
        self.train, self.g, self.d = train, g, d
        self.g_ema = copy.deepcopy(g).eval()
        self.style_dim = cfg.model.generator.style_dim
        self.r1, self.d_reg_every = model.r1_gamma, model.r1_every
        self.path_weight, self.g_reg_every = model.path_length_weight, model.path_length_every
        self.path_shrink, self.mixing = model.path_length_batch_shrink, model.mixing_prob
        lr, betas = model.generator_optimizer.lr, tuple(model.generator_optimizer.betas)

        def adam(params, every: int, on: bool) -> torch.optim.Adam:
            ratio = every / (every + 1) if on else 1.0
            return torch.optim.Adam(
                params, lr=lr * ratio, betas=(betas[0] ** ratio, betas[1] ** ratio)
            )

        self.g_optim = adam(g.parameters(), self.g_reg_every, self.path_weight > 0)
        self.d_optim = adam(d.parameters(), self.d_reg_every, self.r1 > 0)
        self.accum = 0.5 ** (32 / (10 * 1000))
        self.mean_path_length = 0
        self.i = 0

    def step(self, real_img: torch.Tensor) -> None:
        t, g, d, batch = self.train, self.g, self.d, real_img.shape[0]
        t.requires_grad(g, False)
        t.requires_grad(d, True)
        fake_img, _ = g(t.mixing_noise(batch, self.style_dim, self.mixing, "cpu"))
        d_loss = t.d_logistic_loss(d(real_img), d(fake_img))
        d.zero_grad()
        d_loss.backward()
        self.d_optim.step()
        if self.r1 > 0 and self.i % self.d_reg_every == 0:
            real = real_img.detach().clone()
            real.requires_grad = True
            real_pred = d(real)
            r1_loss = t.d_r1_loss(real_pred, real)
            d.zero_grad()
            (self.r1 / 2 * r1_loss * self.d_reg_every + 0 * real_pred[0]).backward()
            self.d_optim.step()
        t.requires_grad(g, True)
        t.requires_grad(d, False)
        fake_img, _ = g(t.mixing_noise(batch, self.style_dim, self.mixing, "cpu"))
        g_loss = t.g_nonsaturating_loss(d(fake_img))
        g.zero_grad()
        g_loss.backward()
        self.g_optim.step()
        if self.path_weight > 0 and self.i % self.g_reg_every == 0:
            path_batch = max(1, batch // self.path_shrink)
            noise = t.mixing_noise(path_batch, self.style_dim, self.mixing, "cpu")
            fake_img, latents = g(noise, return_latents=True)
            path_loss, self.mean_path_length, _ = t.g_path_regularize(
                fake_img, latents, self.mean_path_length
            )
            g.zero_grad()
            weighted = self.path_weight * self.g_reg_every * path_loss + 0 * fake_img[0, 0, 0, 0]
            weighted.backward()
            self.g_optim.step()
        t.accumulate(self.g_ema, g, self.accum)
        self.i += 1


def time_step(args: argparse.Namespace) -> None:
    torch.manual_seed(0)
    module, cfg = build_ganlab(args.overrides)
    g, d, train = reference_nets(args.reference, module.generator, module.discriminator)
    gap = same_images(module.generator, g, module.generator.style_dim)
    if gap > 1e-4:
        raise SystemExit(f"the two generators disagree by {gap:.2e}: not the same nets")
    reference = ReferenceLoop(train, g, d, cfg)
    batch = cfg.data.batch_size
    real = torch.rand(batch, 3, module.generator.size, module.generator.size) * 2 - 1
    steps = module.r1_every if module.r1_gamma > 0 else 16
    loader = DataLoader([{"image": real}] * steps, batch_size=None)  # the batch as it is
    precision = cfg.trainer.precision

    def ganlab_round() -> float:
        global_steps = module.optimizer_steps_for(steps)
        return timed_fit(module, loader, global_steps, precision=precision) / steps

    def reference_round() -> float:
        start = time.perf_counter()
        for _ in range(steps):
            reference.step(real)
        return (time.perf_counter() - start) / steps

    ganlab_round(), reference.step(real)  # warm up kernels and the allocator
    ours, theirs = [], []
    for _ in range(args.rounds):
        ours.append(ganlab_round())
        theirs.append(reference_round())
    ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
    channels = dict(module.generator.channels)
    print(
        f"StyleGAN2 whole training step, {cfg.data.size} px, batch {batch}, CPU, "
        f"{torch.get_num_threads()} threads, ganlab precision {precision}"
    )
    print(
        f"nets: channels {channels}, style_dim {module.generator.style_dim}, "
        f"{module.generator.n_mlp} mapping layers; R1 every {module.r1_every}, "
        f"path length {'on' if module.path_length_weight > 0 else 'off'}; "
        f"{steps} steps a round, {args.rounds} rounds; generators agree to {gap:.1e}"
    )
    print(f"rosinality/stylegan2-pytorch (CPU path): {theirs_s:.3f} s/step")
    print(f"ganlab:                                  {ours_s:.3f} s/step")
    print(f"ratio rosinality / ganlab: {theirs_s / ours_s:.2f}  (target >= 2.5)")


# ---- the generator alone ----------------------------------------------------------------
NETS = {
    "reduced (256..32 ch, style 256)": dict(
        style_dim=256, n_mlp=4, channels={4: 256, 8: 256, 16: 128, 32: 64, 64: 32}
    ),
    "official table (config-f)": dict(style_dim=512, n_mlp=8, channel_multiplier=2),
}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run_case(net: str, grouped: bool, batch: int, device: str, iterations: int) -> dict[str, float]:
    torch.manual_seed(0)
    generator = Generator(64, **NETS[net]).use_grouped_conv(grouped).to(device)
    z = torch.randn(batch, generator.style_dim, device=device)
    baseline = peak_rss_mib()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def step() -> None:
        image, _ = generator([z])
        generator.zero_grad(set_to_none=True)
        image.mean().backward()

    step()  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(iterations):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = peak_rss_mib() - baseline
    return {"images_per_second": batch * iterations / seconds, "peak_mib": peak}


def time_generator(args: argparse.Namespace) -> None:
    """Each case in a fresh subprocess, so its peak memory is its own."""
    if args.case:
        net, grouped, batch = args.case
        result = run_case(net, grouped == "grouped", int(batch), args.device, args.iterations)
        print(json.dumps(result))
        return
    memory = "GPU MiB" if args.device == "cuda" else "RSS MiB"
    print(f"StyleGAN2 generator, 64 px, forward + backward, {args.device}")
    print(
        f"{'net':32s} {'batch':>5s} {'grouped img/s':>13s} {memory:>8s} "
        f"{'shared img/s':>12s} {memory:>8s} {'ratio':>6s}"
    )
    for net in NETS:
        for batch in (8, 32):
            rates = {}
            for mode in ("grouped", "shared"):
                command = [sys.executable, __file__, "generator", "--device", args.device]
                command += ["--iterations", str(args.iterations), "--case", net, mode, str(batch)]
                output = subprocess.run(command, capture_output=True, text=True, check=True)
                rates[mode] = json.loads(output.stdout.strip().splitlines()[-1])
            grouped, shared = rates["grouped"], rates["shared"]
            print(
                f"{net:32s} {batch:5d} {grouped['images_per_second']:13.1f} "
                f"{grouped['peak_mib']:8.0f} {shared['images_per_second']:12.1f} "
                f"{shared['peak_mib']:8.0f} "
                f"{shared['images_per_second'] / grouped['images_per_second']:6.2f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command")
    step = commands.add_parser("step", help="the whole training step against rosinality's")
    step.add_argument(
        "--reference",
        type=Path,
        required=True,
        help="a checkout of github.com/rosinality/stylegan2-pytorch",
    )
    step.add_argument("--rounds", type=int, default=3)
    step.add_argument("overrides", nargs="*", help="Hydra overrides for ganlab's run")
    generator = commands.add_parser("generator", help="the generator alone, two conv forms")
    generator.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    generator.add_argument("--iterations", type=int, default=10)
    generator.add_argument("--case", nargs=3, help=argparse.SUPPRESS)  # net, grouped, batch
    args = parser.parse_args()
    if args.command == "generator":
        time_generator(args)
    elif args.command == "step":
        time_step(args)
    else:
        parser.print_help()


if __name__ == "__main__":
    main()
