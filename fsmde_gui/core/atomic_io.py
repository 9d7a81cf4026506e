"""Atomic file writes: write a temp file beside the target, then ``os.replace`` it.

A crash, cancel or full disk mid-write never leaves a half-written checkpoint, export or
JSON under its final name; the previous file (if any) stays whole. Every write is checked
and the temp file is fsync'ed before the rename; on any failure it is removed.

* A symlink at the target is followed: the real file is replaced (its temp file lives
  beside it), the link stays a link.
* A device node or FIFO at the target (``/dev/null``, ``/dev/stdout``) is written through,
  not replaced by a regular file.
* A new file gets ``0o666 & ~umask`` (not mkstemp's 0600); an existing file keeps its mode.
* An ``OSError`` always names the file the caller asked for (never the temp file).

Every writer in the project goes through :func:`atomic_write` (a file object) or
:func:`atomic_path` (a temp path, for libraries that write by file name: open3d, OpenCV's
VideoWriter, Qt).
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Optional


def current_umask() -> int:
    """The process umask (read from /proc where possible: toggling it is not thread-safe)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def resolve_target(path: str | Path) -> Path:
    """Where a write to ``path`` must land: a symlink (chain) is followed to the real file."""
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    return path


def _named(exc: OSError, path: str | Path, target: Path) -> OSError:
    """The same error, naming the caller's ``path`` instead of our temp file (or nothing);
    an error about another file (one the writer read, say) is left as it is."""
    if exc.errno is None:
        return exc
    name = exc.filename
    if name is not None:
        name = Path(os.fsdecode(name)) if isinstance(name, (str, bytes, os.PathLike)) else None
        ours = name is not None and (name in (target, target.parent) or (
            name.parent == target.parent and name.name.startswith(f".{target.stem}")))
        if not ours:
            return exc
    try:
        named = type(exc)(exc.errno, exc.strerror or os.strerror(exc.errno), str(path))
    except TypeError:
        named = OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(path))
    return named


def _inspect(target: Path) -> tuple[bool, Optional[os.stat_result]]:
    """``(write_through, stat of an existing regular file)``; a folder is an error."""
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return False, None
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a folder, expected a file name", str(target))
    if not stat.S_ISREG(st.st_mode):
        return True, None  # device node, FIFO, socket: write through
    return False, st


def _commit(tmp: str, target: Path, existing: Optional[os.stat_result], fsync: bool) -> None:
    """fsync ``tmp``, give it the target's mode (new: 0o666 & ~umask) and rename it over."""
    if fsync:
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    if existing is not None:
        os.chmod(tmp, stat.S_IMODE(existing.st_mode))
        if hasattr(os, "chown") and (existing.st_uid, existing.st_gid) != (os.getuid(), os.getgid()):
            with contextlib.suppress(OSError):
                os.chown(tmp, existing.st_uid, existing.st_gid)
    else:
        os.chmod(tmp, 0o666 & ~current_umask())
    os.replace(tmp, target)
    if fsync:  # make the rename itself durable (best effort: not every file system allows it)
        with contextlib.suppress(OSError):
            dfd = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)


def _remove(tmp: Optional[str]) -> None:
    if tmp is not None:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def atomic_write(path: str | Path, write: Callable[[IO], Any], binary: bool = True,
                 fsync: bool = True) -> Path:
    """Call ``write(fh)`` on a temp file beside ``path``'s real file, check, fsync, rename.

    ``fh.name`` is the temp file's path (callers may reopen it to check what they wrote).
    Returns ``path`` as given."""
    mode = "wb" if binary else "w"
    encoding = None if binary else "utf-8"
    with atomic_path(path, fsync=fsync) as tmp:
        with open(tmp, mode, encoding=encoding) as fh:
            write(fh)
            fh.flush()  # a full disk fails here at the latest (or in close)
    return Path(path)


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = "", fsync: bool = True) -> Iterator[str]:
    """A temp file path beside ``path``'s real file for a writer that takes a file name.

    The body writes the file (``suffix``, e.g. ``".ply"``, is kept for writers that pick the
    format by extension) and should raise if the writer reports failure; on a clean exit the
    file is fsync'ed and renamed to ``path``, on any error it is removed. A device node at
    ``path`` is yielded itself (written through)."""
    given = Path(path)
    target = resolve_target(given)
    tmp = None
    try:
        through, existing = _inspect(target)
        if through:
            yield str(target)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{suffix}",
                                   dir=target.parent)
        os.close(fd)
        yield tmp
        if os.path.getsize(tmp) == 0 and suffix:
            raise OSError(errno.EIO, "the writer produced an empty file", str(given))
        _commit(tmp, target, existing, fsync)
        tmp = None
    except OSError as exc:
        named = _named(exc, given, target)
        if named is exc:
            raise
        raise named from exc
    finally:
        _remove(tmp)


def final_name(filename, staging: str | Path, final: str | Path) -> str:
    """The name a file inside a staging folder (built beside ``final``, then renamed to it)
    will have: what an error about it should show the user."""
    if filename is None:
        return str(final)
    name, staging = os.fsdecode(filename), os.fsdecode(staging)
    if name == staging or name.startswith(staging + os.sep):
        return os.fsdecode(final) + name[len(staging):]
    return name


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda fh: fh.write(text), binary=False)


def atomic_write_json(path: str | Path, data: Any, **dump_kwargs) -> Path:
    """JSON with ``indent=2`` and a final newline; ``dump_kwargs`` go to ``json.dumps``."""
    return atomic_write_text(path, json.dumps(data, **({"indent": 2} | dump_kwargs)) + "\n")
