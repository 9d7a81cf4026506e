"""`fsmde export-model`: a student checkpoint -> ONNX (dynamic batch), checked against torch.

    fsmde export-model --student student_kd --format onnx --out out/student_kd.onnx
    fsmde eval --dataset resources/nuscenes-keyframe --student onnx:out/student_kd.onnx

The graph takes ``images (B, 6, 3, H, W)`` in [0, 1] and returns ``depth (B, 6, 1, H, W)``,
``bin_centers (B, 6, N)`` and ``bin_probs (B, 6, N, h, w)``. The file is written to a temp
file beside ``--out``, checked (``onnx.checker``; ONNX Runtime vs torch on the bundled real
keyframe, or ``--check-dataset``'s first frame) and only then renamed into place.
Needs ``pip install -e '.[deploy]'`` (onnx, onnxruntime, onnxscript).
"""
from __future__ import annotations

import sys

from ..core.errors import FsmdeError
from ..evaluation.check_frames import check_frame
from ..models.onnx_export import export_student_onnx

FORMATS = ("onnx",)


def register(subparsers) -> None:
    p = subparsers.add_parser("export-model", help="export a student to ONNX (ONNX Runtime, "
                                                   "TensorRT)", description=__doc__.splitlines()[0])
    p.add_argument("--student", required=True,
                   help="student model name (student_kd -> models/student_kd.pt) or checkpoint")
    p.add_argument("--format", default="onnx", help="output format (onnx)")
    p.add_argument("--out", required=True, help="output file (.onnx)")
    p.add_argument("--size", default=None,
                   help="input size WxH (default: the student's own, e.g. 288x160)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default 18)")
    p.add_argument("--check-dataset", default=None,
                   help="dataset whose first frame the export is checked on "
                        "(default: resources/nuscenes-keyframe)")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.format not in FORMATS:
        raise FsmdeError(f"--format {args.format!r} is not supported (choose from "
                         f"{', '.join(FORMATS)})")
    path, r = export_student_onnx(args.student, args.out, input_size=args.size,
                                  opset=args.opset, check=check_frame(args.check_dataset))
    w, h = r["size"]
    print(f"wrote {path} ({r['bytes'] / 1e6:.1f} MB, opset {r['opset']}, input (B, 6, 3, {h}, "
          f"{w}), {r['bin_space']} bins); onnx.checker ok; ONNX Runtime vs torch on "
          f"{r['check_frame']}: max |depth diff| {r['max_abs_depth_m']:.2e} m")
    if r.get("note"):
        print(f"note: exported the {r['note']}", file=sys.stderr)
    return 0
