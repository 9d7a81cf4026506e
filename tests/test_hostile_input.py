"""Hostile input and faults: the headless app never hangs, a full disk never leaves a truncated
file under its final name, and every bad input is one readable line.

Each case is built on a copy (the real keyframe copied to tmp_path and damaged, the tiny
simulator dataset, tiny random-weight models) and run through the CLI in-process
(``fsmde_gui.cli.main`` with ``capfd``, so C-level noise from open3d or FFmpeg counts too) or,
for the app, as a subprocess under a timeout (a hang fails the test instead of blocking it).
Every error case asserts exit 2, exactly one line on stderr naming the file or option, no
traceback, and that nothing appeared under the final name. Full-disk cases mount a small tmpfs
(only as root where ``mount -t tmpfs`` works; skipped otherwise). Complements
tests/test_data_bad_input.py (damaged datasets through ``fsmde info``).
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest

from fsmde_gui.cli import main as cli_main

from _data_helpers import (CAMS, calibrated_sensor_index, file_of, read_table,
                           sample_data_row, writable_copy, write_table)

REPO = Path(__file__).resolve().parents[1]
APP_TIMEOUT_S = 120  # a hang shows up as a failure, never as a stuck test run
SHIPPED = REPO / "models"  # the shipped checkpoints (teacher_sim.pt, semantic_sim.pt, ...)


# ------------------------------------------------------------------------------ helpers

def shown_lines(err: str) -> list[str]:
    """The non-blank lines a terminal shows for ``err``: a line redrawn with ``\r`` (a
    progress bar, erased when a command fails) shows what was written after the last one."""
    return [shown for ln in err.split("\n") if (shown := ln.split("\r")[-1]).strip()]


def one_error_line(err: str, prefix: str, *words: str) -> str:
    """The single stderr line (prefix + every word in it, no traceback); returns it."""
    assert "Traceback" not in err, err[-3000:]
    lines = shown_lines(err)
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{err[-3000:]}"
    line = lines[0]
    assert line.startswith(prefix), line
    for w in words:
        assert w in line, f"{w!r} not in {line!r}"
    return line


def run_cli(argv: list[str], capfd) -> tuple[int, str, str]:
    capfd.readouterr()
    rc = cli_main([str(a) for a in argv])
    out, err = capfd.readouterr()
    return rc, out, err


def leftovers(folder: Path) -> list[str]:
    """Temp files (``.name.xxxx.tmp``) or temp folders an atomic writer left behind."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.rglob(".*"))


def mount_tmpfs(where: Path, size: str, readonly: bool = False) -> Path:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("tmpfs cases need root and mount(8)")
    where.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if readonly else "")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        pytest.skip(f"mount -t tmpfs does not work here: {r.stderr.strip()}")
    return where


def unmount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)


@pytest.fixture
def small_disk(tmp_path):
    """``small_disk(size)`` -> an empty tmpfs of that size (unmounted after the test)."""
    mounted = []

    def make(size: str = "1m") -> Path:
        where = mount_tmpfs(tmp_path / f"disk{len(mounted)}", size)
        mounted.append(where)
        return where

    yield make
    for where in mounted:
        unmount(where)


def fill(disk: Path, leave_bytes: int = 0) -> None:
    """Fill a tmpfs up to ``leave_bytes`` free (a filler file)."""
    free = shutil.disk_usage(disk).free - leave_bytes
    with open(disk / "filler", "wb") as fh:
        with contextlib.suppress(OSError):
            while free > 0:
                n = min(free, 1 << 20)
                fh.write(b"\0" * n)
                fh.flush()
                free -= n


@pytest.fixture
def readonly_dir(tmp_path):
    """A folder nobody can write to: a read-only tmpfs as root, else mode 0555."""
    where = tmp_path / "readonly"
    if os.geteuid() == 0:
        mount_tmpfs(where, "1m", readonly=True)
        yield where
        unmount(where)
    else:
        where.mkdir()
        where.chmod(0o555)
        yield where
        where.chmod(0o755)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    from app_testing import make_tiny_models

    return make_tiny_models(tmp_path_factory.mktemp("hostile_models"))


@pytest.fixture
def kf_copy(keyframe_root, tmp_path):
    return writable_copy(keyframe_root, tmp_path / "kf")


def evil_checkpoint(path: Path, marker: Path) -> Path:
    """A .pt whose unpickling would run a shell command (it must never run)."""
    import torch

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"format": "fsmde-checkpoint", "version": 1, "payload": Evil()}, path)
    return path



# ------------------------------------------------------------------ damaged datasets
# Each takes a writable copy of a dataset and damages it in place (``c.kf(damage)`` /
# ``c.dgp(damage)`` below make the copy).

def resize_images_keep_intrinsics(root: Path) -> None:
    """The reported case: images resized to 800x450 (and the tables' sizes with them), the
    calibrated_sensor intrinsics still those of the 1600x900 originals."""
    for cam in CAMS:
        p = file_of(root, cam)
        cv2.imwrite(str(p), cv2.resize(cv2.imread(str(p)), (800, 450)))
    rows = read_table(root, "sample_data")
    for r in rows:
        if r["width"]:
            r.update(width=800, height=450)
    write_table(root, "sample_data", rows)


def resize_images_without_stated_size(root: Path) -> None:
    """The same, with tables that state no image size: found when the frame is loaded."""
    resize_images_keep_intrinsics(root)
    rows = read_table(root, "sample_data")
    for r in rows:
        r.update(width=0, height=0)
    write_table(root, "sample_data", rows)


def edit_calibration(channel: str, edit) -> callable:
    def damage(root: Path) -> None:
        rows = read_table(root, "calibrated_sensor")
        edit(rows[calibrated_sensor_index(root, channel)])
        write_table(root, "calibrated_sensor", rows)
    return damage


def edit_sample_data(channel: str, **fields) -> callable:
    def damage(root: Path) -> None:
        token = sample_data_row(root, channel)["token"]
        rows = read_table(root, "sample_data")
        for r in rows:
            if r["token"] == token:
                r.update({k: (v(root) if callable(v) else v) for k, v in fields.items()})
        write_table(root, "sample_data", rows)
    return damage


def edit_table(name: str, edit) -> callable:
    def damage(root: Path) -> None:
        rows = read_table(root, name)
        edit(rows)
        write_table(root, name, rows)
    return damage


def nest_table(name: str, depth: int = 200_000) -> callable:
    def damage(root: Path) -> None:
        (root / "v1.0-mini" / f"{name}.json").write_text("[" * depth + "]" * depth)
    return damage


