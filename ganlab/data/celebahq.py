"""CelebA-HQ with CelebA's 40 attributes (``data=celebahq``): INIT's facial-attribute data
and UDA-Inversion's test faces. The attribute table, the HQ-to-CelebA mapping and CelebA's
official partition are parsed here; the folder checks are ``ganlab.data.real``'s."""

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ganlab.data.images import ImageFiles, ImageReader, name_some
from ganlab.data.real import ImageFilesDataModule
from ganlab.errors import ConfigError

INIT_ATTRIBUTES = (
    "Black_Hair",
    "Blond_Hair",
    "Brown_Hair",
    "Bangs",
    "Smiling",
    "Male",
    "No_Beard",
    "Pale_Skin",
    "Eyeglasses",
    "Young",
)
CELEBAHQ_IMAGE_FOLDERS = ("CelebA-HQ-img", "images")
CELEBAHQ_ATTRIBUTE_FILES = ("CelebAMask-HQ-attribute-anno.txt", "list_attr_celeba.txt")
CELEBAHQ_MAPPING_FILE = "CelebA-HQ-to-CelebA-mapping.txt"
CELEBAHQ_LAYOUT = """\
<root>/
├── CelebA-HQ-img/                     0.jpg 1.jpg ... 29999.jpg   (or images/)
└── CelebAMask-HQ-attribute-anno.txt   line 1: 30000, line 2: the 40 attribute names,
                                       then '<file> <40 values of 1 or -1>' per image
(or CelebA's list_attr_celeba.txt, same format, with CelebA-HQ-to-CelebA-mapping.txt)
test_split: celeba also needs CelebA-HQ-to-CelebA-mapping.txt and CelebA's
list_eval_partition.txt ('<file> <0 train | 1 val | 2 test>' per line), or Kaggle's
list_eval_partition.csv (a header 'image_id,partition', then '<file>,<0 | 1 | 2>' rows)"""
# CelebA's own partition file (whitespace) and the Kaggle copy's (CSV), looked up in this order
CELEBA_PARTITION_FILES = ("list_eval_partition.txt", "list_eval_partition.csv")
TEST_SPLITS = ("last_n", "random", "celeba")


