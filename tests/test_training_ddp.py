"""DDP: two gloo processes under torchrun train the same weights (rank-0-only writes)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from fsmde_gui.models.checkpoint import load_checkpoint

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_ddp_keeps_weights_equal(tiny_sim_root, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(HERE.parent))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           f"--master_port={free_port()}", "--master_addr=127.0.0.1",
           str(HERE / "training_ddp_worker.py"), str(tiny_sim_root), str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0 = json.loads((tmp_path / "checksum_rank0.json").read_text())
    r1 = json.loads((tmp_path / "checksum_rank1.json").read_text())
    assert r0["world"] == r1["world"] == 2 and r0["step"] == r1["step"] == 3
    assert r0["sum"] == pytest.approx(r1["sum"], rel=1e-6, abs=1e-6)
    assert r0["abs"] == pytest.approx(r1["abs"], rel=1e-6)
    assert r0["first"] == pytest.approx(r1["first"], abs=1e-6)
    # the weight average (ema_decay) is the same on both ranks, and it is what final.pt holds
    assert r0["average_sum"] == pytest.approx(r1["average_sum"], rel=1e-6, abs=1e-6)
    assert r0["average_sum"] != pytest.approx(r0["sum"], rel=1e-6, abs=1e-6)
    final, _ = load_checkpoint(tmp_path / "final.pt")
    saved = sum(float(p.detach().double().sum()) for p in final.parameters())
    assert saved == pytest.approx(r0["average_sum"], rel=1e-6, abs=1e-6)
    # only rank 0 wrote training outputs
    assert (tmp_path / "final.pt").is_file()
    assert len(list((tmp_path / "tb").glob("events.out.tfevents.*"))) == 1


def test_each_process_trains_on_its_own_gpu(monkeypatch):
    """Under torchrun, CUDA means cuda:LOCAL_RANK (DDP on that one device); a rank beyond the
    node's GPUs is refused; the CPU path takes no device arguments. (No GPU needed: the
    CUDA queries are stubbed; the real GPU path is measured when a device is lent.)"""
    import torch

    from fsmde_gui.core.errors import TrainingError
    from fsmde_gui.training import distributed as D
    from fsmde_gui.training.trainer import training_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert training_device("cuda") == torch.device("cuda", 1)
    assert training_device("auto") == torch.device("cuda", 1)
    assert training_device("cuda", local_rank=0) == torch.device("cuda", 0)
    assert D.ddp_device_kwargs(torch.device("cuda", 1)) == {"device_ids": [1], "output_device": 1}
    monkeypatch.setenv("LOCAL_RANK", "2")
    with pytest.raises(TrainingError, match="local rank 2 has no GPU"):
        training_device("cuda")
    assert training_device("cpu") == torch.device("cpu")
    assert D.ddp_device_kwargs(torch.device("cpu")) == {}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert training_device("auto") == torch.device("cpu")
    with pytest.raises(TrainingError, match="no CUDA device"):
        training_device("cuda")
