"""Read a W&B run file (``<run dir>/wandb/*run-*/run-<id>.wandb``, written online and
offline) back: the dashboard takes the names of logged values from it, tests the values.

The file is a LevelDB-style log: a 7-byte header (":W&B", magic 0xBEE1, version 1), then
32 KiB blocks of records, each with a 7-byte header (checksum u32, length u16, type u8:
1 full, 2 first, 3 middle, 4 last) and a slice of a serialised ``wandb_internal_pb2.Record``.
"""

import json
import struct
import time
from collections.abc import Iterator
from pathlib import Path

from google.protobuf.message import DecodeError
from wandb.proto import wandb_internal_pb2

BLOCK = 32768
FILE_HEADER = 7
RECORD_HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> Iterator[wandb_internal_pb2.Record]:
    data = path.read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{path} is not a W&B run file")
    offset, pending = FILE_HEADER, b""
    while offset + RECORD_HEADER <= len(data):
        left_in_block = BLOCK - offset % BLOCK
        if left_in_block < RECORD_HEADER:  # block trailer: zero padding
            offset += left_in_block
            continue
        _, length, kind = struct.unpack("<IHB", data[offset : offset + RECORD_HEADER])
        chunk = data[offset + RECORD_HEADER : offset + RECORD_HEADER + length]
        offset += RECORD_HEADER + length
        if kind == 0 and length == 0:
            break
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record


def summary(path: Path) -> dict:
    """The run's group, name, job type, tags, config keys and the keys its history logged."""
    info: dict = {"history_keys": set(), "config": {}}
    for record in records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run = record.run
            info.update(group=run.run_group, name=run.display_name, job_type=run.job_type)
            info["tags"] = list(run.tags)
            info["config"].update({item.key: item.value_json for item in run.config.update})
        elif kind == "config":
            info["config"].update({item.key: item.value_json for item in record.config.update})
        elif kind == "history":
            for item in record.history.item:
                info["history_keys"].add(item.key or "/".join(item.nested_key))
    return info


def history(path: Path) -> list[dict]:
    """Each history row as {key: value} (nested keys joined by "/"), in the logged order."""
    rows = []
    for record in records(path):
        if record.WhichOneof("record_type") == "history":
            items = record.history.item
            rows.append(
                {
                    item.key or "/".join(item.nested_key): json.loads(item.value_json)
                    for item in items
                }
            )
    return rows


def logged_images(path: Path, key: str) -> dict[int, str]:
    """{trainer/global_step: media file relative to the run's files/} of image key ``key``."""
    return {
        row["trainer/global_step"]: row[f"{key}/filenames"][0]
        for row in history(path)
        if f"{key}/filenames" in row
    }


def wait_until_complete(path: Path, timeout: float = 60) -> None:
    """Wait for the run's exit record. In-process, ``wandb.finish()`` can return before the
    W&B service has flushed the file (seen: only the 7-byte header, a moment after finish)."""
    deadline = time.monotonic() + timeout
    while not has_exit_record(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} holds no exit record {timeout} s after the run finished")
        time.sleep(0.1)


def has_exit_record(path: Path) -> bool:
    try:
        return any(record.WhichOneof("record_type") == "exit" for record in records(path))
    except (ValueError, DecodeError):  # not even the header yet, or a record half written
        return False
