"""Deploying the student: `fsmde export-model` (ONNX) and the ONNX Runtime DepthEstimator backend."""
from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx", reason="needs the deploy extra (pip install -e '.[deploy]')")
ort = pytest.importorskip("onnxruntime", reason="needs the deploy extra")
pytest.importorskip("onnxscript", reason="needs the deploy extra")

from fsmde_gui.cli import main as cli_main  # noqa: E402
from fsmde_gui.data.detect import open_dataset  # noqa: E402
from fsmde_gui.evaluation.check_frames import check_frame  # noqa: E402
from fsmde_gui.models import registry  # noqa: E402
from fsmde_gui.models.checkpoint import read_checkpoint, save_checkpoint  # noqa: E402
from fsmde_gui.models.inference import DepthEstimator  # noqa: E402
from fsmde_gui.models.onnx_runtime import session_options  # noqa: E402
from fsmde_gui.models.onnx_export import (OnnxDependencyError, compare_on_frame,  # noqa: E402
                                          export_student_onnx)
from fsmde_gui.models.student import StudentConfig, StudentNet  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TOL_M = 1e-2
TINY = StudentConfig(widths=(8, 16, 16, 32, 32), depths=(1, 1, 1, 1),
                     decoder_widths=(32, 16, 16, 16), num_bins=16, bin_hidden=16,
                     input_size=(96, 64), bin_space="log", bin_floor=0.5)


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory) -> Path:
    """A random tiny log-bin student, BatchNorm statistics randomised (folding is not a no-op)."""
    torch.manual_seed(0)
    net = StudentNet(TINY)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    return save_checkpoint(tmp_path_factory.mktemp("tiny") / "tiny_student.pt", net.eval())


@pytest.fixture(scope="module")
def tiny_cli(tiny_ckpt, tmp_path_factory):
    """`fsmde export-model` on the tiny student: (exit code, stdout, stderr, .onnx path)."""
    out = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    o, e = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
        rc = cli_main(["export-model", "--student", str(tiny_ckpt), "--format", "onnx",
                       "--out", str(out), "--opset", "18"])
    return rc, o.getvalue(), e.getvalue(), out


@pytest.fixture(scope="module")
def supervised_onnx(tmp_path_factory):
    """The shipped models/student_supervised.pt exported through the API, checked on the
    bundled real keyframe (the caller opens the check frame: models open no dataset)."""
    return export_student_onnx("student_supervised",
                               tmp_path_factory.mktemp("onnx_sup") / "student_supervised.onnx",
                               check=check_frame())


def _frames(keyframe_root, tiny_sim_root):
    return {"keyframe": open_dataset(keyframe_root).frame(0, 0, load_gt=False),
            "simulator": open_dataset(tiny_sim_root).frame(0, 0, load_gt=False)}


def test_cli_writes_checked_file(tiny_cli):
    rc, out, err, path = tiny_cli
    assert rc == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "max |depth diff|" in lines[0]
    assert path.is_file() and not [p for p in path.parent.iterdir() if p.name != path.name]
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    (inp,), outs = model.graph.input, model.graph.output
    dims = lambda v: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]  # noqa: E731
    assert inp.name == "images" and dims(inp)[1:] == [6, 3, 64, 96]
    assert isinstance(dims(inp)[0], str)  # dynamic batch
    assert [o.name for o in outs] == ["depth", "bin_centers", "bin_probs"]
    assert dims(outs[0])[1:] == [6, 1, 64, 96] and dims(outs[1])[1:] == [6, 16]
    assert dims(outs[2])[1:3] == [6, 16]
    props = {p.key: p.value for p in model.metadata_props}
    assert props["fsmde.bin_space"] == "log" and props["fsmde.input_size"] == "96x64"


def test_the_check_frame_is_the_callers(tiny_ckpt, tiny_sim_root, tmp_path, capsys):
    """The API checks on the frame it is given (default: a fixed random one, no dataset
    opened); `export-model --check-dataset` opens that dataset's first frame."""
    _, report = export_student_onnx(tiny_ckpt, tmp_path / "api.onnx")
    assert report["check_frame"] == "a random frame" and report["max_abs_depth_m"] < TOL_M
    assert cli_main(["export-model", "--student", str(tiny_ckpt), "--out",
                     str(tmp_path / "cli.onnx"), "--check-dataset", str(tiny_sim_root)]) == 0
    assert f"ONNX Runtime vs torch on {tiny_sim_root}:" in capsys.readouterr().out


