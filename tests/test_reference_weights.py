"""The digits baselines compute what they computed before the engine was reshaped: short
fixed-seed runs end with the weights recorded in tests/fixtures/reference_weights (written
by record.py there at commit 7fc5612, before the change), to float32 rounding."""

import pytest
import torch

from tests.conftest import REPO
from tests.reference_runs import REFERENCE_RUNS, run_reference

FIXTURES = REPO / "tests" / "fixtures" / "reference_weights"


@pytest.mark.parametrize("experiment", sorted(REFERENCE_RUNS))
def test_baseline_reproduces_its_recorded_weights(tmp_path, experiment):
    recorded = torch.load(FIXTURES / f"{experiment}.pt", weights_only=True)
    state = run_reference(experiment, tmp_path / experiment)
    assert state.keys() == recorded.keys()
    for name, value in recorded.items():
        torch.testing.assert_close(state[name], value, rtol=1e-5, atol=1e-6, msg=name)
