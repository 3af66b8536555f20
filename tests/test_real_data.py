"""Real-data DataModules (folder, ffhq, celebahq, stanford_cars, yosemite, edges2shoes, mnist)
on tiny trees built in tmp_path, loaded through their shipped configs; unreadable files;
UDA-Inversion's source/target splits over toyfaces."""

import gzip
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

from ganlab.data.domains import UDADataModule
from ganlab.data.images import cover_and_crop, is_readable, list_images, to_tensor
from ganlab.data.real import FolderDataModule
from ganlab.data.toyfaces import ATTRIBUTES
from ganlab.errors import ConfigError, GanlabError
from ganlab.run import check_config
from tests.conftest import compose_run, run_cli

CELEBA_ATTRIBUTES = [
    "5_o_Clock_Shadow",
    "Arched_Eyebrows",
    "Attractive",
    "Bags_Under_Eyes",
    "Bald",
    "Bangs",
    "Big_Lips",
    "Big_Nose",
    "Black_Hair",
    "Blond_Hair",
    "Blurry",
    "Brown_Hair",
    "Bushy_Eyebrows",
    "Chubby",
    "Double_Chin",
    "Eyeglasses",
    "Goatee",
    "Gray_Hair",
    "Heavy_Makeup",
    "High_Cheekbones",
    "Male",
    "Mouth_Slightly_Open",
    "Mustache",
    "Narrow_Eyes",
    "No_Beard",
    "Oval_Face",
    "Pale_Skin",
    "Pointy_Nose",
    "Receding_Hairline",
    "Rosy_Cheeks",
    "Sideburns",
    "Smiling",
    "Straight_Hair",
    "Wavy_Hair",
    "Wearing_Earrings",
    "Wearing_Hat",
    "Wearing_Lipstick",
    "Wearing_Necklace",
    "Wearing_Necktie",
    "Young",
]
SOURCES = {
    "ffhq": "https://github.com/NVlabs/ffhq-dataset",
    "celebahq": "https://github.com/switchablenorms/CelebAMask-HQ",
    "stanford_cars": "https://ai.stanford.edu/~jkrause/cars/car_dataset.html",
    "yosemite": "https://efrosgans.eecs.berkeley.edu/cyclegan/datasets/summer2winter_yosemite.zip",
    "edges2shoes": "https://efrosgans.eecs.berkeley.edu/pix2pix/datasets/edges2shoes.tar.gz",
    "mnist": "https://yann.lecun.com/exdb/mnist/",
    "unaligned": "https://efrosgans.eecs.berkeley.edu/cyclegan/datasets/",
}