def no_samples(root: Path) -> None:
    """Tables that are all valid and hold no scene, sample or sample_data at all."""
    for name in ("scene", "sample", "sample_data", "sample_annotation"):
        write_table(root, name, [])


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small valid JPEG whose frame header (SOF0) claims ``width`` x ``height`` pixels."""
    ok, buf = cv2.imencode(".jpg", np.full((16, 16, 3), 128, np.uint8))
    data = bytearray(buf.tobytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def png_claiming(width: int, height: int) -> bytes:
    """A small valid PNG whose IHDR claims ``width`` x ``height`` pixels (CRC kept valid)."""
    import zlib

    ok, buf = cv2.imencode(".png", np.full((16, 16, 3), 128, np.uint8))
    data = bytearray(buf.tobytes())
    data[16:24] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    return bytes(data)


def image_bomb(channel: str, encode) -> callable:
    def damage(root: Path) -> None:
        file_of(root, channel).write_bytes(encode(50000, 50000))
    return damage


def dgp_scene_file(root: Path) -> Path:
    return next(root.glob("*/scene_*.json"))


def edit_json(path: Path, edit) -> None:
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


def edit_dgp_scene(edit) -> callable:
    return lambda root: edit_json(dgp_scene_file(root), edit)


def edit_dgp_calibration(edit) -> callable:
    return lambda root: edit_json(next(root.glob("*/calibration/*.json")), edit)


def first_image_datum(doc: dict) -> dict:
    return next(d["datum"]["image"] for d in doc["data"] if "image" in d["datum"])


def dgp_outside_filename(root: Path) -> None:
    (root.parent / "outside.png").write_bytes(file_of_dgp_image(root).read_bytes())
    edit_dgp_scene(lambda doc: first_image_datum(doc).update(filename="../../outside.png"))(root)


def file_of_dgp_image(root: Path) -> Path:
    doc = json.loads(dgp_scene_file(root).read_text())
    return dgp_scene_file(root).parent / first_image_datum(doc)["filename"]


def dgp_intrinsics_for_double_size(root: Path) -> None:
    """DGP calibration whose intrinsics are those of images twice the size."""
    edit_dgp_calibration(lambda doc: [k.update(cx=2 * k["cx"] + 10, cy=2 * k["cy"] + 10)
                                      for k in doc["intrinsics"] if k.get("fx")])(root)


def dgp_no_samples(root: Path) -> None:
    edit_dgp_scene(lambda doc: doc.update(samples=[]))(root)


# ------------------------------------------------------------------ CLI: one line, exit 2
# Each case: (tmp_path, keyframe, sim, models, ctx) -> (argv, words in the line, paths that
# must not exist afterwards). ``ctx`` gives lazily made hostile things (read-only folder ...).

def _models(models):
    return ["--student", models[0], "--teacher", models[1]]


CLI_CASES = {
    # ---- fsmde info
    "info_json_to_full_device": lambda t, kf, sim, m, c: (
        ["info", "--dataset", kf, "--json", "/dev/full"], ["/dev/full", "No space left"], []),
    "info_json_is_a_folder": lambda t, kf, sim, m, c: (
        ["info", "--dataset", kf, "--json", t], [str(t), "is a folder"], []),
    "info_json_under_a_file": lambda t, kf, sim, m, c: (
        ["info", "--dataset", kf, "--json", c.file / "out.json"], ["file.txt", "Not a directory"],
        [c.file / "out.json"]),
    "info_json_read_only_folder": lambda t, kf, sim, m, c: (
        ["info", "--dataset", kf, "--json", c.readonly / "info.json"],
        ["info.json", c.readonly_words], [c.readonly / "info.json"]),
    "info_huge_image_size": lambda t, kf, sim, m, c: (
        ["info", "--dataset", kf, "--image-size", "100000x100000"], ["--image-size", "8192"], []),
    "info_zero_image_size": lambda t, kf, sim, m, c: (
        ["info", "--dataset", kf, "--image-size", "0x0"], ["--image-size"], []),
    "info_missing_option": lambda t, kf, sim, m, c: (
        ["info"], ["--dataset", "required"], []),
    # ---- fsmde train: options checked at the boundary, before any data or model loads
    "train_set_lr_not_a_number": lambda t, kf, sim, m, c: (
        ["train", "--dataset", sim, "--out", t / "run", "--set", "lr=abc"],
        ["--set lr=abc", "lr must be a number"], [t / "run"]),
    "train_set_steps_fraction": lambda t, kf, sim, m, c: (
        ["train", "--dataset", sim, "--out", t / "run", "--set", "steps=2.5"],
        ["--set steps=2.5", "integer"], [t / "run"]),
    "train_steps_flag_fraction": lambda t, kf, sim, m, c: (
        ["train", "--dataset", sim, "--out", t / "run", "--steps", "2.5"],
        ["--steps", "2.5"], [t / "run"]),
    "train_set_weight_nan": lambda t, kf, sim, m, c: (
        ["train", "--dataset", sim, "--out", t / "run", "--set", "gt_weight=NaN"],
        ["gt_weight", "finite"], [t / "run"]),
    "train_set_lr_infinite": lambda t, kf, sim, m, c: (
        ["train", "--dataset", sim, "--out", t / "run", "--set", "lr=1e400"],
        ["lr", "finite"], [t / "run"]),
    "train_set_lr_negative": lambda t, kf, sim, m, c: (
        ["train", "--dataset", sim, "--out", t / "run", "--set", "lr=-0.1"],
        ["--set lr=-0.1", "> 0"], [t / "run"]),
    "train_set_max_depth_negative": lambda t, kf, sim, m, c: (
        ["train", "--dataset", sim, "--out", t / "run", "--set", "max_depth=-1"],
        ["max_depth", "> 0"], [t / "run"]),
    "train_set_depth_range_inverted": lambda t, kf, sim, m, c: (
        ["train", "--dataset", sim, "--out", t / "run", "--set", "min_depth=50",
         "--set", "max_depth=10"], ["max_depth", "min_depth"], [t / "run"]),
    "train_set_huge_image_size": lambda t, kf, sim, m, c: (
        ["train", "--dataset", sim, "--out", t / "run", "--set", "image_size=[160000,16000]"],
        ["image_size", "4096"], [t / "run"]),
    "train_set_image_size_text": lambda t, kf, sim, m, c: (
        ["train", "--dataset", sim, "--out", t / "run", "--set", "image_size=big"],
        ["image_size", "list"], [t / "run"]),
    "train_set_color_jitter_range": lambda t, kf, sim, m, c: (
        ["train", "--dataset", sim, "--out", t / "run", "--set", "color_jitter=3"],
        ["color_jitter", "[0, 1]"], [t / "run"]),
    "train_set_nested_fraction": lambda t, kf, sim, m, c: (
        ["train", "--dataset", sim, "--out", t / "run", "--set", "student.num_bins=2.5"],
        ["student.num_bins", "integer"], [t / "run"]),
    "train_set_without_value": lambda t, kf, sim, m, c: (
        ["train", "--dataset", sim, "--out", t / "run", "--set", "lr"],
        ["--set", "key=value"], [t / "run"]),
    "train_seed_negative": lambda t, kf, sim, m, c: (
        ["train", "--dataset", sim, "--out", t / "run", "--seed", "-5"],
        ["--seed", ">= 0"], [t / "run"]),
    "train_config_binary": lambda t, kf, sim, m, c: (
        ["train", "--dataset", sim, "--out", t / "run", "--config", c.binary_config],
        ["cfg.yaml", "not a text config"], [t / "run"]),
    "train_config_yaml_syntax": lambda t, kf, sim, m, c: (
        ["train", "--dataset", sim, "--out", t / "run", "--config",
         c.text("bad.yaml", "lr: [1,\n  steps: 3\n")], ["bad.yaml", "cannot parse"], [t / "run"]),
    "train_config_nan_json": lambda t, kf, sim, m, c: (
        ["train", "--dataset", sim, "--out", t / "run", "--config",
         c.text("nan.json", '{"lr": NaN}')], ["nan.json", "lr", "finite"], [t / "run"]),
    "train_config_number_keys": lambda t, kf, sim, m, c: (
        ["train", "--dataset", sim, "--out", t / "run", "--config",
         c.text("keys.yaml", "1: 2\n")], ["keys.yaml", "option names"], [t / "run"]),
    "train_config_list": lambda t, kf, sim, m, c: (
        ["train", "--dataset", sim, "--out", t / "run", "--config",
         c.text("list.yaml", "- 1\n- 2\n")], ["list.yaml", "mapping"], [t / "run"]),
    "train_out_read_only": lambda t, kf, sim, m, c: (
        ["train", "--dataset", sim, "--out", c.readonly / "run", "--steps", "1"],
        ["run", "cannot write the output folder"], [c.readonly / "run"]),
    "train_out_is_a_file": lambda t, kf, sim, m, c: (
        ["train", "--dataset", sim, "--out", c.file, "--steps", "1"],
        ["file.txt", "cannot write the output folder"], []),
    # ---- fsmde eval
    "eval_max_depth_negative": lambda t, kf, sim, m, c: (
        ["eval", "--dataset", kf, "--student", m[0], "--max-depth=-1"], ["--max-depth -1"], []),
    "eval_max_depth_nan": lambda t, kf, sim, m, c: (
        ["eval", "--dataset", kf, "--student", m[0], "--max-depth", "nan"], ["--max-depth"], []),
    "eval_max_frames_negative": lambda t, kf, sim, m, c: (
        ["eval", "--dataset", kf, "--student", m[0], "--max-frames=-3"], ["--max-frames"], []),
    "eval_malicious_checkpoint": lambda t, kf, sim, m, c: (
        ["eval", "--dataset", kf, "--student", c.evil, "--json", t / "eval.json"],
        ["evil.pt", "not a readable PyTorch checkpoint"], [t / "eval.json", c.marker]),
    "eval_checkpoint_is_text": lambda t, kf, sim, m, c: (
        ["eval", "--dataset", kf, "--student", c.text("model.pt", "hello")],
        ["model.pt", "not a readable PyTorch checkpoint"], []),
    # ---- fsmde export
    "export_frame_out_of_range": lambda t, kf, sim, m, c: (
        ["export", "--dataset", kf, "--frame", "999", "--out", t / "out", *_models(m)],
        ["--frame 999", "0..0"], [t / "out"]),
    "export_scene_out_of_range": lambda t, kf, sim, m, c: (
        ["export", "--dataset", kf, "--scene", "7", "--out", t / "out", *_models(m)],
        ["scene 7", "out of range"], [t / "out"]),
    "export_out_is_a_file": lambda t, kf, sim, m, c: (
        ["export", "--dataset", kf, "--out", c.file, *_models(m)],
        ["file.txt", "not a folder"], []),
    "export_fps_zero": lambda t, kf, sim, m, c: (
        ["export", "--dataset", kf, "--all-frames", "--fps", "0", "--out", t / "out"],
        ["--fps 0"], [t / "out"]),
    "export_bad_mode": lambda t, kf, sim, m, c: (
        ["export", "--dataset", kf, "--mode", "xray", "--out", t / "out"],
        ["--mode", "xray"], [t / "out"]),
    "export_read_only_folder": lambda t, kf, sim, m, c: (
        ["export", "--dataset", sim, "--out", c.readonly, *_models(m)],
        [str(c.readonly), c.readonly_words], []),
    # ---- fsmde generate / convert
    "generate_huge_width": lambda t, kf, sim, m, c: (
        ["generate", "--out", t / "gen", "--preset", "tiny", "--width", "100000"],
        ["--width 100000"], [t / "gen"]),
    "generate_seed_out_of_range": lambda t, kf, sim, m, c: (
        ["generate", "--out", t / "gen", "--preset", "tiny", "--seed", "5000"],
        ["--seed 5000", "between 0 and 999"], [t / "gen"]),
    "generate_out_is_a_file": lambda t, kf, sim, m, c: (
        ["generate", "--out", c.file, "--preset", "tiny", "--quiet"],
        ["file.txt", "not a folder"], []),
    "generate_read_only_folder": lambda t, kf, sim, m, c: (
        ["generate", "--out", c.readonly / "gen", "--preset", "tiny", "--quiet"],
        ["gen", c.readonly_words], [c.readonly / "gen"]),
    "convert_read_only_folder": lambda t, kf, sim, m, c: (
        ["convert", "--dataset", kf, "--to", "dgp", "--out", c.readonly / "dgp"],
        ["readonly", c.readonly_words], [c.readonly / "dgp"]),
    "convert_huge_image_size": lambda t, kf, sim, m, c: (
        ["convert", "--dataset", kf, "--to", "dgp", "--out", t / "dgp", "--image-size",
         "99999x99999"], ["--image-size"], [t / "dgp"]),
    # ---- intrinsics that do not fit the images, numbers that are not numbers (item 1)
    "info_intrinsics_for_other_image_size": lambda t, kf, sim, m, c: (
        ["info", "--dataset", c.kf(resize_images_keep_intrinsics)],
        ["calibrated_sensor.json", "800x450", "principal point", "outside"], []),
    "eval_intrinsics_for_other_image_size": lambda t, kf, sim, m, c: (
        ["eval", "--dataset", c.kf(resize_images_keep_intrinsics), "--student", m[0]],
        ["calibrated_sensor.json", "800x450", "principal point"], []),
    "export_intrinsics_for_other_size_no_stated_size": lambda t, kf, sim, m, c: (
        ["export", "--dataset", c.kf(resize_images_without_stated_size), "--out", t / "out",
         *_models(m)], ["calibrated_sensor.json", "800x450", "principal point"], [t / "out"]),
    "info_focal_length_implausible": lambda t, kf, sim, m, c: (
        ["info", "--dataset", c.kf(edit_calibration(
            "CAM_FRONT", lambda r: r["camera_intrinsic"][0].__setitem__(0, 3.0)))],
        ["calibrated_sensor.json", "CAM_FRONT", "fx=3", "1600x900"], []),
    "info_principal_point_negative": lambda t, kf, sim, m, c: (
        ["info", "--dataset", c.kf(edit_calibration(
            "CAM_BACK", lambda r: r["camera_intrinsic"][1].__setitem__(2, -40.0)))],
        ["calibrated_sensor.json", "CAM_BACK", "principal point"], []),
    "info_intrinsic_as_text": lambda t, kf, sim, m, c: (
        ["info", "--dataset", c.kf(edit_calibration(
            "CAM_FRONT", lambda r: r["camera_intrinsic"][0].__setitem__(0, "1266.4")))],
        ["calibrated_sensor.json", "camera_intrinsic", "numbers"], []),
    "info_translation_as_text": lambda t, kf, sim, m, c: (
        ["info", "--dataset", c.kf(edit_calibration(
            "CAM_FRONT", lambda r: r.update(translation=["1.7", "0.0", "1.5"])))],
        ["calibrated_sensor.json", "translation", "3 numbers"], []),
    "info_rotation_of_booleans": lambda t, kf, sim, m, c: (
        ["info", "--dataset", c.kf(edit_table(
            "ego_pose", lambda rows: rows[0].update(rotation=[True, False, False, False])))],
        ["ego_pose.json", "rotation quaternion", "4 numbers"], []),
    "info_timestamp_boolean": lambda t, kf, sim, m, c: (
        ["info", "--dataset", c.kf(edit_table(
            "ego_pose", lambda rows: rows[0].update(timestamp=True)))],
        ["ego_pose.json", "'timestamp' must be integer", "boolean"], []),
    "info_image_width_text": lambda t, kf, sim, m, c: (
        ["info", "--dataset", c.kf(edit_sample_data("CAM_FRONT", width="1600"))],
        ["sample_data.json", "'width'", "non-negative integer"], []),
    "info_dgp_intrinsics_for_double_size": lambda t, kf, sim, m, c: (
        ["info", "--dataset", c.dgp(dgp_intrinsics_for_double_size)],
        ["calibration", "principal point", "1600x900"], []),
    "info_dgp_timestamp_seconds_text": lambda t, kf, sim, m, c: (
        ["info", "--dataset", c.dgp(edit_dgp_scene(lambda doc: next(
            d for d in doc["data"] if "image" in d["datum"])["id"].update(
                timestamp={"seconds": "soon", "nanos": 0})))],
        ["scene_", "timestamp", "integers"], []),
    # ---- file references confined to the dataset folder (item 2)
    "info_filename_outside_root": lambda t, kf, sim, m, c: (
        ["info", "--dataset", c.kf(edit_sample_data("CAM_FRONT", filename="../outside.jpg"))],
        ["sample_data.json", "'../outside.jpg'", "outside the dataset folder"], []),
    "info_filename_absolute": lambda t, kf, sim, m, c: (
        ["info", "--dataset", c.kf(edit_sample_data(
            "CAM_FRONT", filename=lambda root: str(file_of(root, "CAM_FRONT").resolve())))],
        ["sample_data.json", "absolute path"], []),
    "convert_filename_outside_root": lambda t, kf, sim, m, c: (
        ["convert", "--dataset", c.kf(edit_sample_data(
            "LIDAR_TOP", filename="samples/../../outside.pcd.bin")), "--to", "dgp",
         "--out", t / "dgp"],
        ["sample_data.json", "samples/../../outside.pcd.bin", "outside the dataset folder"],
        [t / "dgp"]),
    "convert_filename_absolute": lambda t, kf, sim, m, c: (
        ["convert", "--dataset", c.kf(edit_sample_data("CAM_BACK", filename="/etc/hostname")),
         "--to", "dgp", "--out", t / "dgp"], ["sample_data.json", "/etc/hostname", "absolute"],
        [t / "dgp"]),
    "info_dgp_filename_outside_root": lambda t, kf, sim, m, c: (
        ["info", "--dataset", c.dgp(dgp_outside_filename)],
        ["scene_", "../../outside.png", "outside the dataset folder"], []),
    "eval_dgp_filename_absolute": lambda t, kf, sim, m, c: (
        ["eval", "--dataset", c.dgp(edit_dgp_scene(lambda doc: first_image_datum(doc).update(
            filename="/etc/hostname"))), "--student", m[0]],
        ["scene_", "/etc/hostname", "absolute"], []),
    "info_dgp_calibration_key_outside": lambda t, kf, sim, m, c: (
        ["info", "--dataset", c.dgp(edit_dgp_scene(lambda doc: doc["samples"][0].update(
            calibration_key="../../../elsewhere")))],
        ["scene_", "calibration_key", "outside the dataset folder"], []),
    "info_dgp_calibration_key_absolute": lambda t, kf, sim, m, c: (
        ["info", "--dataset", c.dgp(edit_dgp_scene(lambda doc: doc["samples"][0].update(
            calibration_key="/etc/elsewhere")))],
        ["scene_", "calibration_key", "'/etc/elsewhere'", "absolute"], []),
    # ---- sizes capped before decoding, nesting capped before parsing (item 3)
    "info_jpeg_header_50000_squared": lambda t, kf, sim, m, c: (
        ["info", "--dataset", c.kf(image_bomb("CAM_FRONT", jpeg_claiming))],
        [".jpg", "50000x50000", "not decoded"], []),
    "export_jpeg_header_50000_squared": lambda t, kf, sim, m, c: (
        ["export", "--dataset", c.kf(image_bomb("CAM_BACK_LEFT", jpeg_claiming)),
         "--out", t / "out", *_models(m)], ["CAM_BACK_LEFT", "50000x50000", "not decoded"],
        [t / "out"]),
    "eval_png_header_50000_squared": lambda t, kf, sim, m, c: (
        ["eval", "--dataset", c.kf(image_bomb("CAM_FRONT_RIGHT", png_claiming)),
         "--student", m[0]], ["CAM_FRONT_RIGHT", "50000x50000", "not decoded"], []),
    "info_table_nested_200000_deep": lambda t, kf, sim, m, c: (
        ["info", "--dataset", c.kf(nest_table("sample"))],
        ["sample.json", "nested too deeply"], []),
    "eval_table_nested_200000_deep": lambda t, kf, sim, m, c: (
        ["eval", "--dataset", c.kf(nest_table("calibrated_sensor")), "--student", m[0]],
        ["calibrated_sensor.json", "nested too deeply"], []),
    "info_dgp_scene_nested_200000_deep": lambda t, kf, sim, m, c: (
        ["info", "--dataset", c.dgp(lambda root: dgp_scene_file(root).write_text(
            '{"a":' * 200_000 + "1" + "}" * 200_000))],
        ["scene_", "nested too deeply"], []),
    "train_set_nested_200000_deep": lambda t, kf, sim, m, c: (
        ["train", "--dataset", sim, "--out", t / "run", "--set",
         "lr=" + "[" * 200_000 + "]" * 200_000], ["--set", "nested too deeply"], [t / "run"]),
    # ---- datasets with no sample (item 4)
    "info_no_samples": lambda t, kf, sim, m, c: (
        ["info", "--dataset", c.kf(no_samples)], ["kf", "no samples", "0 frames"], []),
    "eval_no_samples": lambda t, kf, sim, m, c: (
        ["eval", "--dataset", c.kf(no_samples), "--student", m[0], "--json", t / "e.json"],
        ["kf", "no samples"], [t / "e.json"]),
    "export_no_samples": lambda t, kf, sim, m, c: (
        ["export", "--dataset", c.kf(no_samples), "--out", t / "out", *_models(m)],
        ["kf", "no samples"], [t / "out"]),
    "train_no_samples": lambda t, kf, sim, m, c: (
        ["train", "--dataset", c.kf(no_samples), "--out", t / "run", "--steps", "1"],
        ["kf", "no samples"], [t / "run"]),  # --out checked writable first, removed again
    "convert_no_samples": lambda t, kf, sim, m, c: (
        ["convert", "--dataset", c.kf(no_samples), "--to", "dgp", "--out", t / "dgp"],
        ["kf", "no samples"], [t / "dgp"]),
    "eval_dgp_no_samples": lambda t, kf, sim, m, c: (
        ["eval", "--dataset", c.dgp(dgp_no_samples), "--student", m[0]],
        ["dgp", "no samples"], []),
    # ---- checkpoints of the wrong kind, refused by role (item 5)
    "eval_teacher_as_student": lambda t, kf, sim, m, c: (
        ["eval", "--dataset", kf, "--student", SHIPPED / "teacher_sim.pt", "--json",
         t / "e.json"], ["teacher_sim.pt", "is a teacher (arch teacher_sim", "GT-aligned",
                         "not a student", "--teacher"], [t / "e.json"]),
    "eval_teacher_name_as_student": lambda t, kf, sim, m, c: (
        ["eval", "--dataset", kf, "--student", "teacher_sim"],
        ["teacher_sim.pt", "is a teacher", "not a student"], []),
    "eval_semantic_as_teacher": lambda t, kf, sim, m, c: (
        ["eval", "--dataset", kf, "--teacher", SHIPPED / "semantic_sim.pt"],
        ["semantic_sim.pt", "semantic net (arch semantic_sim", "not a teacher"], []),
    "eval_student_as_teacher": lambda t, kf, sim, m, c: (
        ["eval", "--dataset", kf, "--student", m[0], "--teacher", m[0], "--json", t / "e.json"],
        ["student_tiny.pt", "is a student", "not a teacher", "--student"], [t / "e.json"]),
    "export_teacher_as_student": lambda t, kf, sim, m, c: (
        ["export", "--dataset", kf, "--out", t / "out", "--student", m[1], "--teacher", m[1]],
        ["--student", "teacher_tiny.pt", "is a teacher", "not a student"], [t / "out"]),
    "export_semantic_as_teacher": lambda t, kf, sim, m, c: (
        ["export", "--dataset", kf, "--out", t / "out", "--student", m[0], "--teacher",
         SHIPPED / "semantic_sim.pt"], ["--teacher", "semantic_sim.pt", "not a teacher"],
        [t / "out"]),
    "export_missing_student": lambda t, kf, sim, m, c: (
        ["export", "--dataset", kf, "--out", t / "out", "--student", t / "nope.pt",
         "--teacher", m[1]], ["--student", "nope.pt", "not found"], [t / "out"]),
    "export_model_teacher_as_student": lambda t, kf, sim, m, c: (
        ["export-model", "--student", SHIPPED / "teacher_sim.pt", "--out", t / "t.onnx"],
        ["teacher_sim.pt", "is a teacher", "not a student"], [t / "t.onnx"]),
    "export_model_semantic_as_student": lambda t, kf, sim, m, c: (
        ["export-model", "--student", "semantic_sim", "--out", t / "s.onnx"],
        ["semantic_sim.pt", "semantic net", "not a student"], [t / "s.onnx"]),
    "bench_speed_teacher_as_student": lambda t, kf, sim, m, c: (
        ["bench", "speed", "--student", m[1], "--json", t / "speed.json"],
        ["teacher_tiny.pt", "is a teacher", "not a student"], [t / "speed.json"]),
    # ---- out-of-range counts and values (item 6)
    "eval_max_depth_zero": lambda t, kf, sim, m, c: (
        ["eval", "--dataset", kf, "--student", m[0], "--max-depth", "0"], ["--max-depth 0"], []),
    "eval_max_depth_infinite": lambda t, kf, sim, m, c: (
        ["eval", "--dataset", kf, "--student", m[0], "--max-depth", "inf"], ["--max-depth"], []),
    "eval_frame_stride_zero": lambda t, kf, sim, m, c: (
        ["eval", "--dataset", kf, "--student", m[0], "--frame-stride", "0"],
        ["--frame-stride", ">= 1"], []),
    "export_frame_negative": lambda t, kf, sim, m, c: (
        ["export", "--dataset", kf, "--frame=-1", "--out", t / "out", *_models(m)],
        ["--frame -1", "0..0"], [t / "out"]),
    "generate_zero_frames": lambda t, kf, sim, m, c: (
        ["generate", "--out", t / "gen", "--preset", "tiny", "--frames", "0"],
        ["--frames 0", "between 1"], [t / "gen"]),
    "generate_negative_scenes": lambda t, kf, sim, m, c: (
        ["generate", "--out", t / "gen", "--preset", "tiny", "--scenes=-2"],
        ["--scenes -2", "between 1"], [t / "gen"]),
    "train_steps_zero": lambda t, kf, sim, m, c: (
        ["train", "--dataset", sim, "--out", t / "run", "--steps", "0"],
        ["--steps", ">= 1"], [t / "run"]),
    "models_steps_scale_zero": lambda t, kf, sim, m, c: (
        ["models", "--out", t / "models", "--only", "student_kd", "--steps-scale", "0"],
        ["--steps-scale 0", "0 < scale"], [t / "models"]),
    "models_steps_scale_nan": lambda t, kf, sim, m, c: (
        ["models", "--out", t / "models", "--steps-scale", "nan"],
        ["--steps-scale nan"], [t / "models"]),
    "models_unknown_name": lambda t, kf, sim, m, c: (
        ["models", "--out", t / "models", "--only", "nosuch"],
        ["unknown model", "nosuch"], [t / "models"]),
    "unknown_command": lambda t, kf, sim, m, c: (["fly"], ["invalid choice", "fly"], []),
}


COMMAND_NAMES = ("info", "train", "eval", "export", "generate", "convert", "export-model",
                 "bench", "models")


@pytest.fixture(scope="module")
def keyframe_dgp(keyframe_root, tmp_path_factory) -> Path:
    """The real keyframe written as a DGP (DDAD) folder, read only by the cases (copied)."""
    from fsmde_gui.data.detect import open_dataset
    from fsmde_gui.data.dgp_writer import write_dgp

    out = tmp_path_factory.mktemp("hostile_dgp") / "dgp"
    write_dgp(open_dataset(keyframe_root), out)
    return out


class _Ctx:
    """Hostile things a case asks for, made on first use."""

    def __init__(self, tmp_path: Path, request):
        self.tmp = tmp_path
        self.request = request

    @property
    def file(self) -> Path:
        p = self.tmp / "file.txt"
        p.write_text("a plain file\n")
        return p

    @property
    def readonly(self) -> Path:
        return self.request.getfixturevalue("readonly_dir")

    @property
    def readonly_words(self) -> str:
        return "Read-only file system" if os.geteuid() == 0 else "Permission denied"

    @property
    def binary_config(self) -> Path:
        p = self.tmp / "cfg.yaml"
        p.write_bytes(bytes(range(256)) * 8)
        return p

    @property
    def marker(self) -> Path:
        return self.tmp / "pwned"

    @property
    def evil(self) -> Path:
        return evil_checkpoint(self.tmp / "evil.pt", self.marker)

    def text(self, name: str, content: str) -> Path:
        p = self.tmp / name
        p.write_text(content)
        return p

    def kf(self, damage) -> Path:
        """A writable copy of the real keyframe (``tmp/kf``), damaged by ``damage(root)``."""
        root = writable_copy(self.request.getfixturevalue("keyframe_root"), self.tmp / "kf")
        damage(root)
        return root

    def dgp(self, damage) -> Path:
        """A writable copy of the keyframe converted to DGP (``tmp/dgp_src/dgp``), damaged."""
        root = writable_copy(self.request.getfixturevalue("keyframe_dgp"),
                             self.tmp / "dgp_src" / "dgp")
        damage(root)
        return root


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_cli_bad_input_is_one_line(case, tmp_path, request, keyframe_root, tiny_sim_root,
                                   tiny_models, capfd):
    if case == "info_json_to_full_device" and not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    ctx = _Ctx(tmp_path, request)
    argv, words, absent = CLI_CASES[case](tmp_path, keyframe_root, tiny_sim_root, tiny_models, ctx)
    rc, _, err = run_cli(argv, capfd)
    assert rc == 2, err[-3000:]
    cmd = argv[0] if argv[0] in COMMAND_NAMES else ""
    one_error_line(err, f"fsmde {cmd}: error:" if cmd else "fsmde: error:", *map(str, words))
    for p in absent:
        assert not Path(p).exists(), f"{p} appeared"
    assert not leftovers(tmp_path / "readonly") and not any(
        ".tmp" in n for n in leftovers(tmp_path))


def test_unexpected_error_is_one_line_with_debug_hint(keyframe_root, monkeypatch, capfd):
    import fsmde_gui.commands.info as info

    def boom(_info):
        raise RuntimeError("internal\nbreakage")

    monkeypatch.setattr(info, "format_info", boom)
    monkeypatch.delenv("FSMDE_DEBUG", raising=False)
    rc, _, err = run_cli(["info", "--dataset", keyframe_root], capfd)
    assert rc == 2
    one_error_line(err, "fsmde info: error:", "unexpected RuntimeError", "internal breakage",
                   "FSMDE_DEBUG=1")
    monkeypatch.setenv("FSMDE_DEBUG", "1")  # the traceback on request, then the same line
    rc, _, err = run_cli(["info", "--dataset", keyframe_root], capfd)
    assert rc == 2 and "Traceback" in err and err.strip().splitlines()[-1].startswith(
        "fsmde info: error: unexpected RuntimeError")


def test_malicious_checkpoint_never_runs_and_message_has_no_torch_advice(tmp_path):
    from fsmde_gui.core.errors import CheckpointError
    from fsmde_gui.models.checkpoint import read_checkpoint

    marker = tmp_path / "pwned"
    with pytest.raises(CheckpointError) as exc:
        read_checkpoint(evil_checkpoint(tmp_path / "evil.pt", marker))
    msg = str(exc.value)
    assert "weights_only" not in msg and "will likely succeed" not in msg, msg
    assert "\n" not in msg and "evil.pt" in msg
    assert not marker.exists()



@pytest.mark.parametrize("encode", [jpeg_claiming, png_claiming])
def test_image_bomb_is_refused_before_any_decoding(encode, tmp_path, monkeypatch):
    """A header claiming 50000x50000 pixels never reaches a decoder (which would allocate
    7.5 GB): every reader refuses it from the header bytes alone."""
    from fsmde_gui.core.errors import DatasetError
    from fsmde_gui.data import images

    def decoder_called(*args, **kwargs):
        raise AssertionError("the image was handed to a decoder")

    monkeypatch.setattr(images, "_decode_rgb", decoder_called)
    monkeypatch.setattr(images.cv2, "imdecode", decoder_called)
    monkeypatch.setattr(images.Image, "open", decoder_called)
    bomb = tmp_path / "bomb.img"
    bomb.write_bytes(encode(50000, 50000))
    readers = [images.load_image, images.image_size_from_header]
    if encode is png_claiming:
        readers.append(lambda p: images.load_png_raster(p, (16, 16), "depth GT"))
    for read in readers:
        with pytest.raises(DatasetError, match=r"bomb\.img: .*50000x50000 pixels.*not decoded"):
            read(bomb)
    fine = tmp_path / "fine.img"
    fine.write_bytes(encode(16, 16))
    assert images.image_size_from_header(fine) == (16, 16)


def run_cli_process(argv: list, timeout: int = APP_TIMEOUT_S) -> subprocess.CompletedProcess:
    """``fsmde ...`` in a fresh interpreter with Python's default warning filters (pytest's
    own capture of warnings would hide the ones the user sees)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS", "FSMDE_DEBUG")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run([sys.executable, "-m", "fsmde_gui.cli", *map(str, argv)],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)


