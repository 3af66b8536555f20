"""Metrics: FID/KID through torchmetrics, reconstruction metrics against scikit-image,
attribute accuracy, the stats cache, periodic evaluation, task=eval and ganlab.compare."""

import json

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio as skimage_psnr
from skimage.metrics import structural_similarity as skimage_ssim

from ganlab.callbacks.periodic_evaluation import PeriodicEvaluation
from ganlab.compare import main as compare_main
from ganlab.data.digits import DigitsDataModule
from ganlab.features import get_extractor
from ganlab.metrics.attributes import attribute_accuracy, decisive_share, frequency_gaps
from ganlab.metrics.distribution import frechet_distance, kernel_distance
from ganlab.metrics.evaluator import Evaluator, count_label
from ganlab.metrics.reconstruction import mse, psnr, reconstruction_scores, ssim
from ganlab.metrics.stats_cache import cache_path, cached_features
from ganlab.run import run_task
from tests.conftest import TINY, compose_run, run_cli


@pytest.fixture(scope="module")
def digits_features():
    extractor = get_extractor("domain_digits")
    data = DigitsDataModule()
    data.setup()
    with torch.no_grad():
        noise = torch.rand(500, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
        return {
            "train": extractor(data.train_set.images),
            "val": extractor(data.val_set.images),
            "noise": extractor(noise),
        }


def test_fid_of_a_set_with_itself_is_zero(digits_features):
    assert abs(frechet_distance(digits_features["train"], digits_features["train"])) < 1e-3


def test_fid_separates_real_from_noise_with_the_domain_extractor(digits_features):
    real_vs_real = frechet_distance(digits_features["train"], digits_features["val"])
    real_vs_noise = frechet_distance(digits_features["train"], digits_features["noise"])
    assert 10 * real_vs_real < real_vs_noise


def test_fid_of_gaussians_matches_the_closed_form():
    """Eq. 6 of Heusel et al. for N(0, I) vs N(m, s^2 I): |m|^2 + d (1 - s)^2."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(200_000, 2, generator=gen, dtype=torch.float64)
    b = 1.0 + 2.0 * torch.randn(200_000, 2, generator=gen, dtype=torch.float64)
    assert frechet_distance(a, b) == pytest.approx(2 * 1.0 + 2 * (2.0 - 1.0) ** 2, rel=0.02)


def test_kid_is_unbiased_near_zero_for_one_distribution_and_seeded(digits_features):
    train = digits_features["train"]
    same, _ = kernel_distance(train[:800], train[800:1600], subsets=20, subset_size=500)
    far, _ = kernel_distance(train, digits_features["noise"], subsets=20, subset_size=500)
    assert abs(same) < 0.05 * far
    once = kernel_distance(train, digits_features["val"], subsets=10, subset_size=100, seed=3)
    again = kernel_distance(train, digits_features["val"], subsets=10, subset_size=100, seed=3)
    assert once == again


def test_fid_rejects_mismatched_features():
    with pytest.raises(ValueError, match="one D"):
        frechet_distance(torch.zeros(5, 3), torch.zeros(5, 4))


@pytest.mark.parametrize("channels", [1, 3])
def test_psnr_and_ssim_agree_with_scikit_image(channels):
    gen = torch.Generator().manual_seed(channels)
    target = torch.rand(4, channels, 48, 48, generator=gen) * 2 - 1
    predicted = (target + 0.3 * torch.randn(4, channels, 48, 48, generator=gen)).clamp(-1, 1)
    unit_p, unit_t = ((predicted + 1) / 2).numpy(), ((target + 1) / 2).numpy()
    sk_psnr = np.mean(
        [skimage_psnr(t, p, data_range=1.0) for p, t in zip(unit_p, unit_t, strict=True)]
    )
    sk_ssim = np.mean(
        [
            skimage_ssim(
                t,
                p,
                data_range=1.0,
                channel_axis=0,
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
            )
            for p, t in zip(unit_p, unit_t, strict=True)
        ]
    )
    assert psnr(predicted, target) == pytest.approx(sk_psnr, abs=1e-3)
    assert ssim(predicted, target) == pytest.approx(sk_ssim, abs=1e-3)
    assert mse(predicted, target) == pytest.approx(((unit_p - unit_t) ** 2).mean(), rel=1e-5)


def test_identical_images_score_perfectly():
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    scores = reconstruction_scores(images, images)
    assert scores["ssim"] == pytest.approx(1.0) and scores["mse"] == 0.0
    assert scores["psnr"] > 100


def test_attribute_accuracy_per_attribute_and_mean():
    logits = torch.tensor([[2.0, -1.0], [3.0, 1.0], [-1.0, -2.0], [0.5, 4.0]])
    targets = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    scores = attribute_accuracy(logits, targets, ["smiling", "male"])
    assert scores == {
        "smiling_accuracy": 0.5,
        "male_accuracy": 0.75,
        "mean_attribute_accuracy": 0.625,
    }
    with pytest.raises(ValueError, match="attributes"):
        attribute_accuracy(logits, targets, ["smiling"])


def test_decisive_share_counts_samples_read_decisively_on_every_attribute():
    probabilities = torch.tensor(
        [[0.05, 0.95], [0.02, 0.5], [0.91, 0.09], [0.1, 0.99]]
    )  # decisive, undecided on one, decisive, 0.1 is not below 0.1
    assert decisive_share(probabilities, margin=0.1) == 0.5
    assert decisive_share(probabilities, margin=0.2) == 0.75
    with pytest.raises(ValueError, match="margin"):
        decisive_share(probabilities, margin=0.5)


def test_frequency_gaps_compare_shares_read_present_with_the_reference():
    probabilities = torch.tensor([[0.9, 0.2], [0.8, 0.7], [0.1, 0.3], [0.6, 0.4]])
    reference = torch.tensor([[1, 0], [0, 0], [0, 0], [0, 1]])  # shares 0.25, 0.25
    torch.testing.assert_close(frequency_gaps(probabilities, reference), torch.tensor([0.5, 0.0]))
    with pytest.raises(ValueError, match="same attributes"):
        frequency_gaps(probabilities, reference[:, :1])


def test_count_labels():
    assert [count_label(n) for n in (50_000, 1000, 500, 1500)] == ["50k", "1k", "500", "1500"]


def test_stats_cache_hits_and_recomputes_when_any_key_field_changes(tmp_path):
    key = {
        "dataset": "digits",
        "split": "train",
        "extractor": "domain_digits",
        "weights": "sha256:ab",
        "image_size": 32,
        "count": 10,
        "data": {"size": 32},
    }
    calls = []

    def compute():
        calls.append(1)
        return torch.full((10, 3), float(len(calls)))

    first, hit = cached_features(key, compute, tmp_path)
    assert not hit and len(calls) == 1
    again, hit = cached_features(key, compute, tmp_path)
    assert hit and len(calls) == 1 and torch.equal(first, again)
    for field, value in [
        ("split", "val"),
        ("weights", "sha256:cd"),
        ("image_size", 64),
        ("count", 11),
        ("extractor", "inception"),
        ("data", {"size": 64}),
    ]:
        changed = {**key, field: value}
        assert cache_path(changed, tmp_path) != cache_path(key, tmp_path)
        cached_features(changed, compute, tmp_path)
    assert len(calls) == 7
    cache_path(key, tmp_path).write_bytes(b"not a tensor file")
    recomputed, hit = cached_features(key, compute, tmp_path)
    assert not hit and len(calls) == 8


def test_evaluator_reports_protocol_and_uses_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANLAB_CACHE", str(tmp_path))
    data = DigitsDataModule()
    evaluator = Evaluator(
        get_extractor("domain_digits"),
        data,
        reference_split="train",
        kid_subsets=5,
        kid_subset_size=100,
    )
    metrics, protocol = evaluator.score_images(data.split_dataset("val").images)
    assert set(metrics) == {"fid_domain_180", "kid_domain_180", "kid_domain_180_std"}
    assert protocol["fid_domain_180"] == {
        "extractor": "domain_digits",
        "extractor_weights": evaluator.extractor.fingerprint,
        "n_generated": 180,
        "n_reference": 1617,
        "reference": "digits train split",
        "image_size": 32,
    }
    assert protocol["kid_domain_180"]["kid_subset_size"] == 100
    assert len(list((tmp_path / "stats").glob("digits_train_domain_digits_32px_1617_*.pt"))) == 1
    assert evaluator.score_images(data.split_dataset("val").images)[0] == metrics


@pytest.mark.parametrize(
    ("last_step", "scored"),
    [(600, []), (1000, [500, 1000]), (800, [500]), (1200, [500]), (None, [500, 1000])],
)
def test_periodic_evaluations_close_before_the_final_one_are_left_to_it(last_step, scored):
    callback = PeriodicEvaluation("unused.jsonl", every_n_steps=500, last_step=last_step)
    due = [s for s in range(1, 1201) if s % 500 == 0 and s <= (last_step or 1000)]
    assert [s for s in due if not callback.left_to_the_end(s)] == scored


def test_psnr_ssim_and_mse_in_chunks_equal_one_pass():
    generator = torch.Generator().manual_seed(5)
    target = torch.rand(37, 3, 24, 24, generator=generator) * 2 - 1
    predicted = (target + 0.2 * torch.randn(37, 3, 24, 24, generator=generator)).clamp(-1, 1)
    for score in (psnr, ssim, mse):
        assert score(predicted, target, chunk=10) == pytest.approx(
            score(predicted, target, chunk=37), rel=1e-6
        )


def test_periodic_evaluation_and_task_eval_write_fid_with_protocol(tmp_path, monkeypatch):
    monkeypatch.setenv("GANLAB_CACHE", str(tmp_path / "cache"))
    run_dir = tmp_path / "fit"
    overrides = [
        "model.generator.width=8",
        "model.discriminator.width=8",
        "steps=10",
        "callbacks=default",
        "callbacks.samples=null",
        "callbacks.progress=null",
        "callbacks.evaluation.every_n_steps=5",
        "callbacks.evaluation.n_samples=50",
        "eval.n_samples=100",
        "eval.kid_subsets=5",
        "trainer.log_every_n_steps=1",
    ]
    run_task(compose_run(run_dir, overrides))
    history = [
        json.loads(line) for line in (run_dir / "evaluations.jsonl").read_text().splitlines()
    ]
    assert [entry["run_step"] for entry in history] == [5, 10]
    assert all(entry["metrics"]["fid_domain_50"] > 0 for entry in history)
    assert "eval/fid_domain_50" in (run_dir / "logs" / "metrics.csv").read_text().splitlines()[0]
    fitted = json.loads((run_dir / "metrics.json").read_text())
    assert fitted["metrics"]["fid_domain_100"] > 0
    eval_dir = tmp_path / "eval"
    cfg = compose_run(
        eval_dir,
        [
            "task=eval",
            f"ckpt_path={run_dir}/checkpoints/last.ckpt",
            "eval.n_samples=100",
            "eval.kid_subsets=5",
        ],
    )
    run_task(cfg)
    report = json.loads((eval_dir / "metrics.json").read_text())
    assert report["metrics"]["fid_domain_100"] == pytest.approx(fitted["metrics"]["fid_domain_100"])
    protocol = report["protocol"]["kid_domain_100"]
    assert protocol["n_generated"] == 100 and protocol["reference"] == "digits train split"
    assert protocol["generator"] == "generator_ema" and protocol["latent_seed"] == 0


def test_compare_reads_a_three_member_sweep(tmp_path, capsys):
    result = run_cli(
        [
            "-m",
            *TINY,
            "model.discriminator.width=8",
            "steps=3",
            "eval.kid_subsets=5",
            "name=cmp",
            "seed=1,2,3",
        ],
        cwd=tmp_path,
        env={"GANLAB_CACHE": str(tmp_path / "cache")},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    sweep = next((tmp_path / "outputs" / "cmp").glob("multirun_*"))
    out = tmp_path / "curves.png"
    assert compare_main([str(sweep), "--out", str(out), "--metrics", "fid_domain_100"]) == 0
    printed = capsys.readouterr().out
    rows = [line for line in printed.splitlines() if "seed=" in line]
    assert [row.split()[1] for row in rows] == ["seed=1", "seed=2", "seed=3"]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