def test_tiny_ort_matches_torch_on_real_and_sim_frames(tiny_cli, tiny_ckpt, keyframe_root,
                                                       tiny_sim_root):
    path = tiny_cli[3]
    torch_est = DepthEstimator.from_checkpoint(tiny_ckpt, device="cpu")
    ort_est = DepthEstimator.from_name(f"onnx:{path}")
    assert ort_est.meta["backend"] == "onnxruntime"
    assert ort_est.meta["providers"][-1] == "CPUExecutionProvider"
    assert ort_est.input_size == (96, 64) and ort_est.num_parameters == torch_est.num_parameters
    for name, frame in _frames(keyframe_root, tiny_sim_root).items():
        d = compare_on_frame(torch_est, ort_est, frame)
        print(f"tiny {name}: max |depth diff| {d['depth']:.2e} m")
        assert d["depth"] < TOL_M and d["bin_centers"] < TOL_M and d["bin_probs"] < 1e-3, name
        r = ort_est.predict(frame)
        assert r.depth.shape == (6, *frame.views[0].hw) and r.bin_centers.shape == (6, 16)
        assert r.bin_probs.shape[:2] == (6, 16) and np.isfinite(r.depth).all()
        assert set(r.timings_ms) >= {"preprocess", "inference", "postprocess", "total"}


def test_shipped_student_exports_and_matches(supervised_onnx, tiny_sim_root):
    path, report = supervised_onnx
    stored = read_checkpoint(registry.model_path("student_supervised"))["config"]
    assert report["bin_space"] == stored.get("bin_space", "linear")  # old checkpoints: linear
    assert "nuscenes-keyframe" in report["check_frame"]
    assert report["max_abs_depth_m"] < TOL_M  # ORT vs torch on the bundled real keyframe
    onnx.checker.check_model(str(path), full_check=True)
    torch_est = DepthEstimator.from_name("student_supervised", device="cpu")
    ort_est = DepthEstimator.from_onnx(path)
    frame = open_dataset(tiny_sim_root).frame(0, 0, load_gt=False)
    d = compare_on_frame(torch_est, ort_est, frame)
    print(f"student_supervised: keyframe {report['max_abs_depth_m']:.2e} m, "
          f"simulator {d['depth']:.2e} m")
    assert d["depth"] < TOL_M and d["bin_centers"] < TOL_M


def test_lite_student_exports_and_matches(tiny_ckpt, tmp_path, keyframe_root):
    """The lite architecture (nearest decoder upsampling) exports and matches torch."""
    torch.manual_seed(2)
    lite = StudentNet(StudentConfig(**(TINY.to_dict() | {"decoder_upsample": "nearest",
                                                         "num_bins": 12})))
    ckpt = save_checkpoint(tmp_path / "tiny_lite.pt", lite.eval())
    path, report = export_student_onnx(ckpt, tmp_path / "tiny_lite.onnx",
                                       check=(open_dataset(keyframe_root).frame(0, 0, load_gt=False),
                                              "keyframe"))
    assert report["max_abs_depth_m"] < TOL_M
    ops = {node.op_type: node for node in onnx.load(str(path)).graph.node}
    modes = {a.s.decode() for n in onnx.load(str(path)).graph.node if n.op_type == "Resize"
             for a in n.attribute if a.name == "mode"}
    assert "Resize" in ops and "nearest" in modes  # decoder steps; the depth output: linear
    # at 96 x 64 every step is exactly 2x: constant scales (which ONNX Runtime's CPU provider
    # keeps in its blocked layout), no sizes read from a Shape at run time
    graph = onnx.load(str(path)).graph
    resizes = [n for n in graph.node if n.op_type == "Resize"]
    assert len(resizes) == 5
    assert all(len(n.input) == 3 and n.input[2] for n in resizes)
    # the bin probabilities reach the output through one Transpose (no copying Reshape after it)
    assert [n.op_type for n in graph.node if "bin_probs" in n.output] == ["Transpose"]
    assert DepthEstimator.from_onnx(path).model.cfg.num_bins == 12


