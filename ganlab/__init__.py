"""ganlab: PyTorch Lightning + Hydra for adversarial generative models."""

import os

# Threads waiting for work spin 1,000 rounds (GNU OpenMP's default: 300,000), then sleep, so
# that a run sharing its cores with another job slows ~2x rather than 4-10x; alone it costs
# 5-15 % on 2 cores (benchmarks/main_job.py side-by-side). Read by torch's OpenMP runtime when
# torch is first imported; a value the user set wins (GOMP_SPINCOUNT, or OMP_WAIT_POLICY).
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "1000")
