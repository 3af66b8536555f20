"""``python -m ganlab.dashboard DIR [DIR ...]``: a W&B workspace that compares runs.

Each DIR is a run dir, a multirun sweep dir or any folder above them (as for
``ganlab.compare``), or ``group:<name>``: the runs of that W&B group, read from W&B. The
workspace (built with the ``wandb-workspaces`` package) shows the runs of the W&B group(s)
these runs logged to:

- line panels of every loss (``loss/*``) and periodic evaluation (``eval/*``) against the
  optimizer step (``trainer/global_step``, the step of ``logs/metrics.csv``);
- a bar panel per final metric (``final/<name>``, the names of ``metrics.json``) and, for
  metrics measured on source and target data (UDA-Inversion's Table II), one panel per
  metric with both columns side by side;
- the latest sample grids / reconstructions / translations (media panel of ``samples``);
- a runs table with the final metrics pinned.

Runs are grouped (and coloured) by the overrides that differ between them, except the seed:
runs that differ only in seed are drawn as one line with its spread (mean and standard
deviation). A group override (``loss=hinge``) is matched through the ``choices.<group>``
config key that ganlab logs.

With a W&B API key (``WANDB_API_KEY`` or ``wandb login``) the workspace is saved and its URL
printed. Without one (or with ``--offline``) its spec is written to
``wandb_workspace.json`` beside the runs: upload the runs with ``wandb sync``, log in, and
run the same command again to publish it.
"""

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from google.protobuf.message import DecodeError

from ganlab.compare import find_runs, read_overrides
from ganlab.errors import GanlabError
from ganlab.loggers import wandb_api_key_configured
from ganlab.wandb_files import summary

STEP_AXIS = "trainer/global_step"
SAMPLES_KEY = "samples"
NOT_GROUPED = ("seed",)  # runs differing only here are one line with its spread
PAIRED = ("_source", "_target")  # UDA-Inversion's Table II columns
SPEC_NAME = "wandb_workspace.json"
GROUP_PREFIX = "group:"  # a positional argument naming a W&B group instead of a dir
RUN_GROUP_KEY = "logger.wandb.group"  # the config key holding a run's W&B group


@dataclass(frozen=True)
class RunInfo:
    """What the dashboard needs of one run dir."""

    path: Path
    overrides: dict[str, str]  # key -> value, as typed on the command line
    config_keys: frozenset[str]  # dotted keys of its resolved config
    logged: frozenset[str]  # names of the values it logged
    group: str | None  # its W&B group
    project: str


def read_run_info(run_dir: Path) -> RunInfo:
    config = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    wandb_cfg = (config.get("logger") or {}).get("wandb") or {}
    return RunInfo(
        path=run_dir,
        overrides=dict(item.split("=", 1) for item in read_overrides(run_dir) if "=" in item),
        config_keys=frozenset(dotted_keys(config)),
        logged=frozenset(logged_names(run_dir)),
        group=wandb_cfg.get("group"),
        project=wandb_cfg.get("project") or "ganlab",
    )


def dotted_keys(node: Any, prefix: str = "") -> list[str]:
    if isinstance(node, dict) and node:
        return [k for key, value in node.items() for k in dotted_keys(value, f"{prefix}{key}.")]
    return [prefix[:-1]]


def logged_names(run_dir: Path) -> set[str]:
    """The names a run logged: from its W&B run files when it has them, else from the local
    files under the names ganlab logs them to W&B with (``loss/*`` of ``logs/metrics.csv``,
    ``eval/<name>`` of ``evaluations.jsonl``, ``final/<name>`` of ``metrics.json``)."""
    names: set[str] = set()
    for run_file in sorted(run_dir.glob("wandb/*run-*/run-*.wandb")):
        try:
            keys = summary(run_file)["history_keys"]
        except (ValueError, DecodeError):  # not finished writing: the local files say it
            continue
        names |= {key.split("/_type")[0] if key.endswith("/_type") else key for key in keys}
    if names:
        return names
    csv_log = run_dir / "logs" / "metrics.csv"
    if csv_log.is_file():
        header = csv_log.read_text().splitlines()[:1]
        names |= {column for column in "".join(header).split(",") if column.startswith("loss/")}
    evaluations = run_dir / "evaluations.jsonl"
    if evaluations.is_file():
        for line in evaluations.read_text().splitlines():
            names |= {f"eval/{key}" for key in json.loads(line).get("metrics", {})}
    metrics = run_dir / "metrics.json"
    if metrics.is_file():
        names |= {f"final/{key}" for key in json.loads(metrics.read_text()).get("metrics", {})}
    if list((run_dir / "samples").glob("step_*.png")):
        names.add(SAMPLES_KEY)
    return names


def differing_overrides(runs: list[RunInfo]) -> list[str]:
    """Override keys whose value is not the same in every run (a missing key counts as a
    value), in the order they were typed."""
    keys = list(dict.fromkeys(key for run in runs for key in run.overrides))
    return [key for key in keys if len({run.overrides.get(key) for run in runs}) > 1]