def test_dynamic_batch(tiny_cli, tiny_ckpt, keyframe_root, tiny_sim_root):
    path = tiny_cli[3]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.rand(2, 6, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    depth, centers, probs = sess.run(None, {"images": x.numpy()})
    assert depth.shape == (2, 6, 1, 64, 96) and centers.shape == (2, 6, 16)
    assert probs.shape[:3] == (2, 6, 16)
    torch_est = DepthEstimator.from_checkpoint(tiny_ckpt, device="cpu")
    ref = torch_est.forward_tensor(x)
    assert np.abs(depth - ref["depth"].numpy()).max() < TOL_M
    # the estimator batches frames of one size through ONNX Runtime too
    sim = open_dataset(tiny_sim_root)
    frames = [sim.frame(0, 0, load_gt=False), sim.frame(0, 1, load_gt=False)]
    ort_est = DepthEstimator.from_onnx(path)
    for a, b in zip(ort_est.predict_batch(frames), torch_est.predict_batch(frames)):
        assert np.abs(a.depth - b.depth).max() < TOL_M


def test_onnx_student_accepted_wherever_a_student_is(tiny_cli, tiny_sim_root, capsys):
    from fsmde_gui.app_model.session import Session
    from fsmde_gui.evaluation.speed import time_estimator
    from fsmde_gui.evaluation.evaluate import load_estimator

    path = tiny_cli[3]
    for spec in (str(path), f"onnx:{path}"):
        assert load_estimator(spec).meta["backend"] == "onnxruntime"
    session = Session(load_models=False)
    assert session.set_model("student", str(path)), session.notes
    assert session.estimators["student"].meta["backend"] == "onnxruntime"
    assert registry.onnx_file("onnx:student_kd") == registry.models_dir() / "student_kd.onnx"
    row = time_estimator(f"onnx:{path}", rounds=1, log=lambda _: None)
    assert row["backend"] == "onnxruntime" and row["ms"] > 0 and row["input_hw"] == [64, 96]
    assert cli_main(["eval", "--dataset", str(tiny_sim_root), "--student", f"onnx:{path}",
                     "--max-frames", "1", "--no-consistency"]) == 0
    assert "overall" in capsys.readouterr().out


def _one_error_line(capsys, name) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(name) in err[0], err
    return err[0]


def test_bad_inputs_exit_2_naming_the_file(tmp_path, tiny_sim_root, tiny_cli, monkeypatch,
                                           capsys):
    teacher = REPO / "models" / "teacher_sim.pt"
    out = tmp_path / "t.onnx"
    assert cli_main(["export-model", "--student", str(teacher), "--out", str(out)]) == 2
    assert "not a student" in _one_error_line(capsys, teacher) and not out.exists()
    assert not list(tmp_path.iterdir())

    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes())
    assert cli_main(["eval", "--dataset", str(tiny_sim_root), "--student", str(garbage)]) == 2
    assert "not a readable ONNX model" in _one_error_line(capsys, garbage)

    assert cli_main(["export-model", "--student", "student_kd", "--format", "tflite",
                     "--out", str(out)]) == 2
    _one_error_line(capsys, "tflite")

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` fails
    good = tiny_cli[3]
    assert cli_main(["eval", "--dataset", str(tiny_sim_root), "--student", str(good)]) == 2
    assert "pip install" in _one_error_line(capsys, good)
    assert cli_main(["export-model", "--student", "student_kd", "--out", str(out)]) == 2
    assert "onnxruntime" in _one_error_line(capsys, out) and not out.exists()
    with pytest.raises(OnnxDependencyError):
        DepthEstimator.from_onnx(good)


def test_deploy_path_bad_inputs_onnx_spec_and_bench(tmp_path, tiny_sim_root, tiny_cli,
                                                    monkeypatch, capsys):
    """`onnx:FILE` (corrupt, missing) for eval and bench, a non-student checkpoint for
    export-model, and onnxruntime missing for bench: one line naming the file, exit 2."""
    semantic = REPO / "models" / "semantic_sim.pt"
    out = tmp_path / "s.onnx"
    assert cli_main(["export-model", "--student", str(semantic), "--out", str(out)]) == 2
    assert "not a student" in _one_error_line(capsys, semantic) and not out.exists()

    garbage = tmp_path / "corrupt.onnx"
    garbage.write_bytes(b"\x08\x07" + bytes(range(256)) * 8)
    for argv in (["eval", "--dataset", str(tiny_sim_root), "--student", f"onnx:{garbage}"],
                 ["bench", "speed", "--student", f"onnx:{garbage}"]):
        assert cli_main(argv) == 2, argv
        assert "not a readable ONNX model" in _one_error_line(capsys, garbage)
    missing = tmp_path / "missing.onnx"
    assert cli_main(["bench", "speed", "--student", f"onnx:{missing}"]) == 2
    assert "not found" in _one_error_line(capsys, missing)

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` fails
    good = tiny_cli[3]
    assert cli_main(["bench", "speed", "--student", f"onnx:{good}"]) == 2
    assert "onnxruntime" in _one_error_line(capsys, good)
    assert cli_main(["bench", "speed", "--threads", "1"]) == 2  # the backend table needs it
    assert "pip install" in _one_error_line(capsys, "student_kd")


def test_sessions_spin_inside_a_run_and_stop_after_it():
    """Worker threads spin during a call (no per-node wake-ups) and stop when it returns
    (an idle session takes no CPU from the app or the next model); spinning=False: never."""
    opts = session_options(ort, threads=2)
    assert opts.intra_op_num_threads == 2
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "1"
    assert opts.get_session_config_entry("session.force_spinning_stop") == "1"
    assert opts.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    quiet = session_options(ort, spinning=False)
    assert quiet.get_session_config_entry("session.intra_op.allow_spinning") == "0"