NOISE = ("warning", "corrupt jpeg", "libjpeg", "libpng", "premature end", "extraneous bytes")


def _body_bytes_scrambled(root: Path) -> None:
    """A JPEG whose entropy-coded data is damaged after its headers: it still decodes (with
    wrong pixels), and libjpeg reports 'Corrupt JPEG data: premature end of data segment'."""
    p = file_of(root, "CAM_BACK")
    data = bytearray(p.read_bytes())
    data[20000:20400] = np.random.default_rng(1).integers(0, 256, 400, np.uint8).tobytes()
    p.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [None, _body_bytes_scrambled], ids=["real", "corrupt_body"])
def test_no_warnings_reach_stderr_on_real_frames(damage, keyframe_root, tiny_models, tmp_path):
    """The real keyframe (and a copy with a damaged but decodable JPEG body) through eval and
    export: nothing from libjpeg or numpy's RuntimeWarnings on stderr."""
    root = writable_copy(keyframe_root, tmp_path / "kf")
    if damage is not None:
        damage(root)
    r = run_cli_process(["eval", "--dataset", root, *_models(tiny_models), "--no-progress",
                         "--json", tmp_path / "eval.json"])
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stderr == "", r.stderr[-3000:]
    assert json.loads((tmp_path / "eval.json").read_text())["frames"] == 1
    r = run_cli_process(["export", "--dataset", root, "--out", tmp_path / "out",
                         *_models(tiny_models)])
    assert r.returncode == 0, r.stderr[-3000:]
    noisy = [ln for ln in r.stderr.splitlines() if any(w in ln.lower() for w in NOISE)]
    assert not noisy, r.stderr[-3000:]

