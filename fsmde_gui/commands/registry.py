"""Every ``fsmde`` sub-command, in the order ``fsmde --help`` lists them.

Each command module exposes ``register(subparsers)``, which adds its parser and sets
``func=run`` (``run(args) -> int``). A new command is one more module here; a command module
that fails to import fails ``fsmde`` with its own error.
"""
from __future__ import annotations

from types import ModuleType

from . import bench, convert, eval, export, export_model, generate, info, models, train

COMMAND_MODULES: dict[str, ModuleType] = {
    "generate": generate,
    "info": info,
    "convert": convert,
    "train": train,
    "eval": eval,
    "bench": bench,
    "export": export,
    "models": models,
    "export_model": export_model,
}
