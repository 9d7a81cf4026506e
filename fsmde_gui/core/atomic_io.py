"""Atomic file writes: write a temp file beside the target, then ``os.replace`` it.

A crash or cancel mid-write never leaves a half-written checkpoint, export or JSON behind;
the previous file (if any) stays whole. Files get normal permissions (umask), not mkstemp's
0600. Every writer in the project goes through :func:`atomic_write`.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable


def atomic_write(path: str | Path, write: Callable[[IO], Any], binary: bool = True,
                 fsync: bool = False) -> Path:
    """Call ``write(fh)`` on a temp file in ``path``'s folder, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w") as fh:
            write(fh)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda fh: fh.write(text), binary=False)


def atomic_write_json(path: str | Path, data: Any, **dump_kwargs) -> Path:
    """JSON with ``indent=2`` and a final newline; ``dump_kwargs`` go to ``json.dumps``."""
    return atomic_write_text(path, json.dumps(data, **({"indent": 2} | dump_kwargs)) + "\n")