# ------------------------------------------------------------------ atomic writes
@pytest.fixture
def umask():
    old = os.umask(0o022)
    os.umask(old)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(old)


@pytest.mark.parametrize("mask", [0o002, 0o022, 0o027, 0o077])
def test_new_files_follow_umask_existing_keep_mode(mask, umask, tmp_path):
    from fsmde_gui.core.atomic_io import atomic_write_bytes, atomic_write_json

    umask(mask)
    p = atomic_write_json(tmp_path / "new.json", {"a": 1})
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask
    old = tmp_path / "old.bin"
    old.write_bytes(b"old")
    old.chmod(0o640)
    atomic_write_bytes(old, b"new")
    assert old.read_bytes() == b"new" and stat.S_IMODE(old.stat().st_mode) == 0o640


def test_symlink_is_written_through(tmp_path):
    from fsmde_gui.core.atomic_io import atomic_write_bytes

    real_dir = tmp_path / "real"
    real_dir.mkdir()
    real = real_dir / "data.bin"
    real.write_bytes(b"old")
    real.chmod(0o600)
    link = tmp_path / "link.bin"
    link.symlink_to(os.path.relpath(real, tmp_path))
    chain = tmp_path / "chain.bin"
    chain.symlink_to(link.name)
    atomic_write_bytes(chain, b"new")
    assert link.is_symlink() and chain.is_symlink(), "a link was replaced by a file"
    assert real.read_bytes() == b"new" and stat.S_IMODE(real.stat().st_mode) == 0o600
    assert not leftovers(tmp_path)
    dangling = tmp_path / "dangling.bin"
    dangling.symlink_to("real/created.bin")
    atomic_write_bytes(dangling, b"x")
    assert dangling.is_symlink() and (real_dir / "created.bin").read_bytes() == b"x"