def config_key_of(override: str, runs: list[RunInfo]) -> str:
    """The logged config key an override sets: the key itself, or ``choices.<group>`` for a
    config group option (``loss=hinge``)."""
    key = override.lstrip("+~")
    return key if any(key in run.config_keys for run in runs) else f"choices.{key}"


@dataclass(frozen=True)
class Plan:
    """The workspace's content, before it is turned into wandb-workspaces objects."""

    name: str
    project: str
    groups: list[str]
    group_by: list[str]  # config keys
    seed_spread: bool
    losses: list[str]
    evaluations: list[str]
    finals: list[str]
    paired: list[str]  # metric stems with _source and _target finals
    media: list[str]


def plan_dashboard(runs: list[RunInfo], name: str | None = None) -> Plan:
    logged = sorted(set().union(*(run.logged for run in runs)))
    differing = differing_overrides(runs)
    grouped = [key for key in differing if key.lstrip("+~") not in NOT_GROUPED]
    finals = [key for key in logged if key.startswith("final/")]
    stems = sorted({key[: -len(PAIRED[0])] for key in finals if key.endswith(PAIRED[0])})
    paired = [stem for stem in stems if f"{stem}{PAIRED[1]}" in finals]
    groups = sorted({run.group for run in runs if run.group})
    title = name or " / ".join(groups or [runs[0].path.parent.name])
    if differing:
        title += ": by " + ", ".join(differing)
    seed_spread = any(key.lstrip("+~") in NOT_GROUPED for key in differing)
    group_by = [config_key_of(key, runs) for key in grouped]
    if seed_spread and not group_by:  # only seeds differ: one group, drawn with its spread
        group_by = [RUN_GROUP_KEY]
    return Plan(
        name=title[:120],
        project=runs[0].project,
        groups=groups,
        group_by=group_by,
        seed_spread=seed_spread,
        losses=[key for key in logged if key.startswith("loss/")],
        evaluations=[key for key in logged if key.startswith("eval/")],
        finals=finals,
        paired=paired,
        media=[SAMPLES_KEY] if SAMPLES_KEY in logged else [],
    )


def build_workspace(plan: Plan, entity: str) -> Any:
    """The wandb-workspaces Workspace of ``plan``."""
    import wandb_workspaces.reports.v2 as wr
    import wandb_workspaces.workspaces as ws
    from wandb_workspaces import expr

    spread = {"groupby_aggfunc": "mean", "groupby_rangefunc": "stddev"} if plan.seed_spread else {}

    def side_by_side(stem: str) -> Any:
        return wr.BarPlot(title=stem.removeprefix("final/"), metrics=[stem + s for s in PAIRED])

    def lines(keys: list[str]) -> list[Any]:
        return [wr.LinePlot(title=key, x=STEP_AXIS, y=[key], **spread) for key in keys]

    sections = [
        ("losses", lines(plan.losses)),
        ("evaluations", lines(plan.evaluations)),
        ("Table II (source | target)", [side_by_side(stem) for stem in plan.paired]),
        ("final metrics", [wr.BarPlot(title=key, metrics=[key]) for key in plan.finals]),
        ("samples", [wr.MediaBrowser(title=key, media_keys=[key]) for key in plan.media]),
    ]
    filters = [expr.Metric("Group").isin(plan.groups)] if plan.groups else []
    return ws.Workspace(
        entity=entity,
        project=plan.project,
        name=plan.name,
        sections=[
            ws.Section(name=title, panels=panels, is_open=True)
            for title, panels in sections
            if panels
        ],
        settings=ws.WorkspaceSettings(x_axis=STEP_AXIS),
        runset_settings=ws.RunsetSettings(
            filters=filters,
            groupby=[expr.Config(flat_config_key(key)) for key in plan.group_by],
            pinned_columns=[f"summary:{key}" for key in plan.finals],
        ),
    )


def flat_config_key(key: str) -> str:
    """Config key ``key`` as ganlab logs it, for a runset grouping: one flat dotted key (W&B
    stores it as ``{"a.b": {"value": ...}}``), so ``.value`` goes at the end; the package
    assumes nested dicts (``a.value.b``) unless the path says where ``value`` is."""
    return f"{key}.value"


def spec_of(workspace: Any) -> dict[str, Any]:
    """The workspace as the JSON W&B stores (its view spec)."""
    return workspace._to_model().model_dump(by_alias=True, mode="json", exclude_none=True)


def free_path(folder: Path) -> Path:
    """``folder/wandb_workspace.json``, or ``..._2.json`` and on: never an existing file."""
    path, count = folder / SPEC_NAME, 1
    while path.exists():
        count += 1
        path = folder / f"{Path(SPEC_NAME).stem}_{count}.json"
    return path


