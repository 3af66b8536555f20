"""The digits baselines compute what they computed before the engine was reshaped: short
fixed-seed runs end with the weights recorded in tests/fixtures/reference_weights (written
by record.py there at commit 7fc5612, before the change), to float32 rounding."""

import pytest
import torch

from tests.conftest import REPO
from tests.reference_runs import REFERENCE_RUNS, run_references

FIXTURES = REPO / "tests" / "fixtures" / "reference_weights"


@pytest.fixture(scope="module")
def rerun(tmp_path_factory):
    """The reference runs, trained again by this checkout (one process for all)."""
    out_dir = tmp_path_factory.mktemp("reference_runs")
    run_references(out_dir)
    return out_dir


@pytest.mark.parametrize("experiment", sorted(REFERENCE_RUNS))
def test_baseline_reproduces_its_recorded_weights(rerun, experiment):
    recorded = torch.load(FIXTURES / f"{experiment}.pt", weights_only=True)
    state = torch.load(rerun / f"{experiment}.pt", weights_only=True)
    assert state.keys() == recorded.keys()
    for name, value in recorded.items():
        torch.testing.assert_close(state[name], value, rtol=1e-5, atol=1e-6, msg=name)