def test_writer_sees_the_temp_path_beside_the_real_file(tmp_path):
    from fsmde_gui.core.atomic_io import atomic_write

    (tmp_path / "real").mkdir()
    (tmp_path / "link.onnx").symlink_to("real/model.onnx")
    seen = []

    def write(fh):
        fh.write(b"graph")
        fh.flush()
        seen.append(Path(fh.name))
        assert Path(fh.name).read_bytes() == b"graph"  # a checker may reopen it by name

    atomic_write(tmp_path / "link.onnx", write)
    assert seen[0].parent == tmp_path / "real" and not seen[0].exists()
    assert (tmp_path / "real" / "model.onnx").read_bytes() == b"graph"


def test_device_nodes_are_written_through():
    from fsmde_gui.core.atomic_io import atomic_path, atomic_write_bytes

    if not os.access("/dev/null", os.W_OK):
        pytest.skip("no writable /dev/null")
    atomic_write_bytes("/dev/null", b"discarded")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    with atomic_path("/dev/null", ".png") as p:
        assert p == "/dev/null"
    if os.path.exists("/dev/full"):
        with pytest.raises(OSError) as exc:
            atomic_write_bytes("/dev/full", b"x" * 100000)
        assert exc.value.errno == errno.ENOSPC and exc.value.filename == "/dev/full"
        assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_folder_at_target_and_errors_name_the_target(tmp_path, readonly_dir):
    from fsmde_gui.core.atomic_io import atomic_path, atomic_write_bytes

    (tmp_path / "d").mkdir()
    with pytest.raises(IsADirectoryError) as exc:
        atomic_write_bytes(tmp_path / "d", b"x")
    assert exc.value.filename == str(tmp_path / "d") and (tmp_path / "d").is_dir()
    with pytest.raises(OSError) as exc:  # the temp file cannot be made: named as the target
        atomic_write_bytes(readonly_dir / "x.bin", b"x")
    assert exc.value.filename == str(readonly_dir / "x.bin")
    with pytest.raises(RuntimeError):  # a failing body: nothing under the name, no temp left
        with atomic_path(tmp_path / "p.ply", ".ply") as tmp:
            Path(tmp).write_bytes(b"half")
            raise RuntimeError("writer failed")
    assert not (tmp_path / "p.ply").exists() and not leftovers(tmp_path)


