"""``analytics-pipeline``: the project's own command line.

Each ``analytics_pipeline.cli.<module>`` in :data:`COMMAND_MODULES` contributes subcommands
through ``register(subparsers)``; a subcommand sets ``func(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = ["events", "demo", "cache", "reports", "status", "retention", "serve"]
COMMAND_MODULES += ["metrics"]


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
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
