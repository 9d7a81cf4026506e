"""The job queue without Qt: transitions (queued -> running -> done / cancelled / failed, the
next job starting, a queued job cancelled before it runs), and the progress parser on real
`fsmde train --progress jsonl` output (captured lines, and a 2-step tiny training run)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app_testing import TINY_STUDENT_OPTIONS
from fsmde_gui.app_model.jobs import JobQueue, ProgressParser, parse_progress_line

REPO = Path(__file__).resolve().parents[1]

# stdout of a 2-step tiny `fsmde train --recipe supervised --progress jsonl` (run paths shortened)
CAPTURED = b"""\
{"event": "progress", "step": 1, "total": 2, "losses": {"gt": 6.276386260986328, "total": 6.355571269989014, "bin_chamfer": 0.7918522953987122}, "eta_s": 1.1, "lr": 0.001, "checkpoint": null, "data_wait_frac": 0.5226}
{"event": "progress", "step": 2, "total": 2, "losses": {"gt": 6.519017219543457, "total": 6.592321395874023, "bin_chamfer": 0.7330437302589417}, "eta_s": 0.0, "lr": 5e-05, "checkpoint": null, "data_wait_frac": 0.5452}
{"event": "done", "step": 2, "total": 2, "losses": {"gt": 6.519017219543457, "total": 6.592321395874023, "bin_chamfer": 0.7330437302589417}, "eta_s": 0.0, "lr": 5e-05, "checkpoint": "run/checkpoints/last.pt", "final": "run/final.pt", "wall_s": 1.77, "data_wait_s": 0.86, "data_wait_frac": 0.4866}
"""


def recorded(queue: JobQueue) -> list[tuple[int, str]]:
    seen: list[tuple[int, str]] = []
    queue.events.status.connect(lambda e: seen.append((e.value.id, e.value.status)))
    return seen


def test_parse_progress_line_keeps_objects_only():
    assert parse_progress_line(b'{"event": "info", "message": "hi"}') == {"event": "info", "message": "hi"}
    for junk in (b"", b"loading data...", b"[1, 2]", b"\xff\xfe", "3"):
        assert parse_progress_line(junk) is None


def test_parser_splits_chunks_at_line_ends():
    parser = ProgressParser()
    cut = len(CAPTURED) // 2 + 7  # inside the second line
    first = parser.feed(CAPTURED[:cut])
    rest = parser.feed(CAPTURED[cut:])
    assert parser.feed(b"stray print\n") == []
    events = first + rest
    assert [e["event"] for e in events] == ["progress", "progress", "done"]
    assert len(first) == 1 and events[2]["final"] == "run/final.pt"
    assert parser.feed(b'{"event": "progress", "st') == []  # waits for the line's end
    parser.reset()
    assert parser.feed(b'ep": 1}\n') == []  # the fragment was dropped


def test_captured_run_drives_a_job_to_done():
    queue = JobQueue()
    seen = recorded(queue)
    progress = []
    queue.events.progress.connect(lambda e: progress.append(e.value.step))
    job = queue.add("supervised", {"steps": 2}, "data", Path("runs"))
    assert job.status == "queued" and job.out.startswith(str(Path("runs")))
    assert job.arguments()[-2:] == ["--set", "steps=2"]
    assert queue.start_next() is job and queue.running is job
    for ev in ProgressParser().feed(CAPTURED):
        queue.apply_event(job, ev)
    assert job.status == "done" and progress == [1, 2, 2]
    assert (job.step, job.total, job.eta_s, job.percent) == (2, 2, 0.0, 100)
    assert job.final == "run/final.pt" and job.checkpoint == "run/checkpoints/last.pt"
    assert [s for s, _ in job.losses["total"]] == [1, 2, 2]
    assert set(job.losses) == {"gt", "total", "bin_chamfer"}
    assert queue.finish(job, 0) and queue.running is None and job.status == "done"
    assert seen == [(1, "running"), (1, "done"), (1, "done")]
    assert job.progress_text() == "job 1 (supervised): step 2/2, ETA 0 s"
    assert queue.latest_final() is job


def test_queue_runs_one_at_a_time_and_cancels_a_queued_job():
    queue = JobQueue()
    seen = recorded(queue)
    a, b, c = (queue.add("kd", {}, "data", Path("runs")) for _ in range(3))
    assert [j.id for j in queue.jobs] == [1, 2, 3]
    assert queue.start_next() is a and queue.start_next() is None  # one runs at a time
    assert queue.cancel(b) == "dropped" and b.status == "cancelled"
    assert queue.cancel(b) == ""  # already over
    assert queue.finish(b, 0) is False  # not the running job: nothing changes
    queue.finish(a, 0)
    assert a.status == "done"
    assert queue.start_next() is c  # the cancelled one is skipped
    assert seen == [(1, "running"), (2, "cancelled"), (1, "done"), (3, "running")]


def test_failed_and_cancelled_running_jobs():
    queue = JobQueue()
    crash = queue.add("kd", {}, "data", Path("runs"))
    queue.start_next()
    queue.apply_event(crash, {"event": "error", "message": "out of memory"})
    queue.note_stderr(crash, "Traceback ...\nRuntimeError: boom\n")
    queue.finish(crash, 1)
    assert crash.status == "failed" and crash.status_text() == "job 1 failed: RuntimeError: boom"

    stop = queue.add("kd", {}, "data", Path("runs"))
    queue.start_next()
    assert queue.cancel(stop) == "terminate" and stop.cancel_requested_at is not None
    assert stop.status == "running"  # until the trainer says so or the process exits
    queue.finish(stop, -15)
    assert stop.status == "cancelled"

    lied = queue.add("kd", {}, "data", Path("runs"))  # said done, exited with an error
    queue.start_next()
    queue.apply_event(lied, {"event": "done", "step": 3, "total": 3})
    queue.finish(lied, 1)
    assert lied.status == "failed"

    queue.add("kd", {}, "data", Path("runs"))
    queue.cancel_queued()
    assert [j.status for j in queue.jobs] == ["failed", "cancelled", "failed", "cancelled"]


def test_events_of_no_job_and_bad_losses_are_ignored():
    queue = JobQueue()
    queue.apply_event(None, {"event": "progress", "step": 1})
    job = queue.add("kd", {}, "data", Path("runs"))
    queue.start_next()
    queue.apply_event(job, {"event": "info", "message": "x" * 999, "losses": {"a": "nan?", "b": 1}})
    assert len(job.message) == 300 and job.losses == {"b": [(0, 1.0)]}


@pytest.mark.slow
def test_real_two_step_training_through_the_queue(tiny_sim_root, tmp_path):
    """`fsmde train --progress jsonl` in a subprocess, its stdout parsed into the queue."""
    queue = JobQueue()
    opts = dict(o.split("=", 1) for o in TINY_STUDENT_OPTIONS)
    opts["steps"] = 2
    job = queue.add("supervised", opts, str(tiny_sim_root), tmp_path)
    queue.start_next()
    proc = subprocess.run([sys.executable] + job.arguments(), cwd=REPO, capture_output=True,
                          timeout=600)
    for ev in ProgressParser().feed(proc.stdout):
        queue.apply_event(job, ev)
    queue.finish(job, proc.returncode)
    assert job.status == "done", proc.stderr.decode()[-2000:]
    assert job.step == job.total == 2 and Path(job.final).exists()
    assert "total" in job.losses and len(job.losses["total"]) >= 2
