"""Peak memory of student inference and of one training step (CPU).

Each case runs in a fresh Python process: peak resident memory (``ru_maxrss``) is read after
building the nets (``base``) and after running the case (``peak``); ``delta = peak - base``
is what the forward / forward+backward itself needs. Inputs: 6 views, batch 1.

Run: ``.venv/bin/python -m benchmarks.run_all memory``
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CASES = [
    # name, kind, (W, H)
    ("student inference", "student_infer", (192, 112)),
    ("student inference", "student_infer", (288, 160)),
    ("teacher_sim inference", "teacher_infer", (192, 112)),
    ("student train step (supervised)", "student_train", (192, 112)),
    ("student train step (kd: +teacher fwd, CKD, VRKD)", "kd_train", (192, 112)),
    ("teacher_sim train step (SSI+grad)", "teacher_train", (192, 112)),
]

WORKER = r"""
import json, resource, sys, torch
torch.set_num_threads(1)
kind, W, H = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
from fsmde_gui.models.checkpoint import build_model
from fsmde_gui.training import losses as L
def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
x = torch.rand(1, 6, 3, H, W)
gt = torch.rand(1, 6, 1, H, W) * 40 + 1
gt[torch.rand_like(gt) > 0.05] = 0
student = build_model("student", {"input_size": [W, H]})
teacher = build_model("teacher_sim", {"input_size": [W, H]}) if kind != "student_infer" and kind != "student_train" else None
opt = None
if kind.endswith("train"):
    net = teacher if kind == "teacher_train" else student
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
base = rss_mb()
if kind == "student_infer":
    student.eval()
    with torch.inference_mode():
        student(x)
elif kind == "teacher_infer":
    teacher.eval()
    with torch.inference_mode():
        teacher(x)
elif kind == "student_train":
    out = student(x); loss = L.silog_loss(out["depth"], gt); loss.backward(); opt.step()
elif kind == "kd_train":
    teacher.eval()
    with torch.no_grad():
        t = teacher(x)
    out = student(x)
    metric, _ = L.align_disparity_to_depth(t["relative"], gt, 0.5, 80.0, reference=out["depth"])
    ck = L.ckd_losses(out["bin_probs"], out["bin_centers"], metric, gt)
    vr = L.vrkd_loss(out["features"][2], t["features"][2], L.RING_PAIRS,
                     torch.eye(4).repeat(6, 1, 1))
    loss = L.silog_loss(out["depth"], gt) + ck["ckd_kl"] + ck["ckd_cross"] + vr
    loss.backward(); opt.step()
elif kind == "teacher_train":
    out = teacher(x)
    loss = L.ssi_loss(out["relative"], gt) + L.gradient_matching_loss(out["relative"], gt)
    loss.backward(); opt.step()
peak = rss_mb()
print(json.dumps({"base_mb": base, "peak_mb": peak, "delta_mb": peak - base}))
"""


def measure(kind: str, size: tuple[int, int]) -> dict:
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", WORKER, kind, str(size[0]), str(size[1])],
                          cwd=repo, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind}: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(out_dir: Path) -> dict:
    rows = []
    print(f"{'case':<50}{'input':>10}{'base MB':>10}{'peak MB':>10}{'delta MB':>10}")
    for name, kind, size in CASES:
        r = measure(kind, size)
        rows.append({"case": name, "kind": kind, "input": f"{size[0]}x{size[1]}", **r})
        print(f"{name:<50}{f'{size[0]}x{size[1]}':>10}{r['base_mb']:>10.0f}{r['peak_mb']:>10.0f}"
              f"{r['delta_mb']:>10.0f}", flush=True)
    return {"rows": rows, "note": "peak RSS of a fresh process, 6 views, batch 1, CPU, 1 thread"}


if __name__ == "__main__":
    main(Path("benchmarks/results"))
