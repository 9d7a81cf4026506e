"""The `fsmde` command: the engine headless (generate, info, train, eval, bench, export, models).

Each sub-command lives in ``fsmde_gui/commands/<name>.py`` and exposes
``register(subparsers)`` which adds its parser and sets ``func=run`` (``run(args) -> int``).
Errors the user can act on (``FsmdeError``) print one line and exit 2, no traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .core.errors import FsmdeError

COMMANDS = ("generate", "info", "convert", "train", "eval", "bench", "export", "models")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fsmde", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"fsmde_gui.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"fsmde_gui.commands.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except FsmdeError as exc:
        print(f"fsmde {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fsmde {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