def write_image(path: Path, seed: int = 0, size: tuple[int, int] = (40, 30)) -> Path:
    """A random RGB image of (width, height) ``size``, in the format its suffix names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format=Image.registered_extensions()[path.suffix.lower()])
    return path


def load(tmp_path: Path, option: str, root: Path, *overrides: str):
    """``instantiate(cfg.data)`` of the shipped ``conf/data/<option>.yaml``; a GanlabError the
    constructor raises comes out as itself rather than wrapped by Hydra."""
    cfg = compose_run(
        tmp_path / "run", [f"data={option}", f"data.root={root}", "data.num_workers=0", *overrides]
    )
    try:
        return instantiate(cfg.data)
    except InstantiationException as error:
        if isinstance(error.__cause__, GanlabError):
            raise error.__cause__ from None
        raise


def first_batch(datamodule) -> dict:
    return next(iter(datamodule.train_dataloader()))


def assert_images(images: torch.Tensor, shape: tuple[int, ...]) -> None:
    assert images.shape == shape and images.dtype == torch.float32
    assert images.min() >= -1 and images.max() <= 1


def test_folder_lists_recursively_in_any_case_and_splits_by_seed(tmp_path):
    names = ["a.JPG", "b.png", "e.webp", "f.PNG", "g.jpg", "h.bmp", "sub/c.jpeg", "sub/x/d.Bmp"]
    for seed, name in enumerate(names):
        write_image(tmp_path / "root" / name, seed)
    (tmp_path / "root" / "notes.txt").write_text("not an image")
    root = tmp_path / "root"
    assert [p.relative_to(root).as_posix() for p in list_images(root)] == sorted(names)
    data = load(tmp_path, "folder", root, "data.size=16", "data.val_fraction=0.25")
    data.batch_size = 2
    train, val = data.split_dataset("train"), data.split_dataset("val")
    assert len(train) == 6 and len(val) == 2
    assert sorted(map(str, train.paths + val.paths)) == sorted(map(str, list_images(root)))
    assert_images(first_batch(data)["image"], (2, 3, 16, 16))
    assert f"{root} at 16 px" in data.describe() and "6 train / 2 val" in data.describe()
    assert data.content_key()["root"] == str(root) and data.content_key()["val_fraction"] == 0.25
    again = load(tmp_path, "folder", root, "data.size=16", "data.val_fraction=0.25")
    assert again.split_dataset("val").paths == val.paths
    gray = load(tmp_path, "folder", root, "data.size=8", "data.channels=1")
    assert gray.channels == 1 and gray.split_dataset("train")[0]["image"].shape == (1, 8, 8)
    with pytest.raises(ConfigError, match="folder has splits train, val, not 'test'"):
        data.split_dataset("test")


def test_cover_and_crop_keeps_the_centre():
    pixels = np.zeros((20, 80, 3), np.uint8)
    pixels[:, 20:60] = 255  # the centre 20x20 square lies inside the white band
    image = cover_and_crop(Image.fromarray(pixels), (10, 10))
    assert image.size == (10, 10) and (to_tensor(image) == 1.0).all()
    assert torch.equal(to_tensor(Image.fromarray(pixels[:2, :2])), -torch.ones(3, 2, 2))


def test_ffhq_reads_the_official_subfolders_and_keeps_the_last_n_val(tmp_path):
    files = ["00000/00000.png", "00000/00001.png", "00000/00002.png", "01000/01000.png"]
    for seed, name in enumerate(files):
        write_image(tmp_path / "ffhq" / name, seed)
    data = load(tmp_path, "ffhq", tmp_path / "ffhq", "data.size=16", "data.n_val=1")
    assert [p.name for p in data.split_dataset("val").paths] == ["01000.png"]
    assert len(data.split_dataset("train")) == 3
    data.batch_size = 3
    assert_images(first_batch(data)["image"], (3, 3, 16, 16))
    assert data.content_key()["n_val"] == 1
    with pytest.raises(ConfigError, match="data.n_val=4 must leave at least one"):
        load(tmp_path, "ffhq", tmp_path / "ffhq", "data.n_val=4")


def write_attribute_file(path: Path, rows: dict[str, np.ndarray], gap: str = " ") -> None:
    lines = [str(len(rows)), " ".join(CELEBA_ATTRIBUTES)]
    lines += [gap.join([name, *map(str, values)]) for name, values in rows.items()]
    path.write_text("\n".join(lines) + "\n")


def celeba_values(n: int) -> np.ndarray:
    return np.random.default_rng(5).choice([-1, 1], (n, len(CELEBA_ATTRIBUTES)))


def test_celebahq_parses_attributes_exactly_and_splits_by_index(tmp_path):
    root, values = tmp_path / "celebahq", celeba_values(12)
    for index in range(12):
        write_image(root / "CelebA-HQ-img" / f"{index}.jpg", index)
    rows = {f"{index}.jpg": values[index] for index in reversed(range(12))}
    write_attribute_file(root / "CelebAMask-HQ-attribute-anno.txt", rows)
    data = load(tmp_path, "celebahq", root, "data.size=16", "data.n_test=2")
    assert data.attribute_names == ATTRIBUTES
    test = data.split_dataset("test")
    assert [p.name for p in test.paths] == ["10.jpg", "11.jpg"]  # index order, not name order
    columns = [CELEBA_ATTRIBUTES.index(name) for name in data.requested]
    for position, index in enumerate((10, 11)):
        expected = torch.from_numpy((values[index, columns] == 1).astype(np.float32))
        assert torch.equal(test[position]["attributes"], expected)
    data.batch_size = 4
    batch = first_batch(data)
    assert_images(batch["image"], (4, 3, 16, 16))
    assert batch["attributes"].shape == (4, 10) and set(batch["attributes"].unique().tolist()) <= {
        0.0,
        1.0,
    }
    assert "10 train / 2 test" in data.describe() and "10 attributes" in data.describe()
    drawn = load(tmp_path, "celebahq", root, "data.n_test=3", "data.test_split=random")
    again = load(tmp_path, "celebahq", root, "data.n_test=3", "data.test_split=random")
    other = load(
        tmp_path, "celebahq", root, "data.n_test=3", "data.test_split=random", "data.split_seed=1"
    )
    names = [p.name for p in drawn.split_dataset("test").paths]
    assert names == [p.name for p in again.split_dataset("test").paths] and len(names) == 3
    assert names != [p.name for p in other.split_dataset("test").paths]
    assert sorted(names, key=lambda n: int(n.split(".")[0])) == names  # index order
    assert not set(names) & {p.name for p in drawn.split_dataset("train").paths}


def test_celebahq_reads_celeba_attribute_lists_through_the_index_mapping(tmp_path):
    root, values = tmp_path / "celebahq", celeba_values(9)
    for index in range(3):
        write_image(root / "images" / f"{index}.jpg", index)
    rows = {f"{i + 1:06d}.jpg": values[i] for i in range(9)}
    write_attribute_file(root / "list_attr_celeba.txt", rows, gap="  ")
    mapping = ["idx orig_idx orig_file", "0 7 000008.jpg", "1 2 000003.jpg", "2 0 000001.jpg"]
    (root / "CelebA-HQ-to-CelebA-mapping.txt").write_text("\n".join(mapping) + "\n")
    data = load(tmp_path, "celebahq", root, "data.n_test=1", "data.attributes=[Smiling,male]")
    assert data.attribute_names == ("smiling", "male")
    columns = [CELEBA_ATTRIBUTES.index("Smiling"), CELEBA_ATTRIBUTES.index("Male")]
    train = data.split_dataset("train")
    for position, celeba_row in enumerate((7, 2)):
        expected = (values[celeba_row, columns] == 1).astype(np.float32)
        assert train[position]["attributes"].tolist() == expected.tolist()


def test_celebahq_official_test_split_follows_celebas_partition(tmp_path):
    root, values = tmp_path / "celebahq", celeba_values(9)
    for index in range(4):
        write_image(root / "images" / f"{index}.jpg", index)
    rows = {f"{i + 1:06d}.jpg": values[i] for i in range(9)}
    write_attribute_file(root / "list_attr_celeba.txt", rows)
    mapping = ["idx orig_idx orig_file"] + [
        f"{i} {j} {j + 1:06d}.jpg" for i, j in enumerate((7, 2, 0, 5))
    ]
    (root / "CelebA-HQ-to-CelebA-mapping.txt").write_text("\n".join(mapping) + "\n")
    partition = {1: 0, 3: 2, 6: 1, 8: 2}  # CelebA file number -> 0 train, 1 val, 2 test
    lines = [f"{n:06d}.jpg {partition.get(n, 0)}" for n in range(1, 10)]
    (root / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    data = load(tmp_path, "celebahq", root, "data.test_split=celeba")
    # HQ 0 <- CelebA 8 (test), 1 <- 3 (test), 2 <- 1 (train), 3 <- 6 (val: not test)
    assert [p.name for p in data.split_dataset("test").paths] == ["0.jpg", "1.jpg"]
    assert [p.name for p in data.split_dataset("train").paths] == ["2.jpg", "3.jpg"]
    (root / "list_eval_partition.txt").unlink()
    with pytest.raises(ConfigError, match="test_split=celeba needs .*list_eval_partition.txt"):
        load(tmp_path, "celebahq", root, "data.test_split=celeba")


def test_celebahq_layout_and_attribute_errors(tmp_path):
    root = tmp_path / "celebahq"
    for index in range(3):
        write_image(root / "CelebA-HQ-img" / f"{index}.jpg", index)
    with pytest.raises(ConfigError) as missing:
        load(tmp_path, "celebahq", root)
    assert "has no attribute file" in str(missing.value)
    assert "└── CelebAMask-HQ-attribute-anno.txt" in str(missing.value)
    assert SOURCES["celebahq"] in str(missing.value)
    rows = {f"{index}.jpg": values for index, values in enumerate(celeba_values(3))}
    write_attribute_file(root / "CelebAMask-HQ-attribute-anno.txt", rows)
    with pytest.raises(ConfigError) as unknown:
        load(tmp_path, "celebahq", root, "data.n_test=1", "data.attributes=[Smiling,Wings]")
    assert "unknown attribute(s) Wings" in str(unknown.value)
    assert all(name in str(unknown.value) for name in CELEBA_ATTRIBUTES)
    (root / "CelebAMask-HQ-attribute-anno.txt").write_text("3\n" + " ".join(CELEBA_ATTRIBUTES))
    with pytest.raises(ConfigError, match="line 1 says 3 rows but the file has 0"):
        load(tmp_path, "celebahq", root, "data.n_test=1")


def test_stanford_cars_is_resized_to_width_by_height(tmp_path):
    root = tmp_path / "cars"
    for index in range(3):
        write_image(root / "cars_train" / f"{index:05d}.jpg", index, (60, 25))
    for index in range(2):  # Kaggle's nested layout
        write_image(root / "cars_test" / "cars_test" / f"{index:05d}.jpg", index)
    data = load(tmp_path, "stanford_cars", root, "data.width=32", "data.height=24")
    data.batch_size = 2
    assert data.image_shape == (24, 32) and data.image_size == 32
    assert_images(first_batch(data)["image"], (2, 3, 24, 32))
    assert data.split_dataset("test")[1]["image"].shape == (3, 24, 32)
    assert "32x24 px (WxH)" in data.describe() and "3 train / 2 test" in data.describe()


def make_yosemite(root: Path, groups: tuple[str, ...] = ("trainA", "trainB", "testA", "testB")):
    for group, count in zip(groups, (3, 5, 2, 2), strict=False):
        for index in range(count):
            write_image(root / group / f"{index}.jpg", hash((group, index)) % 1000)


def test_yosemite_draws_the_two_domains_independently(tmp_path):
    make_yosemite(tmp_path / "yosemite")
    data = load(tmp_path, "yosemite", tmp_path / "yosemite", "data.size=16", "data.batch_size=2")
    assert data.domains == ("summer", "winter")
    batch = first_batch(data)
    assert_images(batch["image_b"], (2, 3, 16, 16))
    assert torch.equal(batch["image"], batch["image_a"])
    sampler = data.train_dataloader().sampler
    pairs = list(sampler)
    assert len(pairs) == 5 and {b for _, b in pairs} == set(range(5))
    assert {a for a, _ in pairs} == set(range(3))
    sampler.set_epoch(1)
    assert list(sampler) != pairs
    assert len(data.domain_dataset("train", "winter")) == 5
    assert len(data.split_dataset("test")) == 2 and data.val_split == "test"
    test = data.split_dataset("test")
    assert torch.equal(
        test[1]["image_b"], data.domain_dataset("test", "winter")[test.order[1]]["image"]
    )
    assert "3 trainA / 5 trainB / 2 testA / 2 testB" in data.describe()


def test_yosemite_without_test_b_names_the_missing_folder(tmp_path):
    make_yosemite(tmp_path / "yosemite", ("trainA", "trainB", "testA"))
    with pytest.raises(ConfigError) as error:
        load(tmp_path, "yosemite", tmp_path / "yosemite")
    assert "has no folder testB/" in str(error.value)
    assert "└── testB/" in str(error.value) and SOURCES["yosemite"] in str(error.value)


def test_unaligned_names_the_missing_or_empty_folder_and_the_layout(tmp_path):
    make_yosemite(tmp_path / "u", ("trainA", "trainB", "testA"))
    with pytest.raises(ConfigError) as error:
        load(tmp_path, "unaligned", tmp_path / "u")
    assert "has no folder testB/" in str(error.value) and "├── trainA/" in str(error.value)
    make_yosemite(tmp_path / "u", ("testB",))
    for path in (tmp_path / "u" / "trainA").iterdir():
        path.unlink()
    with pytest.raises(ConfigError, match="trainA holds no image files"):
        load(tmp_path, "unaligned", tmp_path / "u")
    make_yosemite(tmp_path / "v")
    data = load(tmp_path, "unaligned", tmp_path / "v", "data.size=16", "data.domains=[horse,zebra]")
    assert data.domains == ("horse", "zebra")
    assert (
        len(data.domain_dataset("train", "zebra")) == 5
        and len(data.domain_dataset("test", "horse")) == 2
    )
    with pytest.raises(ConfigError, match="names the two domains"):
        load(tmp_path, "unaligned", tmp_path / "v", "data.domains=[a]")


def test_edges2shoes_splits_each_file_into_edges_and_photo(tmp_path):
    left, right = 240, 40  # grey levels survive JPEG
    pixels = np.concatenate([np.full((32, 32, 3), left), np.full((32, 32, 3), right)], axis=1)
    for split, count in (("train", 3), ("val", 1)):
        for index in range(count):
            path = tmp_path / "e2s" / split / f"{index + 1}_AB.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels.astype(np.uint8)).save(path, quality=95)
    data = load(tmp_path, "edges2shoes", tmp_path / "e2s", "data.size=16", "data.batch_size=3")
    batch = first_batch(data)
    assert_images(batch["edges"], (3, 3, 16, 16))
    assert_images(batch["image"], (3, 3, 16, 16))
    assert torch.allclose(
        batch["edges"], torch.full_like(batch["edges"], left / 127.5 - 1), atol=0.02
    )
    assert torch.allclose(
        batch["image"], torch.full_like(batch["image"], right / 127.5 - 1), atol=0.02
    )
    assert len(data.split_dataset("val")) == 1


def write_idx(path: Path, array: np.ndarray, magic: int) -> None:
    data = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    data += array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def make_mnist(root: Path, n_train: int = 12, n_test: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": (rng.integers(0, 256, (n_train, 28, 28)), 2051),
        "train-labels-idx1-ubyte.gz": (np.arange(n_train) % 10, 2049),
        "t10k-images-idx3-ubyte": (rng.integers(0, 256, (n_test, 28, 28)), 2051),
        "t10k-labels-idx1-ubyte": ((np.arange(n_test) * 3) % 10, 2049),
    }
    root.mkdir(parents=True, exist_ok=True)
    for name, (array, magic) in arrays.items():
        write_idx(root / name, array, magic)
    return {name: array for name, (array, _) in arrays.items()}


def test_mnist_parses_idx_files_plain_and_gzipped(tmp_path):
    arrays = make_mnist(tmp_path / "mnist")
    data = load(tmp_path, "mnist", tmp_path / "mnist", "data.size=28", "data.n_val=2")
    train, val, test = (data.split_dataset(s) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (10, 2, 4)
    scans = torch.from_numpy(arrays["train-images-idx3-ubyte.gz"]).float()
    assert torch.equal(val[1]["image"], (scans[11] / 127.5 - 1).unsqueeze(0))
    assert [test[i]["label"].item() for i in range(4)] == [0, 3, 6, 9]
    assert [val[i]["label"].item() for i in range(2)] == [0, 1]
    data = load(tmp_path, "mnist", tmp_path / "mnist", "data.n_val=2", "data.batch_size=5")
    batch = first_batch(data)
    assert_images(batch["image"], (5, 1, 32, 32))
    assert batch["label"].dtype == torch.int64
    assert "10 train / 2 val / 4 test" in data.describe()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("magic", "starts with magic number 2049, not 2051"),
        ("truncate", "is 1000 bytes long but its header (4 x 28 x 28) needs 3152"),
        ("count", "holds 4 images but t10k-labels-idx1-ubyte 3 labels"),
    ],
)
def test_mnist_rejects_malformed_idx_files(tmp_path, damage, message):
    root = tmp_path / "mnist"
    arrays = make_mnist(root)
    images = root / "t10k-images-idx3-ubyte"
    if damage == "magic":
        write_idx(images, arrays["t10k-images-idx3-ubyte"], 2049)
    elif damage == "truncate":
        images.write_bytes(images.read_bytes()[:1000])
    else:
        write_idx(root / "t10k-labels-idx1-ubyte", np.arange(3), 2049)
    with pytest.raises(ConfigError) as error:
        load(tmp_path, "mnist", root)
    assert message in str(error.value) and SOURCES["mnist"] in str(error.value)
    assert "└── t10k-labels-idx1-ubyte" in str(error.value)


@pytest.mark.parametrize(
    "option",
    [
        "folder",
        "ffhq",
        "celebahq",
        "stanford_cars",
        "yosemite",
        "unaligned",
        "edges2shoes",
        "mnist",
    ],
)
def test_a_missing_root_shows_the_layout_and_where_to_get_the_data(tmp_path, option):
    with pytest.raises(ConfigError) as error:
        load(tmp_path, option, tmp_path / "nowhere")
    message = str(error.value)
    assert message.startswith(f"{option}: data.root={tmp_path / 'nowhere'} does not exist.")
    assert "Expected layout of data.root:\n<root>/\n" in message and "└── " in message
    assert SOURCES.get(option, "any folder of your own images") in message
    assert "pass data.root=<the unpacked folder>" in message
    unset = compose_run(tmp_path / "run", [f"data={option}"])
    with pytest.raises(ConfigError, match=r"missing required value\(s\): data.root"):
        check_config(unset)


def test_an_unset_root_is_reported_with_the_layout():
    with pytest.raises(ConfigError, match="folder: data.root is not set"):
        FolderDataModule(root=None)


def make_corrupt_folder(root: Path) -> None:
    for index in range(4):
        write_image(root / f"good{index}.jpg", index)
    good = write_image(root / "whole.jpg", 9).read_bytes()
    (root / "whole.jpg").unlink()
    (root / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (root / "text.png").write_text("this is not a PNG")
    (root / "empty.jpg").write_bytes(b"")


def test_unreadable_files_are_skipped_with_one_warning(tmp_path):
    root = tmp_path / "corrupt"
    make_corrupt_folder(root)
    assert not is_readable(root / "truncated.jpg") and is_readable(root / "good0.jpg")
    data = load(tmp_path, "folder", root, "data.size=8", "data.val_fraction=0", "data.batch_size=4")
    with pytest.warns(UserWarning) as caught:
        data.setup()
    messages = [str(w.message) for w in caught if "unreadable" in str(w.message)]
    assert len(messages) == 1 and "skipping 3 unreadable image file(s)" in messages[0]
    assert all(name in messages[0] for name in ("truncated.jpg", "text.png", "empty.jpg"))
    assert len(data.split_dataset("train")) == 4
    assert_images(first_batch(data)["image"], (4, 3, 8, 8))
    assert data.describe().endswith("3 unreadable skipped")


def test_strict_stops_on_unreadable_files_and_names_them(tmp_path):
    root = tmp_path / "corrupt"
    make_corrupt_folder(root)
    data = load(tmp_path, "folder", root, "data.strict=true")
    with pytest.raises(ConfigError) as error:
        data.setup()
    message = str(error.value)
    assert "3 unreadable image file(s)" in message and "data.strict=false" in message
    assert all(name in message for name in ("truncated.jpg", "text.png", "empty.jpg"))


def test_a_file_that_fails_to_decode_mid_epoch_falls_back_to_the_next(tmp_path, monkeypatch):
    import ganlab.data.images as images

    root = tmp_path / "folder"
    for index in range(4):
        write_image(root / f"{index}.png", index)
    data = load(tmp_path, "folder", root, "data.size=8", "data.val_fraction=0", "data.batch_size=1")
    data.setup()
    real_open = images.open_image

    def flaky_open(path, *args, **kwargs):
        if path.name == "1.png":
            raise OSError("broken data stream when reading image file")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(images, "open_image", flaky_open)
    train = data.split_dataset("train")
    with pytest.warns(UserWarning, match="1.png does not decode") as caught:
        batches = list(data.train_dataloader())
    assert len(batches) == 4 and len([w for w in caught if "1.png" in str(w.message)]) == 1
    assert torch.equal(train[1]["image"], train[2]["image"])
    assert train.failed == {root / "1.png"}


def toyfaces_base(tmp_path: Path) -> dict:
    cfg = compose_run(
        tmp_path / "run",
        [
            "data=toyfaces",
            "data.size=32",
            "data.n_train=12",
            "data.n_val=4",
            "data.n_test=4",
            "data.cache=false",
            "data.batch_size=4",
        ],
    )
    return OmegaConf.to_container(cfg.data, resolve=True)


def halve(images: torch.Tensor) -> torch.Tensor:
    return images * 0.5


def test_uda_domains_split_training_images_and_degrade_only_the_target(tmp_path):
    uda_cfg = OmegaConf.create(
        {"_target_": "ganlab.data.domains.UDADataModule", "base": toyfaces_base(tmp_path)}
    )
    data = instantiate(uda_cfg, degradation=halve, shuffle_seed=3, batch_size=3)
    assert data.name == "uda_toyfaces" and data.image_size == 32 and data.channels == 3
    base = data.base.split_dataset("train")
    loader = data.train_dataloader()
    sources, targets = [], []
    for batch in loader:
        assert set(batch) == {"source", "target", "image", "source_index", "target_index", "draw"}
        assert_images(batch["target"], (3, 3, 32, 32))
        for k in range(3):
            s, t = batch["source_index"][k].item(), batch["target_index"][k].item()
            assert torch.equal(batch["source"][k], base[s]["image"])
            assert torch.equal(batch["target"][k], base[t]["image"] * 0.5)
            sources.append(s)
            targets.append(t)
    assert torch.equal(batch["image"], batch["source"])
    assert sorted(sources) == list(range(6)) and sorted(targets) == list(range(6, 12))
    assert [t - 6 for t in targets] != sources  # unpaired: not matched position by position
    assert len(data.split_dataset("train")) == 6
    assert "6 source (clean) / 6 target (degradation: halve)" in data.describe()


def test_uda_pairs_are_independent_and_depend_only_on_seed_and_epoch(tmp_path):
    data = instantiate(
        {"_target_": "ganlab.data.domains.UDADataModule", "base": toyfaces_base(tmp_path)},
        shuffle_seed=3,
    )
    sampler = data.train_dataloader().sampler
    first = list(sampler)
    assert first == list(data.train_dataloader().sampler)
    assert [a for a, _, _ in first] != [b for _, b, _ in first]
    assert [draw for _, _, draw in first] == list(range(len(first)))  # numbered in order
    sampler.set_epoch(1)
    second = list(sampler)
    assert second != first
    assert [draw for _, _, draw in second] == list(range(len(first), 2 * len(first)))


def test_uda_eval_pairs_reach_the_clean_original(tmp_path):
    base = OmegaConf.create(toyfaces_base(tmp_path))
    uda_cfg = OmegaConf.create(
        {
            "_target_": "ganlab.data.domains.UDADataModule",
            "_recursive_": False,  # the module instantiates its base config itself
            "base": base,
            "degradation": {"_target_": "torch.add", "_partial_": True, "other": 0.25},
        }
    )
    data = instantiate(uda_cfg)
    test, base_test = data.split_dataset("test"), data.base.split_dataset("test")
    assert len(test) == 4
    for position in range(4):
        item = test[position]
        assert item["index"] == position
        assert torch.equal(item["clean"], base_test[position]["image"])
        assert torch.equal(item["degraded"], item["clean"] + 0.25)
    pairs = data.target_pairs("train")
    assert [pairs[i]["index"] for i in range(len(pairs))] == list(range(6, 12))
    batch = next(iter(data.val_dataloader()))
    assert set(batch) == {"degraded", "clean", "image", "index"}


def test_uda_eval_pairs_degrade_each_index_as_torch_manual_seed_of_seed_plus_index(tmp_path):
    from ganlab.data.degradations import build

    rain = build("rain")
    data = instantiate(
        {"_target_": "ganlab.data.domains.UDADataModule", "base": toyfaces_base(tmp_path)},
        degradation=rain,
        eval_seed=7,
    )
    pairs = data.split_dataset("val")
    for position in (0, 3):
        item = pairs[position]
        torch.manual_seed(7 + item["index"])
        expected = rain(item["clean"][None])[0]
        assert torch.equal(item["degraded"], expected)
        assert not torch.equal(item["degraded"], item["clean"])


def test_uda_random_degradations_are_reproducible_per_index(tmp_path):
    def noise(images):
        return (images + 0.1 * torch.randn_like(images)).clamp(-1, 1)

    data = instantiate(
        {"_target_": "ganlab.data.domains.UDADataModule", "base": toyfaces_base(tmp_path)},
        degradation=noise,
    )
    pairs = data.split_dataset("val")
    torch.manual_seed(0)
    first = pairs[2]["degraded"]
    torch.manual_seed(1)
    assert torch.equal(pairs[2]["degraded"], first)
    assert not torch.equal(pairs[3]["degraded"] - pairs[3]["clean"], first - pairs[2]["clean"])


def test_uda_rejects_bad_fractions_and_shape_changing_degradations(tmp_path):
    target = {"_target_": "ganlab.data.domains.UDADataModule", "base": toyfaces_base(tmp_path)}
    with pytest.raises(ConfigError, match="source_fraction=1.0 must be in"):
        UDADataModule(target, source_fraction=1.0)
    data = instantiate(target, degradation=lambda x: x[..., :16])
    with pytest.raises(GanlabError, match="must return a batch of the same shape"):
        next(iter(data.train_dataloader()))


def test_no_warnings_from_a_clean_tree(tmp_path):
    for index in range(3):
        write_image(tmp_path / "ok" / f"{index}.jpg", index)
    data = load(tmp_path, "folder", tmp_path / "ok", "data.size=8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data.setup()
    assert "unreadable" not in data.describe()


def test_cli_prints_the_layout_message_itself(tmp_path):
    result = run_cli(["data=yosemite", f"data.root={tmp_path / 'nowhere'}"], cwd=tmp_path)
    assert result.returncode == 2
    assert "├── trainA/" in result.stderr and "summer2winter_yosemite" in result.stderr
    assert "Error in call to target" not in result.stderr and "\\n" not in result.stderr
