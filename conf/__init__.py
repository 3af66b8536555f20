"""ganlab's Hydra configs; installed as the package ``ganlab.conf`` (see pyproject.toml)."""
