"""ganlab as users install it: a wheel that carries its configs and runs from any directory,
and a repo that stands alone."""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import REPO


def repo_files() -> list[Path]:
    """Tracked files and new files git does not ignore (what a commit would hold)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [REPO / name for name in listed if (REPO / name).is_file()]


def test_the_wheel_runs_from_an_empty_directory(tmp_path):
    source = tmp_path / "source"
    for path in repo_files():
        target = source / path.relative_to(REPO)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run(
        [
            *pip,
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "wheel"),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "wheel").glob("ganlab-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HYDRA_FULL_ERROR")}
    env["WANDB_MODE"] = "offline"

    def ganlab(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(venv / "bin" / "ganlab"), *args],
            cwd=empty,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    where = subprocess.run(
        [str(python), "-c", "import ganlab.conf; print(ganlab.conf.__file__)"],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(venv)), where.stdout  # the wheel's copy, not the checkout
    helped = ganlab("--help")
    assert helped.returncode == 0, helped.stderr
    tasks = "task: dissect, edit, eval, fit, invert, train_direction, translate"
    assert tasks in helped.stdout
    assert "experiment: " in helped.stdout and "gan_digits" in helped.stdout
    trained = ganlab("experiment=gan_digits", "steps=20", "callbacks=none", "eval.n_samples=100")
    assert trained.returncode == 0, trained.stderr[-3000:]
    (metrics,) = (empty / "outputs" / "gan_digits").glob("*/metrics.json")
    assert '"run_step": 20' in metrics.read_text()


def test_every_package_folder_is_in_the_wheel_list():
    listed = set(
        tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    folders = {
        ".".join(path.parent.relative_to(REPO).parts)
        for path in (REPO / "ganlab").rglob("__init__.py")
    }
    assert folders | {"ganlab.conf"} == listed


def test_nothing_in_the_repo_refers_to_files_outside_it():
    pattern = "../" + "shared"  # spelled in two parts so that this file does not match itself
    offenders = [
        str(path.relative_to(REPO))
        for path in repo_files()
        if path.suffix in (".py", ".md", ".yaml", ".toml", ".json", ".sh", ".txt", ".sbatch", "")
        and pattern in path.read_text(errors="ignore")
    ]
    assert offenders == []


def imported_modules(path: Path) -> set[str]:
    import ast

    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


FAMILY_BASES = {  # the frames the methods of a family share, in the family's folder
    "noise": {"sampling", "two_player"},
    "translation": {"image_pool", "two_domain", "attribute_translation"},
    "inversion": {"encoder_inversion"},
    "instruments": set(),
}
ENGINE = {"base", "engine", "ema"}  # ganlab/methods/ itself: what every method stands on


def test_evaluation_and_metrics_import_no_method_and_methods_not_each_other():
    for folder in ("evaluation", "metrics", "data", "features", "nets", "objectives", "inversion"):
        for path in (REPO / "ganlab" / folder).rglob("*.py"):
            methods = {m for m in imported_modules(path) if m.startswith("ganlab.methods")}
            assert not methods, f"{path.name} imports {methods}"
    methods = REPO / "ganlab" / "methods"
    assert {p.stem for p in methods.glob("*.py")} == ENGINE | {"__init__"}
    assert {p.name for p in methods.iterdir() if p.is_dir() and p.name != "__pycache__"} == set(
        FAMILY_BASES
    )
    for family, bases in FAMILY_BASES.items():
        allowed = {f"ganlab.methods.{name}" for name in ENGINE}
        allowed |= {f"ganlab.methods.{family}.{name}" for name in bases}
        for path in (methods / family).glob("*.py"):
            imported = {m for m in imported_modules(path) if m.startswith("ganlab.methods")}
            assert imported <= allowed, f"{family}/{path.name} imports {imported - allowed}"


def test_data_and_metrics_do_not_import_each_other():
    # judges that read a data set's images live in ganlab.evaluation, which imports both
    for folder, other in (("data", "ganlab.metrics"), ("metrics", "ganlab.data")):
        for path in (REPO / "ganlab" / folder).rglob("*.py"):
            found = {m for m in imported_modules(path) if m.startswith(other)}
            assert not found, f"{folder}/{path.name} imports {found}"


def data_set_names() -> set[str]:
    """The names ganlab's data configs give their data sets (``data=<name>``)."""
    return {path.stem for path in (REPO / "conf" / "data").glob("*.yaml")}


def named_strings(path: Path) -> list[tuple[int, str]]:
    """(line, text) of the string constants of a module, docstrings left out."""
    import ast

    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_evaluation_and_metrics_name_no_data_set():
    # what a declaration scores with comes from what the data module offers (judges,
    # attribute names, ground-truth renders), never from the data set's name
    names = data_set_names()
    assert {"toyfaces", "digits", "celebahq"} <= names
    offenders = [
        f"{path.relative_to(REPO)}:{line} {text!r}"
        for folder in ("evaluation", "metrics")
        for path in (REPO / "ganlab" / folder).rglob("*.py")
        for line, text in named_strings(path)
        if text in names
    ]
    assert offenders == []


def test_every_method_is_scored_through_its_declared_evaluations():
    import importlib
    import inspect

    from ganlab.methods.base import AdversarialModule

    methods = REPO / "ganlab" / "methods"
    paths = list(methods.rglob("*.py"))
    assert len(paths) > 30  # the families' folders are read, not only the engine's
    for path in paths:
        dotted = ".".join(path.relative_to(REPO).with_suffix("").parts)
        module = importlib.import_module(dotted)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, AdversarialModule):
                assert not hasattr(cls, "extra_metrics"), f"{cls.__name__} has extra_metrics"
                assert not hasattr(cls, "sample_scores"), f"{cls.__name__} has sample_scores"


def test_method_files_stay_readable_in_one_pass():
    lengths = {
        path.name: len(path.read_text().splitlines())
        for path in (REPO / "ganlab" / "methods").rglob("*.py")
    }
    assert {name: n for name, n in lengths.items() if n > 400} == {}
    assert lengths["engine.py"] < 300
