"""Where ganlab keeps what it can recompute: ``$GANLAB_CACHE``, else
``$XDG_CACHE_HOME/ganlab``, else ``~/.cache/ganlab`` (real-image statistics in ``stats/``,
rendered toyfaces in ``toyfaces/``)."""

import os
from pathlib import Path


def cache_root() -> Path:
    if os.environ.get("GANLAB_CACHE"):
        return Path(os.environ["GANLAB_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "ganlab"
