"""The `fsmde` command: the engine headless (generate, info, train, eval, bench, export, models).

Each sub-command lives in ``fsmde_gui/commands/<name>.py``, listed in
:mod:`fsmde_gui.commands.registry`, and exposes ``register(subparsers)`` which adds its parser
and sets ``func=run`` (``run(args) -> int``).
Errors the user can act on (``FsmdeError``) print one line and exit 2, no traceback.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback

from . import __version__
from .commands.registry import COMMAND_MODULES
from .core.errors import FsmdeError

COMMANDS = tuple(COMMAND_MODULES)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fsmde", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"fsmde {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES.values():
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command. The one place errors become the exit line: a project error
    (``FsmdeError``) or an ``OSError`` (with its file name) prints
    ``fsmde <cmd>: error: <file or option>: <problem>`` and exits 2, as does a bad option;
    anything unexpected prints one line too, with a hint (``FSMDE_DEBUG=1`` shows tracebacks)."""
    debug = bool(os.environ.get("FSMDE_DEBUG"))
    parser = build_parser()

    def one_line_errors(p: argparse.ArgumentParser) -> None:  # argparse prints usage + error
        p.error = lambda message: p.exit(2, f"{p.prog}: error: {message} (see {p.prog} --help)\n")
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    one_line_errors(sub)

    one_line_errors(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # a bad option (its line is printed) or --help: a return code
        return exc.code if isinstance(exc.code, int) else 2
    where = f"fsmde {args.command}"
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{where}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `fsmde info | head`: the reader left; not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout
        return 141  # what a shell reports for a writer killed by SIGPIPE (128 + 13)
    except Exception as exc:  # noqa: BLE001  (the one place errors become the exit line)
        error = exc
    if isinstance(error, FsmdeError):
        text = str(error)
    elif isinstance(error, OSError):  # a read-only or full output folder, a missing file, ...
        name = error.filename if error.filename is not None else getattr(error, "filename2", None)
        problem = error.strerror or str(error) or type(error).__name__
        if isinstance(name, (str, bytes, os.PathLike)):
            name = os.fsdecode(name)
        text = f"{name}: {problem}" if name is not None else problem
    elif isinstance(error, MemoryError):
        text = "out of memory (smaller images, batch or dataset?)"
    else:  # a bug, not the user's input: still one line, with a hint
        text = (f"unexpected {type(error).__name__}: {error} "
                "(re-run with FSMDE_DEBUG=1 for the traceback)")
    if debug:
        traceback.print_exception(type(error), error, error.__traceback__)
    print(f"{where}: error: {' '.join(text.split()) or 'failed'}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
