"""nuScenes release and scene selection: --version, DIR/v1.0-trainval as the dataset, --scenes."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from fsmde_gui.cli import main
from fsmde_gui.core.errors import DatasetError
from fsmde_gui.core.rig import load_rig, make_pose
from fsmde_gui.data.detect import detect_format, open_dataset
from fsmde_gui.data.nuscenes_writer import CameraRecord, NuScenesWriter

from _data_helpers import writable_copy


@pytest.fixture(scope="module")
def two_releases(keyframe_root, tmp_path_factory):
    """The keyframe's folder holding v1.0-mini and a v1.0-trainval whose scene is renamed."""
    root = writable_copy(keyframe_root, tmp_path_factory.mktemp("releases") / "nuscenes")
    shutil.copytree(root / "v1.0-mini", root / "v1.0-trainval")
    scenes = json.loads((root / "v1.0-trainval" / "scene.json").read_text())
    scenes[0]["name"] = "scene-trainval"
    (root / "v1.0-trainval" / "scene.json").write_text(json.dumps(scenes))
    return root


def test_default_is_mini_and_version_picks_trainval(two_releases):
    assert open_dataset(two_releases).version == "v1.0-mini"
    ds = open_dataset(two_releases, version="v1.0-trainval")
    assert ds.version == "v1.0-trainval" and ds.scenes[0].name == "scene-trainval"
    assert ds.describe()["versions"] == ["v1.0-mini", "v1.0-trainval"]


def test_table_folder_as_dataset_path(two_releases):
    path = two_releases / "v1.0-trainval"
    assert detect_format(path) == "nuscenes"
    ds = open_dataset(path)
    assert ds.version == "v1.0-trainval" and ds.root == two_releases
    assert ds.scenes[0].name == "scene-trainval"
    with pytest.raises(DatasetError, match="v1.0-trainval table folder but --version v1.0-mini"):
        open_dataset(path, version="v1.0-mini")


def test_missing_version_names_the_present_ones(two_releases):
    with pytest.raises(DatasetError, match=r"no v1.0-test tables here \(versions found: "
                                           r"v1.0-mini, v1.0-trainval\)"):
        open_dataset(two_releases, version="v1.0-test")


def test_scene_subset(two_releases, keyframe_root):
    name = open_dataset(keyframe_root).scenes[0].name
    ds = open_dataset(two_releases, scenes=[name])
    assert [s.name for s in ds.scenes] == [name] and len(ds) == 1
    assert ds.describe()["num_files_checked"] == 7
    with pytest.raises(DatasetError, match=r"no scene named 'scene-9999' \(scenes: " + name):
        open_dataset(two_releases, scenes=["scene-9999"])


def test_scene_subset_keeps_the_order_asked(tmp_path):
    """Three written scenes of one frame each: --scenes c,a gives c then a, and b's files are
    not checked."""
    rig = load_rig(width=32, height=18)
    w = NuScenesWriter(tmp_path)
    rng = np.random.default_rng(0)
    for k, name in enumerate(("scene-a", "scene-b", "scene-c")):
        w.begin_scene(name)
        cams = [CameraRecord(c.name, rng.integers(0, 255, (18, 32, 3), dtype=np.uint8), c.K,
                             c.cam_to_ego) for c in rig.cameras]
        w.add_sample(1_000_000 * (k + 1), make_pose(np.eye(3), [k, 0, 0]), cams)
    w.finish()
    ds = open_dataset(tmp_path, scenes=["scene-c", "scene-a"])
    assert [s.name for s in ds.scenes] == ["scene-c", "scene-a"]
    assert ds.frame(0, 0).scene_name == "scene-c"
    assert ds.frame(0, 0).views[0].image_path.split("__")[-1] == "3000000.jpg"
    assert len(ds.check_files()) == 12  # 6 images of each selected scene


def test_cli_info_version_and_scenes(two_releases, capsys):
    assert main(["info", "--dataset", str(two_releases), "--version", "v1.0-trainval",
                 "--scenes", "scene-trainval"]) == 0
    out = capsys.readouterr().out
    assert "nuscenes (v1.0-trainval); versions here: v1.0-mini, v1.0-trainval" in out
    assert "scene-trainval: 1 frames" in out
    assert main(["info", "--dataset", str(two_releases / "v1.0-trainval")]) == 0
    assert "(v1.0-trainval)" in capsys.readouterr().out
    assert main(["info", "--dataset", str(two_releases), "--scenes", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no scene named 'nope'" in err[0]