def read_attribute_table(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """CelebA's attribute format -> (names, {file name: int8 values of 1 / -1}).

    Line 1 is the row count, line 2 the attribute names, then one ``<file> <values>`` row per
    image (values separated by any whitespace). Raises ValueError saying what is malformed.
    """
    lines = path.read_text().splitlines()
    if len(lines) < 2 or not lines[0].strip().isdigit():
        raise ValueError("line 1 must be the number of rows")
    names = lines[1].split()
    rows: dict[str, np.ndarray] = {}
    for number, line in enumerate(lines[2:], start=3):
        fields = line.split()
        if not fields:
            continue
        values = fields[1:]
        if len(values) != len(names) or any(v not in ("1", "-1") for v in values):
            raise ValueError(f"line {number} must be a file name and {len(names)} values 1 / -1")
        rows[fields[0]] = np.array(values, dtype=np.int8)
    if len(rows) != int(lines[0]):
        raise ValueError(f"line 1 says {int(lines[0])} rows but the file has {len(rows)}")
    return names, rows


def read_hq_mapping(path: Path) -> dict[str, str]:
    """CelebA-HQ-to-CelebA-mapping.txt (``idx orig_idx orig_file`` rows after a header)
    -> {CelebA-HQ file name ``<idx>.jpg``: CelebA file name}."""
    rows = (line.split() for line in path.read_text().splitlines()[1:])
    return {f"{fields[0]}.jpg": fields[2] for fields in rows if len(fields) == 3}


def read_partition(path: Path) -> dict[str, int]:
    """CelebA's list_eval_partition.txt (``<file> <n>`` rows) or Kaggle's
    list_eval_partition.csv (``<file>,<n>`` rows under an ``image_id,partition`` header) ->
    {CelebA file name: 0 train, 1 val, 2 test}; rows without a number (the header) are
    skipped."""
    rows = (line.replace(",", " ").split() for line in path.read_text().splitlines())
    numbered = (fields for fields in rows if len(fields) == 2 and fields[1].isdigit())
    return {fields[0]: int(fields[1]) for fields in numbered}


def index_order(path: Path) -> tuple[int, int, str]:
    """Sort key: files named by an integer index in index order, then the others by name."""
    stem = path.stem
    return (0, int(stem), "") if stem.isdigit() else (1, 0, path.name)


class CelebAHQDataModule(ImageFilesDataModule):
    """CelebA-HQ with CelebAMask-HQ's attribute labels (or CelebA's, through the index
    mapping). Images are sorted by index. ``test_split: last_n``: the last ``n_test`` form
    the test split (the common 28,000 / 2,000 split of the 30,000), the rest train;
    ``test_split: random``: ``n_test`` images drawn with ``split_seed`` (INIT's random
    300-image test split), listed in index order;
    ``test_split: celeba``: the images whose CelebA original is in CelebA's test partition
    (2,824 images, the test set pSp, e4e, HFGI and UDA-Inversion report on; the first 200 of
    them are UDA-Inversion's Table III), through CelebAMask-HQ's index mapping. Items: ``image``
    (3, size, size) and ``attributes`` (k,) float32 0/1 for the configured ``attributes``,
    named in ``attribute_names`` in lower case (``Black_Hair`` -> ``black_hair``)."""

    name = "celebahq"
    layout = CELEBAHQ_LAYOUT
    source = "CelebAMask-HQ comes from https://github.com/switchablenorms/CelebAMask-HQ."
    val_split = "test"

    def __init__(
        self,
        root: Any,
        size: int = 256,
        attributes: Any = INIT_ATTRIBUTES,
        n_test: int = 2000,
        batch_size: int = 16,
        num_workers: int = 4,
        shuffle_seed: int = 0,
        strict: bool = False,
        channels: int = 3,
        test_split: str = "last_n",
        split_seed: int = 0,
        config_node: str = "data",
    ) -> None:
        if test_split not in TEST_SPLITS:
            raise ConfigError(
                f"{config_node}.test_split must be one of {TEST_SPLITS}, got {test_split!r}"
            )
        self.size, self.n_test, self.test_split = size, n_test, test_split
        self.split_seed = split_seed
        self.requested = [str(name) for name in attributes]
        self.attribute_names = tuple(name.lower() for name in self.requested)
        super().__init__(root, batch_size, num_workers, shuffle_seed, strict, channels, config_node)

    def attribute_file(self) -> Path:
        for name in CELEBAHQ_ATTRIBUTE_FILES:
            if (self.root / name).is_file():
                return self.root / name
        raise self.layout_error(
            f"{self.key('root')}={self.root} has no attribute file "
            f"({' or '.join(CELEBAHQ_ATTRIBUTE_FILES)})"
        )

    def image_folder(self) -> Path:
        for name in CELEBAHQ_IMAGE_FOLDERS:
            if (self.root / name).is_dir():
                return self.root / name
        raise self.layout_error(
            f"{self.key('root')}={self.root} has no image folder "
            f"({' or '.join(CELEBAHQ_IMAGE_FOLDERS)})"
        )

    def columns(self, names: list[str]) -> list[int]:
        """Positions in the file's ``names`` of the requested attributes (any case)."""
        lowered = [name.lower() for name in names]
        unknown = [name for name in self.requested if name.lower() not in lowered]
        if unknown:
            raise ConfigError(
                f"celebahq: unknown attribute(s) {', '.join(unknown)} in "
                f"{self.key('attributes')}; "
                f"the {len(names)} valid ones are: {', '.join(names)}"
            )
        return [lowered.index(name.lower()) for name in self.requested]

    def list_groups(self) -> dict[str, list[Path]]:
        table = self.attribute_file()
        folder = self.image_folder()
        try:
            names, rows = read_attribute_table(table)
        except ValueError as error:
            raise self.layout_error(f"{table} is malformed: {error}") from error
        columns = self.columns(names)
        mapping_file = self.root / CELEBAHQ_MAPPING_FILE
        mapping = read_hq_mapping(mapping_file) if mapping_file.is_file() else {}
        paths = sorted(self.images_in(folder), key=index_order)
        keys = {path: path.name if path.name in rows else mapping.get(path.name) for path in paths}
        unlabelled = [path for path, key in keys.items() if key not in rows]
        if unlabelled:
            raise self.layout_error(
                f"{len(unlabelled)} image(s) have no row in {table.name}: "
                f"{name_some(unlabelled, self.root)}"
            )
        self.labels = {path: (rows[keys[path]][columns] == 1).astype(np.float32) for path in paths}
        if self.test_split == "celeba":
            return self.celeba_partition(paths, mapping)
        if not 0 <= self.n_test < len(paths):
            raise self.layout_error(
                f"{folder} holds {len(paths)} images; {self.key('n_test')}={self.n_test} must "
                "leave at least one for training"
            )
        if self.test_split == "random":
            drawn = np.random.default_rng(self.split_seed).permutation(len(paths))[: self.n_test]
            chosen = set(drawn.tolist())
            test = [path for i, path in enumerate(paths) if i in chosen]
            return {"train": [p for i, p in enumerate(paths) if i not in chosen], "test": test}
        cut = len(paths) - self.n_test
        return {"train": paths[:cut], "test": paths[cut:]}

    def celeba_partition(self, paths: list[Path], mapping: dict[str, str]) -> dict[str, list]:
        """train / test by the partition of each image's CelebA original (test: 2)."""
        found = [self.root / f for f in CELEBA_PARTITION_FILES if (self.root / f).is_file()]
        if not mapping or not found:
            raise self.layout_error(
                f"{self.key('test_split')}=celeba needs {CELEBAHQ_MAPPING_FILE} (CelebAMask-HQ) "
                f"and {' or '.join(CELEBA_PARTITION_FILES)} (CelebA, https://mmlab.ie.cuhk.edu."
                f"hk/projects/CelebA.html, or its Kaggle copy) in {self.key('root')}={self.root}"
            )
        partition_file = found[0]
        partition = read_partition(partition_file)
        unknown = [p for p in paths if partition.get(mapping.get(p.name, "")) is None]
        if unknown:
            raise self.layout_error(
                f"{len(unknown)} image(s) have no CelebA partition: {name_some(unknown, self.root)}"
            )
        test = [p for p in paths if partition[mapping[p.name]] == 2]
        return {"train": [p for p in paths if partition[mapping[p.name]] != 2], "test": test}

    def make_datasets(self, files: dict[str, list[Path]]) -> dict[str, Dataset]:
        reader = ImageReader((self.size, self.size), grayscale=self.grayscale)
        width = len(self.attribute_names)
        datasets = {}
        for split, paths in files.items():
            labels = np.array([self.labels[p] for p in paths], np.float32).reshape(-1, width)
            datasets[split] = ImageFiles(paths, reader, {"attributes": torch.from_numpy(labels)})
        return datasets

    def attribute_table(self, split: str) -> Tensor:
        return self.split_dataset(split).extras["attributes"]

    def split_settings(self) -> dict[str, Any]:
        return {
            "attributes": list(self.attribute_names),
            "n_test": self.n_test,
            "test_split": self.test_split,
            **({"split_seed": self.split_seed} if self.test_split == "random" else {}),
        }

    def describe_extra(self) -> str:
        return f", {len(self.attribute_names)} attributes"
