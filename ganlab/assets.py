"""ganlab's shipped assets: the nets its own experiments trained for the embedded data.

``ganlab/assets/`` holds the files (feature nets, the ToyFaces StyleGAN2, encoders, the
editing directions under ``directions/``) and ``manifest.json``, one entry per file: the
command and seed that made it, its data, when, its validation figures and its sha256.

- ``asset:<file>`` in a config names a file there, the same on every machine
  (``weights_file``); ``asset=<name>`` picks a published model for the verbs (``asset_path``).
- A run that trains such a net writes the file and a manifest of the same form into its run
  dir (``manifest_entry``, ``write_manifest``); ``python -m ganlab.assets publish RUN_DIR``
  copies both into ``ganlab/assets/`` after checking the file against the recorded sha256.
- A shipped file that no longer matches its manifest's sha256 is refused where it is loaded.
"""

import argparse
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from ganlab.errors import CheckpointError, ConfigError

ASSET_DIR = Path(__file__).resolve().parent / "assets"
MANIFEST_NAME = "manifest.json"
PREFIX = "asset:"


def file_sha256(path: Path) -> str:
    """The sha256 of a file, hex (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_file(path: str) -> str:
    """``asset:<name>`` -> the file in ganlab/assets (portable in stored configs); else ``path``."""
    return str(ASSET_DIR / path.removeprefix(PREFIX)) if path.startswith(PREFIX) else path


def shown_as(path: Path) -> str:
    """How indexes, directions and checkpoints name a model file: ``asset:<file>`` for a
    shipped one (the same on every machine), else its resolved path."""
    path = Path(path).resolve()
    return f"{PREFIX}{path.name}" if path.parent == ASSET_DIR.resolve() else str(path)


def read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST_NAME
    return json.loads(path.read_text()) if path.exists() else {}


def write_manifest(directory: Path, entries: dict[str, Any]) -> None:
    """Write ``{filename: entry}`` as the manifest of ``directory`` (a run dir or the assets)."""
    text = json.dumps(entries, indent=2, sort_keys=True) + "\n"
    (directory / MANIFEST_NAME).write_text(text)


def manifest_entry(record: dict[str, Any], dataset: str, **extra: Any) -> dict[str, Any]:
    """A trained net's manifest entry from its run's record (``module.export``'s): the
    command and seed that made it, its data, when, and its validation figures."""
    return {
        "command": record["command"],
        "seed": record["seed"],
        "dataset": dataset,
        **extra,
        "created": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "validation": record["metrics"],
    }


def recorded_sha256(path: Path) -> str | None:
    """The sha256 the manifest beside ``path`` records for it (None: not listed)."""
    return read_manifest(path.parent).get(path.name, {}).get("sha256")


def asset_path(name: str, asset_dir: Path | None = None) -> Path:
    """The published model ``asset=<name>``, checked against its manifest's sha256."""
    asset_dir = asset_dir or ASSET_DIR
    path = asset_dir / f"{name}.pt"
    if not path.is_file():
        shipped = sorted(p.stem for p in asset_dir.glob("*.pt"))
        raise ConfigError(f"no published model asset={name}; shipped: {', '.join(shipped)}")
    if recorded_sha256(path) != file_sha256(path):
        raise CheckpointError(
            f"{path} does not match the sha256 in {asset_dir / MANIFEST_NAME} (damaged or "
            "replaced); restore it or publish it again with python -m ganlab.assets publish"
        )
    return path


def publish(run_dir: Path, asset_dir: Path | None = None) -> list[str]:
    """Copy every file the run's manifest lists into ``asset_dir`` (ganlab/assets) and merge
    their entries into its manifest; returns their names."""
    asset_dir = asset_dir or ASSET_DIR
    entries = read_manifest(run_dir)
    if not entries:
        raise SystemExit(f"{run_dir / MANIFEST_NAME} not found: is {run_dir} a run that exports?")
    manifest = read_manifest(asset_dir)
    for filename, entry in entries.items():
        if file_sha256(run_dir / filename) != entry["sha256"]:
            raise SystemExit(f"{run_dir / filename} does not match its manifest's sha256")
        shutil.copyfile(run_dir / filename, asset_dir / filename)
        manifest[filename] = {**entry, "run_dir": run_dir.name}
    write_manifest(asset_dir, manifest)
    return list(entries)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ganlab.assets", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True)
    verbs.add_parser("publish", help="ship a run's exported nets").add_argument(
        "run_dir", type=Path
    )
    verbs.add_parser("list", help="the shipped files and the commands that made them")
    args = parser.parse_args(argv)
    if args.verb == "publish":
        for name in publish(args.run_dir):
            print(f"published {ASSET_DIR / name}")
    else:
        for name, entry in sorted(read_manifest(ASSET_DIR).items()):
            print(f"{name}: {entry.get('command', '?')} (seed {entry.get('seed', '?')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
