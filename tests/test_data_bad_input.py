"""Bad input: copies of the real keyframe damaged one way each -> DatasetError naming the file.

Each case is checked through the API (open + describe, as `fsmde info` and the app do) and
through the CLI entry point (exit 2, one line, no traceback); a few also in a subprocess.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from fsmde_gui.cli import main as cli_main
from fsmde_gui.core.errors import DatasetError
from fsmde_gui.data.detect import open_dataset

from _data_helpers import (add_fake_dense_gt, calibrated_sensor_index, file_of, read_table,
                           sample_data_row, table_path, writable_copy, write_table)

REPO = Path(__file__).resolve().parents[1]


def _missing_image(root):
    p = file_of(root, "CAM_FRONT")
    p.unlink()
    return p.name, "missing"


def _row_to_missing_file(root):
    rows = read_table(root, "sample_data")
    tok = sample_data_row(root, "CAM_BACK")["token"]
    for r in rows:
        if r["token"] == tok:
            r["filename"] = "samples/CAM_BACK/not_there.jpg"
    write_table(root, "sample_data", rows)
    return "not_there.jpg", "missing"


def _truncated_table(root):
    p = table_path(root, "sample_data")
    p.write_text(p.read_text()[: len(p.read_text()) // 2])
    return "sample_data.json", "invalid JSON"


def _dict_instead_of_list(root):
    write_table(root, "scene", read_table(root, "scene")[0])
    return "scene.json", "must be a JSON list"


def _missing_field(root):
    rows = read_table(root, "sample_data")
    del rows[2]["ego_pose_token"]
    write_table(root, "sample_data", rows)
    return "sample_data.json", "missing required field 'ego_pose_token'"


def _wrong_field_type(root):
    rows = read_table(root, "ego_pose")
    rows[0]["timestamp"] = "yesterday"
    write_table(root, "ego_pose", rows)
    return "ego_pose.json", "'timestamp' must be integer"


def _missing_table(root):
    table_path(root, "log").unlink()
    return "log.json", "missing"


def _camera_missing_from_sample(root):
    tok = sample_data_row(root, "CAM_BACK_LEFT")["token"]
    write_table(root, "sample_data", [r for r in read_table(root, "sample_data")
                                      if r["token"] != tok])
    return "sample_data.json", "CAM_BACK_LEFT"


def _dangling_token(root):
    rows = read_table(root, "sample_data")
    rows[0]["calibrated_sensor_token"] = "0" * 32
    write_table(root, "sample_data", rows)
    return "sample_data.json", "not in calibrated_sensor.json"


def _calib(mutate):
    def damage(root):
        rows = read_table(root, "calibrated_sensor")
        mutate(rows[calibrated_sensor_index(root, "CAM_FRONT_RIGHT")])
        write_table(root, "calibrated_sensor", rows)
    return damage


def _intrinsic_2x3(root):
    _calib(lambda r: r.update(camera_intrinsic=r["camera_intrinsic"][:2]))(root)
    return "calibrated_sensor.json", "must be 3x3, got 2x3"


def _intrinsic_nan(root):
    _calib(lambda r: r["camera_intrinsic"][0].__setitem__(0, math.nan))(root)
    return "calibrated_sensor.json", "NaN"


def _quaternion_not_unit(root):
    _calib(lambda r: r.update(rotation=[2 * q for q in r["rotation"]]))(root)
    return "calibrated_sensor.json", "not unit"


def _quaternion_zero(root):
    _calib(lambda r: r.update(rotation=[0, 0, 0, 0]))(root)
    return "calibrated_sensor.json", "quaternion is zero"


def _ego_pose_nan(root):
    rows = read_table(root, "ego_pose")
    rows[1]["translation"][0] = math.nan
    write_table(root, "ego_pose", rows)
    return "ego_pose.json", "NaN"


def _jpeg_empty(root):
    p = file_of(root, "CAM_FRONT_LEFT")
    p.write_bytes(b"")
    return p.name, "empty"


def _jpeg_garbage(root):
    p = file_of(root, "CAM_FRONT_LEFT")
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    return p.name, "corrupt image"


def _jpeg_truncated(root):
    p = file_of(root, "CAM_BACK_RIGHT")
    p.write_bytes(p.read_bytes()[:40000])
    return p.name, "truncated JPEG"


def _jpeg_garbage_body(root):
    p = file_of(root, "CAM_BACK")  # valid header, scrambled data, end marker kept
    data = bytearray(p.read_bytes())
    data[600:-2] = np.random.default_rng(1).integers(0, 256, len(data) - 602, np.uint8).tobytes()
    p.write_bytes(bytes(data))
    return p.name, ""


def _image_wrong_size(root):
    p = file_of(root, "CAM_FRONT")
    cv2.imwrite(str(p), np.zeros((450, 800, 3), np.uint8))
    return p.name, "800x450"


def _lidar_truncated(root):
    p = file_of(root, "LIDAR_TOP")
    p.write_bytes(p.read_bytes()[:-7])
    return p.name, "truncated LiDAR"


def _lidar_empty(root):
    p = file_of(root, "LIDAR_TOP")
    p.write_bytes(b"")
    return p.name, "empty"


def _lidar_missing(root):
    p = file_of(root, "LIDAR_TOP")
    p.unlink()
    return p.name, "missing"


def _dense_gt_wrong_size(root):
    add_fake_dense_gt(root)
    img = file_of(root, "CAM_BACK")
    p = root / "depth" / "CAM_BACK" / (img.name.split(".")[0] + ".png")
    cv2.imwrite(str(p), np.zeros((100, 200), np.uint16))
    return p.name, "200x100"


def _dense_gt_missing(root):
    add_fake_dense_gt(root)
    img = file_of(root, "CAM_FRONT")
    p = root / "semantic" / "CAM_FRONT" / (img.name.split(".")[0] + ".png")
    p.unlink()
    return p.name, "missing"


def _classes_bad(root):
    add_fake_dense_gt(root)
    (root / "classes.json").write_text(json.dumps({"names": 3}))
    return "classes.json", "list of class names"


CASES = {f.__name__.lstrip("_"): f for f in (
    _missing_image, _row_to_missing_file, _truncated_table, _dict_instead_of_list,
    _missing_field, _wrong_field_type, _missing_table, _camera_missing_from_sample,
    _dangling_token, _intrinsic_2x3, _intrinsic_nan, _quaternion_not_unit, _quaternion_zero,
    _ego_pose_nan, _jpeg_empty, _jpeg_garbage, _jpeg_truncated, _jpeg_garbage_body,
    _image_wrong_size, _lidar_truncated, _lidar_empty, _lidar_missing, _dense_gt_wrong_size,
    _dense_gt_missing, _classes_bad)}
# problems found when the tables are opened (the rest at frame load / file check)
AT_OPEN = {"truncated_table", "dict_instead_of_list", "missing_field", "wrong_field_type",
           "missing_table", "camera_missing_from_sample", "dangling_token", "intrinsic_2x3",
           "intrinsic_nan", "quaternion_not_unit", "quaternion_zero", "ego_pose_nan",
           "classes_bad"}


@pytest.fixture
def damaged(request, keyframe_root, tmp_path):
    root = writable_copy(keyframe_root, tmp_path / "kf")
    fname, words = CASES[request.param](root)
    return root, fname, words, request.param


@pytest.mark.parametrize("damaged", list(CASES), indirect=True)
def test_damaged_copy_gives_dataset_error(damaged, capsys):
    root, fname, words, case = damaged
    if case in AT_OPEN:
        with pytest.raises(DatasetError) as exc:
            open_dataset(root)
    else:
        ds = open_dataset(root)  # tables fine: opens
        with pytest.raises(DatasetError) as exc:
            ds.describe()
    msg = str(exc.value)
    assert fname in msg and words in msg, msg
    assert exc.value.path and fname in exc.value.path
    # the CLI says the same in one line, exit 2
    capsys.readouterr()
    assert cli_main(["info", "--dataset", str(root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fname in err[0] and err[0].startswith("fsmde info: error:")


@pytest.mark.parametrize("case", ["missing_image", "jpeg_truncated"])
def test_frame_load_raises_for_the_app(case, keyframe_root, tmp_path):
    """Frame-level problems surface at ds.frame() too (no describe needed)."""
    root = writable_copy(keyframe_root, tmp_path / "kf")
    fname, _ = CASES[case](root)
    ds = open_dataset(root)
    with pytest.raises(DatasetError, match=fname.replace("+", r"\+")):
        ds.frame(0, 0)


@pytest.mark.parametrize("case", ["truncated_table", "lidar_truncated", "intrinsic_2x3"])
def test_cli_subprocess_exit_2_no_traceback(case, keyframe_root, tmp_path):
    root = writable_copy(keyframe_root, tmp_path / "kf")
    fname, _ = CASES[case](root)
    r = subprocess.run([sys.executable, "-m", "fsmde_gui.cli", "info", "--dataset", str(root)],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and fname in lines[0]


def test_not_a_dataset(tmp_path):
    (tmp_path / "something.txt").write_text("hello")
    with pytest.raises(DatasetError, match="expected a nuScenes folder"):
        open_dataset(tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        open_dataset(tmp_path / "nope")
    with pytest.raises(DatasetError, match="not a folder"):
        open_dataset(tmp_path / "something.txt")
