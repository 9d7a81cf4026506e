"""`pip install .` (not editable) gives working `fsmde` / `fsmde-gui` outside the checkout: the
package carries the files it reads at run time, and the project folder comes from FSMDE_HOME."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a pip build + five CLI runs: about a minute on 2 cores

REPO = Path(__file__).resolve().parents[1]
KEYFRAME = REPO / "resources" / "nuscenes-keyframe"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The package installed with pip into a folder of its own (from a copy of the sources,
    so that the build leaves nothing in the checkout); dependencies come from this Python."""
    src = tmp_path_factory.mktemp("src")
    shutil.copytree(REPO / "fsmde_gui", src / "fsmde_gui",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    target = tmp_path_factory.mktemp("site")
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                        "--no-build-isolation", "--no-index", "--target", str(target), str(src)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return target


def run_installed(target: Path, script: str, *args, cwd: Path, **env_extra):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FSMDE_HOME",
                                                            "FSMDE_MODELS_DIR")}
    env.update(PYTHONPATH=str(target), **env_extra)
    return subprocess.run([str(target / "bin" / script), *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_install_carries_the_package_resources(installed):
    assert (installed / "fsmde_gui" / "resources" / "rig_nuscenes.json").is_file()
    assert (installed / "bin" / "fsmde").is_file() and (installed / "bin" / "fsmde-gui").is_file()


def test_fsmde_runs_from_outside_the_checkout(installed, tmp_path):
    r = run_installed(installed, "fsmde", "--version", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "fsmde 0.1.0"
    code = ("import fsmde_gui, fsmde_gui.paths as p; "
            "print(fsmde_gui.__file__); print(p.PROJECT_ROOT); print(p.RIG_FILE.is_file())")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FSMDE_HOME")}
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                       env=dict(env, PYTHONPATH=str(installed)), timeout=300)
    where, root, rig = r.stdout.split()
    assert Path(where).is_relative_to(installed)  # the installed copy, not the checkout
    assert Path(root).resolve() == tmp_path.resolve()  # no checkout, no FSMDE_HOME: the cwd
    assert rig == "True"


def test_fsmde_info_reads_a_dataset_with_the_installed_package(installed, tmp_path):
    r = run_installed(installed, "fsmde", "info", "--dataset", KEYFRAME, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "CAM_FRONT" in r.stdout and "scene-keyframe" in r.stdout


def test_fsmde_home_gives_the_installed_package_the_shipped_models(installed, tmp_path):
    args = ("eval", "--dataset", KEYFRAME, "--student", "student_kd", "--no-consistency",
            "--no-progress")
    missing = run_installed(installed, "fsmde", *args, cwd=tmp_path)
    assert missing.returncode == 2
    assert str(tmp_path / "models" / "student_kd.pt") in missing.stderr  # the cwd's models/
    assert "FSMDE_MODELS_DIR" in missing.stderr
    r = run_installed(installed, "fsmde", *args, cwd=tmp_path, FSMDE_HOME=str(REPO))
    assert r.returncode == 0, r.stderr
    assert "abs_rel" in r.stdout.lower() or "absrel" in r.stdout.lower()


def test_fsmde_gui_starts_from_outside_the_checkout(installed, tmp_path):
    r = run_installed(installed, "fsmde-gui", "--help", cwd=tmp_path, QT_QPA_PLATFORM="offscreen")
    assert r.returncode == 0, r.stderr
    assert "fsmde-gui" in r.stdout


def test_the_memory_probe_runs_from_the_installed_package(installed, tmp_path):
    """`fsmde bench speed --models`'s memory probe (a fresh `python -c` process started in the
    package's folder) imports the installed copy, with no PYTHONPATH and outside the checkout."""
    code = (f"import sys; sys.path.insert(0, {str(installed)!r}); import torch, fsmde_gui; "
            "from fsmde_gui.evaluation.speed import student_peak_memory_mb; "
            "print(fsmde_gui.__file__); print(student_peak_memory_mb((32, 64), "
            "torch.device('cpu')))")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FSMDE_HOME")}
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                       text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    where, result = r.stdout.strip().splitlines()[-2:]
    assert Path(where).is_relative_to(installed)
    assert "peak RSS growth" in result and "'peak_mb': None" not in result, result