# ------------------------------------------------------------------ full disk (tmpfs)
def test_full_disk_atomic_write_keeps_old_file(small_disk):
    from fsmde_gui.core.atomic_io import atomic_write_bytes

    disk = small_disk("256k")
    atomic_write_bytes(disk / "state.bin", b"good")
    with pytest.raises(OSError) as exc:
        atomic_write_bytes(disk / "state.bin", b"x" * 400_000)
    assert exc.value.errno == errno.ENOSPC and exc.value.filename == str(disk / "state.bin")
    with pytest.raises(OSError):
        atomic_write_bytes(disk / "new.bin", b"x" * 400_000)
    assert (disk / "state.bin").read_bytes() == b"good" and not (disk / "new.bin").exists()
    assert not leftovers(disk)


def test_full_disk_ply_leaves_nothing(small_disk):
    from fsmde_gui.core.errors import FsmdeError
    from fsmde_gui.core.fusion import PointCloud, write_ply

    disk = small_disk("256k")
    n = 40_000  # 800 kB of points
    rng = np.random.default_rng(0)
    cloud = PointCloud(rng.normal(size=(n, 3)).astype(np.float32), rng.random((n, 3)),
                       rng.integers(0, 6, n), rng.uniform(1, 80, n))
    with pytest.raises(FsmdeError, match=r"cloud\.ply: cannot write point cloud: No space"):
        write_ply(disk / "cloud.ply", cloud)
    assert list(disk.iterdir()) == []


