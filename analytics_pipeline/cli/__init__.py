"""``analytics-pipeline``: the project's own command line.

Each ``analytics_pipeline.cli.<module>`` in :data:`COMMAND_MODULES` contributes subcommands
through ``register(subparsers)``; a subcommand sets ``func(args) -> int``.

Every command uses the Dagster instance in ``$DAGSTER_HOME``, and ``./.dagster_home`` when it is
unset, as ``make`` does, so runs started here are the runs the UI (``make dev``) shows.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
from pathlib import Path

LOCAL_DAGSTER_HOME = ".dagster_home"


def default_dagster_home() -> Path:
    """``$DAGSTER_HOME``, or ``./.dagster_home`` (created with the repository's dagster.yaml) when unset."""
    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"])
    home = Path(LOCAL_DAGSTER_HOME).absolute()
    home.mkdir(parents=True, exist_ok=True)
    shipped = Path(__file__).resolve().parents[2] / "dagster.yaml"
    if not (home / "dagster.yaml").exists() and shipped.exists():
        shutil.copyfile(shipped, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


COMMAND_MODULES = ["events", "demo", "cache", "reports", "status", "retention", "serve", "export", "metrics"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="analytics-pipeline", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"analytics_pipeline.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"analytics_pipeline.cli.{name}":
                continue  # that stage has no commands (yet)
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    default_dagster_home()
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
