"""``python -m ganlab.features.publish RUN_DIR``: ship a trained domain net with ganlab.

Copies ``domain_<dataset>.pt`` from a ``features_<dataset>`` run into ``ganlab/assets/`` and
merges its manifest entry (command, seed, sha256, validation figures) into the assets'
``manifest.json``, after checking the file against the sha256 the run recorded.
"""

import argparse
import shutil
import sys
from pathlib import Path

from ganlab.features.domain import ASSET_DIR, MANIFEST_NAME, read_manifest, write_manifest
from ganlab.features.weights import file_sha256


def publish(run_dir: Path, asset_dir: Path = ASSET_DIR) -> list[str]:
    """Copy every net the run's manifest lists into ``asset_dir``; returns their names."""
    entries = read_manifest(run_dir)
    if not entries:
        raise SystemExit(f"{run_dir / MANIFEST_NAME} not found: is {run_dir} a features_* run?")
    manifest = read_manifest(asset_dir)
    for filename, entry in entries.items():
        if file_sha256(run_dir / filename) != entry["sha256"]:
            raise SystemExit(f"{run_dir / filename} does not match its manifest's sha256")
        shutil.copyfile(run_dir / filename, asset_dir / filename)
        manifest[filename] = {**entry, "run_dir": run_dir.name}
    write_manifest(asset_dir, manifest)
    return list(entries)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ganlab.features.publish", description=__doc__)
    parser.add_argument("run_dir", type=Path)
    for name in publish(parser.parse_args(argv).run_dir):
        print(f"published {ASSET_DIR / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