def test_full_disk_info_json(small_disk, keyframe_root, capfd):
    disk = small_disk("64k")
    fill(disk)
    rc, _, err = run_cli(["info", "--dataset", keyframe_root, "--json", disk / "info.json"], capfd)
    assert rc == 2
    one_error_line(err, "fsmde info: error:", "info.json", "No space left on device")
    assert not (disk / "info.json").exists() and not leftovers(disk)


def _whole(path: Path) -> bool:
    """A written export file is complete (what a reader of that format would check)."""
    if path.suffix == ".png":
        return cv2.imread(str(path), cv2.IMREAD_UNCHANGED) is not None
    if path.suffix == ".json":
        json.loads(path.read_text())
        return True
    if path.suffix == ".ply":
        data = path.read_bytes()
        head, _, body = data.partition(b"end_header\n")
        n = int(head.split(b"element vertex ")[1].split(b"\n")[0])
        return len(body) == 20 * n
    if path.suffix == ".mp4":
        from fsmde_gui.export.sequence_export import check_mp4

        check_mp4(str(path), int(cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FRAME_COUNT)),
                  path)
        return True
    return True


def test_full_disk_frame_export_of_the_real_keyframe(small_disk, keyframe_root, tiny_models,
                                                      capfd):
    """The reported case: PNG and JSON fit, the first PLY does not (open3d's RPly used to
    print 'Failed writing' and report success, leaving a truncated PLY, exit 0)."""
    disk = small_disk("1m")
    out = disk / "out"
    rc, _, err = run_cli(["export", "--dataset", keyframe_root, "--out", out,
                          *_models(tiny_models)], capfd)
    assert rc == 2, err[-2000:]
    one_error_line(err, "fsmde export: error:", ".ply", "No space left on device")
    assert "RPly" not in err
    written = sorted(out.iterdir())
    assert not any(p.name.startswith(".") for p in written), written
    assert all(_whole(p) for p in written)
    assert not any(p.suffix == ".ply" for p in written)


def test_full_disk_scene_export(small_disk, tiny_sim_root, tiny_models, tmp_path, capfd):
    """The reported case: the PNG sequence fits, the MP4 does not (OpenCV's writer reports
    nothing, FFmpeg writes no index at release): exit 2 naming the MP4, no MP4 kept."""
    # the disk holds the 3 composite PNGs (~440 kB) + half the video, whichever codec this
    # OpenCV picks (VP9 ~40 kB, mp4v ~110 kB): sized from an export to a roomy folder
    ref = tmp_path / "ref"
    assert run_cli(["export", "--dataset", tiny_sim_root, "--all-frames", "--out", ref,
                    *_models(tiny_models)], capfd)[0] == 0
    pages = lambda n: -(-n // 4096)  # noqa: E731  (tmpfs counts whole pages)
    sizes = {p.suffix: 0 for p in ref.iterdir()}
    for p in ref.iterdir():
        sizes[p.suffix] += pages(p.stat().st_size)
    disk = small_disk(f"{4 * (sizes['.png'] + sizes['.mp4'] // 2)}k")
    out = disk / "seq"
    rc, _, err = run_cli(["export", "--dataset", tiny_sim_root, "--all-frames", "--out", out,
                          *_models(tiny_models)], capfd)
    assert rc == 2, err[-2000:]
    line = one_error_line(err, "fsmde export: error:")
    written = sorted(out.iterdir())
    assert not any(p.name.startswith(".") for p in written), written
    assert all(_whole(p) for p in written)
    assert not any(p.suffix == ".mp4" for p in written)
    if len(written) == 3:  # every PNG fitted: the video is what failed
        assert ".mp4" in line and "not written completely" in line, line
    else:
        assert "No space left on device" in line, line


def test_full_disk_video_is_detected_silently(small_disk, capfd):
    """OpenCV's writer reports nothing when the disk fills: the MP4 has no index (moov)."""
    from fsmde_gui.export.frame_export import ExportError
    from fsmde_gui.export.sequence_export import check_mp4

    disk = small_disk("256k")
    path = disk / "v.mp4"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 5.0, (320, 240))
    rng = np.random.default_rng(0)
    for _ in range(12):
        w.write(rng.integers(0, 255, (240, 320, 3), np.uint8))
    w.release()
    capfd.readouterr()
    with pytest.raises(ExportError, match="not written completely"):
        check_mp4(str(path), 12, path)
    assert capfd.readouterr().err == ""  # no FFmpeg noise


def test_truncated_video_is_not_kept(tiny_sim_root, tiny_models, tmp_path, monkeypatch):
    """A writer that loses the end of the file (a full disk at release) -> ExportError naming
    the MP4, nothing under its name, no temp file; the PNGs written so far are whole."""
    import fsmde_gui.export.sequence_export as seq
    from fsmde_gui.app_model.session import Session
    from fsmde_gui.export.frame_export import ExportError

    real = cv2.VideoWriter

    class LosingWriter:
        def __init__(self, path, *a):
            self.path, self.w = path, real(path, *a)

        def isOpened(self):  # noqa: N802
            return self.w.isOpened()

        def write(self, img):
            self.w.write(img)

        def release(self):
            if self.w is not None:
                self.w.release()
                self.w = None
                with open(self.path, "r+b") as fh:
                    fh.truncate(os.path.getsize(self.path) // 2)

    monkeypatch.setattr(seq.cv2, "VideoWriter", LosingWriter)
    session = Session(student=tiny_models[0], teacher=tiny_models[1])
    session.open(tiny_sim_root)
    out = tmp_path / "seq"
    with pytest.raises(ExportError, match=r"\.mp4"):
        seq.export_sequence(session, 0, out, "rgb", frames=[0, 1])
    assert not list(out.glob("*.mp4")) and not leftovers(out)
    assert len(list(out.glob("*.png"))) == 2 and all(_whole(p) for p in out.glob("*.png"))


def test_full_disk_train_stops_before_any_step(small_disk, tiny_sim_root, capfd):
    from app_testing import TINY_STUDENT_OPTIONS

    disk = small_disk("64k")
    fill(disk)
    sets = [a for o in TINY_STUDENT_OPTIONS for a in ("--set", o)]
    rc, _, err = run_cli(["train", "--dataset", tiny_sim_root, "--out", disk / "run", "--steps", "1",
                          "--progress", "none", *sets], capfd)
    assert rc == 2
    one_error_line(err, "fsmde train: error:", "run", "cannot write the output folder",
                   "No space left on device")
    assert list((disk / "run").iterdir()) == []


def test_full_disk_convert_leaves_no_folder(small_disk, keyframe_root, capfd):
    disk = small_disk("2m")
    rc, _, err = run_cli(["convert", "--dataset", keyframe_root, "--to", "dgp",
                          "--out", disk / "dgp"], capfd)
    assert rc == 2
    one_error_line(err, "fsmde convert: error:", "No space left on device")
    assert list(disk.iterdir()) == []


def test_full_disk_generate_leaves_no_folder(small_disk, capfd):
    disk = small_disk("512k")
    rc, _, err = run_cli(["generate", "--out", disk / "sim", "--preset", "tiny", "--quiet"], capfd)
    assert rc == 2
    one_error_line(err, "fsmde generate: error:", "No space left on device")
    assert list(disk.iterdir()) == []


# ------------------------------------------------------------------ the app, headless
needs_display = pytest.mark.skipif(not os.environ.get("DISPLAY"),
                                   reason="the app needs a display: run under xvfb-run")


def run_app(args: list, tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, FSMDE_SETTINGS_FILE=str(tmp_path / f"s-{uuid.uuid4().hex}.ini"))
    env.pop("FSMDE_DEBUG", None)
    try:
        return subprocess.run([sys.executable, str(REPO / "main.py"), *map(str, args)],
                              capture_output=True, text=True, timeout=APP_TIMEOUT_S, env=env,
                              cwd=REPO)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"fsmde-gui hung (> {APP_TIMEOUT_S} s): {args}\n{exc.stderr}")