def common_folder(runs: list[RunInfo]) -> Path:
    parents = [run.path.resolve() for run in runs]
    common = parents[0] if len(parents) == 1 else parents[0].parent
    while not all(path.is_relative_to(common) for path in parents):
        common = common.parent
    return common


PUBLISH = """\
To publish it:
  1. upload the runs:  wandb sync {runs}
  2. log in:           wandb login   (or set WANDB_API_KEY)
  3. run this command again; it saves the workspace to W&B and prints its URL
     (--entity NAME for a team; default: your API key's entity)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ganlab.dashboard",
        description="Build a Weights & Biases workspace comparing ganlab runs: losses and "
        "evaluations against the step, final metrics, sample grids and a runs table, "
        "grouped by the overrides that differ between the runs.",
        epilog="Publishing: with a W&B API key (wandb login, or WANDB_API_KEY) the workspace "
        "is saved to W&B and its URL printed. Without one (or with --offline) its spec is "
        f"written to {SPEC_NAME} beside the runs; upload the runs with `wandb sync "
        "<run dir>/wandb/offline-run-*`, log in, and run the same command again.",
    )
    parser.add_argument(
        "dirs",
        nargs="+",
        metavar="DIR",
        help="run dirs, sweep dirs or folders above them; or group:<name> for the runs of a "
        "W&B group, read from W&B (needs an API key)",
    )
    parser.add_argument("--entity", help="W&B entity (user or team); default: the API key's")
    parser.add_argument("--project", help="W&B project; default: the runs' logger.wandb.project")
    parser.add_argument("--name", help="workspace name; default: the group and the overrides")
    parser.add_argument(
        "--offline", action="store_true", help="only write the spec, even with an API key"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    groups = [arg.removeprefix(GROUP_PREFIX) for arg in args.dirs if arg.startswith(GROUP_PREFIX)]
    online = wandb_api_key_configured() and not args.offline
    try:
        if groups and (len(groups) < len(args.dirs) or not online):
            raise GanlabError(
                f"{GROUP_PREFIX}<name> reads the runs of a W&B group from W&B: give groups only, "
                "with an API key configured (wandb login), or give the runs' dirs instead"
            )
        runs = read_wandb_groups(groups, args) if groups else read_dirs(args.dirs)
    except GanlabError as error:
        print(f"ganlab.dashboard: {error}", file=sys.stderr)
        return 2
    plan = plan_dashboard(runs, args.name)
    if args.project:
        plan = Plan(**{**plan.__dict__, "project": args.project})
    if online:
        import wandb

        entity = args.entity or wandb.Api().default_entity
        workspace = build_workspace(plan, entity)
        workspace.save()
        print(f"ganlab.dashboard: saved workspace {plan.name!r}: {workspace.url}")
        return 0
    workspace = build_workspace(plan, args.entity or "your-entity")
    out = free_path(common_folder(runs))
    record = {
        "runs": [str(run.path) for run in runs],
        "grouped_by": plan.group_by,
        "seed_spread": plan.seed_spread,
        "workspace": spec_of(workspace),
    }
    out.write_text(json.dumps(record, indent=1))
    offline_runs = " ".join(f"{run.path}/wandb/offline-run-*" for run in runs[:2])
    more = " ..." if len(runs) > 2 else ""
    print(f"ganlab.dashboard: no W&B API key in use; wrote the workspace spec to {out}")
    print(PUBLISH.format(runs=offline_runs + more))
    return 0


def read_dirs(dirs: list[str]) -> list[RunInfo]:
    return [read_run_info(path) for path in find_runs([Path(d) for d in dirs])]


def read_wandb_groups(groups: list[str], args: argparse.Namespace) -> list[RunInfo]:
    """The runs of W&B groups ``groups`` in ``--project`` (default ganlab), from W&B."""
    import wandb

    api = wandb.Api()
    path = f"{args.entity or api.default_entity}/{args.project or 'ganlab'}"
    runs = [run for group in groups for run in api.runs(path, filters={"group": group})]
    if not runs:
        raise GanlabError(f"no runs in W&B group(s) {', '.join(groups)} of {path}")
    return [run_info_from_wandb(run) for run in runs]


def run_info_from_wandb(run: Any) -> RunInfo:
    """A W&B API run as the dashboard sees it: its overrides from its name (ganlab names a
    sweep member by Hydra's ``override_dirname``, ``loss=hinge,seed=1``), its config keys,
    and the values it logged (its summary holds the last of each)."""
    items = re.split(r"(?<!\\),", run.name or "")
    return RunInfo(
        path=Path(str(run.id)),
        overrides=dict(item.split("=", 1) for item in items if "=" in item),
        config_keys=frozenset(run.config),
        logged=frozenset(k for k in run.summary.keys() if not k.startswith("_")),  # noqa: SIM118
        group=run.group,
        project=run.project,
    )


if __name__ == "__main__":
    sys.exit(main())
