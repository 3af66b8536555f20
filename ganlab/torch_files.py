"""Reading torch files that come from outside a run: every user-given checkpoint, generator,
encoder, direction or pretrained weight file goes through ``load_tensor_file``.

Both formats ``torch.save`` has written load: the zip format of PyTorch >= 1.6 (memory-mapped,
so a 1024 px generator is not read whole to find out what it holds) and the legacy format of
older releases (``_use_new_zipfile_serialization=False``; the public StyleGAN2 config-f
conversions of 2019-20 are such files), which cannot be memory-mapped and is read whole.
Files load with ``weights_only=True``: tensors in dicts and lists, never pickled code.
"""

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from ganlab.errors import CheckpointError


def is_zip_format(path: Path) -> bool:
    """Whether ``path`` is in torch's zip format (PyTorch >= 1.6), which can be memory-mapped."""
    return zipfile.is_zipfile(path)


def load_tensor_file(path: str | Path, what: str) -> Any:
    """The contents of the torch file ``path`` on the CPU, read with ``weights_only=True`` in
    either format; a file that does not load that way raises one CheckpointError naming
    ``what`` it was meant to be, the file and the reason."""
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=is_zip_format(path))
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"cannot read {what} {path}: it holds pickled Python objects besides tensors, and "
            "ganlab loads outside files with weights_only=True, never unpickling them. Use a "
            "file ganlab wrote, or re-save yours with only tensors in dicts and lists"
        ) from error
    except Exception as error:  # torch raises many types for a damaged or foreign file
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"cannot read {what} {path}: {reason} (a truncated file, or not one torch saved)"
        ) from error