def _lidar_cut_short(root: Path) -> tuple[list, str]:
    p = file_of(root, "LIDAR_TOP")
    p.write_bytes(p.read_bytes()[:-7])
    return [], p.name


APP_CASES = {
    # a frame that fails to load in the worker: the error dialog used to wait forever
    "frame_fails_to_load": lambda root, t: (["--dataset", root], _lidar_cut_short(root)[1]),
    # the PNG cannot be written after everything was drawn
    "screenshot_to_full_device": lambda root, t: (
        ["--dataset", root, "--screenshot", "/dev/full"], "/dev/full"),
    "screenshot_is_a_folder": lambda root, t: (
        ["--dataset", root, "--screenshot", t], "is a folder"),
    "frame_out_of_range": lambda root, t: (["--dataset", root, "--frame", "999"], "--frame 999"),
    "bad_window_size": lambda root, t: (["--dataset", root, "--size", "huge"], "--size"),
    "frame_negative": lambda root, t: (["--dataset", root, "--frame=-1"], "--frame -1"),
    "scene_out_of_range": lambda root, t: (["--dataset", root, "--scene", "3"], "--scene 3"),
    "dataset_without_samples": lambda root, t: (
        ["--dataset", _damaged(root, no_samples)], "no samples"),
    "intrinsics_for_other_image_size": lambda root, t: (
        ["--dataset", _damaged(root, resize_images_keep_intrinsics)], "calibrated_sensor.json"),
    "student_is_a_teacher": lambda root, t: (
        ["--dataset", root, "--student", SHIPPED / "teacher_sim.pt"], "not a student"),
    "teacher_is_the_semantic_net": lambda root, t: (
        ["--dataset", root, "--teacher", SHIPPED / "semantic_sim.pt"], "not a teacher"),
}


def _damaged(root: Path, damage) -> Path:
    damage(root)
    return root


@needs_display
@pytest.mark.parametrize("case", list(APP_CASES))
def test_app_screenshot_never_hangs(case, keyframe_root, tiny_models, tmp_path):
    if case == "screenshot_to_full_device" and not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    root = writable_copy(keyframe_root, tmp_path / "kf")
    args, word = APP_CASES[case](root, tmp_path / "shots")
    (tmp_path / "shots").mkdir(exist_ok=True)
    shot = tmp_path / "shots" / "app.png"
    if "--screenshot" not in args:
        args = [*args, "--screenshot", shot]
    models = [a for slot, path in (("--student", tiny_models[0]), ("--teacher", tiny_models[1]))
              if slot not in args for a in (slot, path)]
    r = run_app([*args, *models], tmp_path)
    assert r.returncode == 2, r.stderr[-3000:]
    line = one_error_line(r.stderr, "fsmde-gui: error:", word)
    if case in ("frame_out_of_range", "frame_negative"):
        assert "0..0" in line
    assert not shot.exists() and not leftovers(tmp_path / "shots")


# The interactive app (no --screenshot) under a watcher in the same process: it waits for the
# error dialog and a drawn frame, reports both on stdout and closes the window.
INTERACTIVE_WATCHER = r"""
import sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
import fsmde_gui.app  # (before the QApplication: shared GL contexts)
from fsmde_gui.app import launch
from fsmde_gui.app.main_window import MainWindow

app = QApplication(sys.argv[:1])
t0 = time.monotonic()

def look():
    windows = [w for w in app.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
    dialog = windows[0].findChild(QMessageBox, "error_dialog") if windows else None
    if dialog is not None and dialog.isVisible() and windows[0].displayed is not None:
        print("DIALOG:", " ".join(dialog.text().split()))
        print("SHOWN:", windows[0].displayed, flush=True)
    elif time.monotonic() - t0 < 100:
        QTimer.singleShot(200, look)
        return
    for w in windows:
        w.close()
    app.quit()

QTimer.singleShot(200, look)
sys.exit(launch.main(sys.argv[1:]))
"""

INTERACTIVE_CASES = {
    "frame_out_of_range": (["--frame", "999"], ["--frame 999", "0..0"]),
    "student_is_a_teacher": (["--student", SHIPPED / "teacher_sim.pt"],
                             ["--student", "teacher_sim.pt", "not a student"]),
}


@needs_display
@pytest.mark.parametrize("case", list(INTERACTIVE_CASES))
def test_interactive_app_shows_the_error_and_stays_up(case, keyframe_root, tiny_models,
                                                      tmp_path):
    """A bad --frame or a wrong-role model: the one line on stderr, the same text in a dialog,
    and the window goes on to show the dataset (the nearest frame); exit 2 when closed."""
    args, words = INTERACTIVE_CASES[case]
    models = [a for slot, path in (("--student", tiny_models[0]), ("--teacher", tiny_models[1]))
              if slot not in args for a in (slot, path)]
    env = dict(os.environ, FSMDE_SETTINGS_FILE=str(tmp_path / "s.ini"))
    env.pop("FSMDE_DEBUG", None)
    try:
        r = subprocess.run([sys.executable, "-c", INTERACTIVE_WATCHER, "--dataset",
                            str(keyframe_root), *map(str, args), *map(str, models)],
                           capture_output=True, text=True, timeout=APP_TIMEOUT_S, env=env,
                           cwd=REPO)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the interactive app did not come up: {exc.stderr}")
    assert r.returncode == 2, r.stderr[-3000:]
    line = one_error_line(r.stderr, "fsmde-gui: error:", *map(str, words))
    shown = dict(ln.split(": ", 1) for ln in r.stdout.splitlines() if ": " in ln)
    assert shown.get("DIALOG") == line.removeprefix("fsmde-gui: error: "), r.stdout
    assert shown.get("SHOWN") == "(0, 0)", r.stdout


def test_a_closed_pipe_is_not_reported_as_an_error(keyframe_root, tmp_path, monkeypatch, capsys):
    """`fsmde info | head -1`: the reader left before the output was written; that is no
    error of ours (no error line, no traceback; 141 as a shell reports SIGPIPE)."""
    from fsmde_gui.cli import main

    sink = open(tmp_path / "sink", "w")

    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            pass

        def fileno(self):
            return sink.fileno()

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    rc = main(["info", "--dataset", str(keyframe_root)])
    sink.close()
    assert rc == 141
    assert capsys.readouterr().err == ""
