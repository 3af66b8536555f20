"""Real-image features cached on disk, keyed by everything that changes them.

The key holds the dataset and its content-defining settings, the split, the extractor and
its weights, the image size and the image count; a change in any of them is a different
file. Files live in ``<ganlab cache>/stats`` (``ganlab.cache``: ``$GANLAB_CACHE`` or
``~/.cache/ganlab``) and are written atomically, so parallel sweep members can share them.
"""

import hashlib
import json
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ganlab.cache import cache_root


def cache_path(key: dict[str, Any], root: Path | None = None) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    readable = "_".join(
        str(key.get(field, "")) for field in ("dataset", "split", "extractor", "image_size")
    )
    return (root or cache_root()) / "stats" / f"{readable}px_{key.get('count')}_{digest[:16]}.pt"


def cached_features(
    key: dict[str, Any], compute: Callable[[], Tensor], root: Path | None = None
) -> tuple[Tensor, bool]:
    """(features, whether they came from the cache): ``compute()`` runs only on a miss."""
    path = cache_path(key, root)
    if path.is_file():
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
            if saved.get("key") == json.loads(json.dumps(key, default=str)):
                return saved["features"], True
        except (OSError, RuntimeError, EOFError, AttributeError, KeyError, pickle.PickleError):
            pass  # an unreadable or foreign file is recomputed and replaced
    features = compute().float().cpu()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    torch.save({"key": json.loads(json.dumps(key, default=str)), "features": features}, partial)
    os.replace(partial, path)
    return features, False
