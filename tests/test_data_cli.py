"""`fsmde info` on the real keyframe: text, JSON file, exit codes."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fsmde_gui.cli import main as cli_main

REPO = Path(__file__).resolve().parents[1]


def test_info_subprocess_on_real_keyframe(keyframe_root, tmp_path):
    out = tmp_path / "sub" / "info.json"
    r = subprocess.run([sys.executable, "-m", "fsmde_gui.cli", "info", "--dataset",
                        str(keyframe_root), "--json", str(out)],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    text = r.stdout
    assert "format    nuscenes (v1.0-mini)" in text
    assert "scenes    1" in text and "frames    1" in text
    assert "lidar     34688 points" in text
    assert "gt        depth_sparse, lidar; no boxes" in text
    assert text.count("1600x900") == 6
    assert "1266.42" in text  # CAM_FRONT fx
    info = json.loads(out.read_text())
    assert info["format"] == "nuscenes" and len(info["cameras"]) == 6
    assert not list(out.parent.glob(".info.json.*"))  # atomic write left no temp file


def test_info_image_size_and_bad_size(keyframe_root, capsys):
    assert cli_main(["info", "--dataset", str(keyframe_root), "--image-size", "448x252"]) == 0
    out = capsys.readouterr().out
    assert out.count("448x252") == 6
    assert cli_main(["info", "--dataset", str(keyframe_root), "--image-size", "big"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "WxH" in err[0]


def test_info_missing_folder(tmp_path, capsys):
    assert cli_main(["info", "--dataset", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"fsmde info: error: {tmp_path / 'nope'}: dataset folder does not exist"]
