"""Atomic writes keep the previous file whole when the writer fails, and use normal modes."""
import json
import os
import stat

import pytest

from fsmde_gui.core.atomic_io import atomic_write, atomic_write_bytes, atomic_write_json


def test_failed_write_keeps_previous_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "ckpt.bin"
    atomic_write_bytes(target, b"good")

    def broken(fh):
        fh.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, broken)
    assert target.read_bytes() == b"good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.bin"]


def test_json_and_permissions(tmp_path):
    path = atomic_write_json(tmp_path / "sub" / "m.json", {"a": 1.5})
    assert json.loads(path.read_text()) == {"a": 1.5}
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
