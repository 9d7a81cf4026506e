"""Background fine-tuning jobs as a Qt-free model: the ``Job`` record, the queue's state
machine and the parser of the trainer's progress events.

A job is ``queued`` -> ``running`` -> ``done`` | ``cancelled`` | ``failed``; one runs at a
time and a queued job can be cancelled before it starts. The running job is a
``fsmde train --progress jsonl`` subprocess that prints one JSON object per line::

    {"event": "progress"|"checkpoint"|"done"|"cancelled"|"error"|"info", "step", "total",
     "losses": {...}, "eta_s", "lr", "checkpoint": path|None, "final": path, "message": str}

``ProgressParser`` turns its stdout bytes into those dicts, ``JobQueue.apply_event`` into the
job's fields. Whoever runs the processes (the app's Jobs panel: QProcess) calls
``start_next`` / ``apply_event`` / ``finish`` and listens to ``queue.events``.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..paths import RUNS_DIR
from .events import EmitterGroup

STATUSES = ("queued", "running", "done", "cancelled", "failed")
ENDED = ("done", "cancelled", "failed")
MESSAGE_CHARS = 300


def runs_dir() -> Path:
    """Where the app's jobs write their runs (``FSMDE_RUNS_DIR`` overrides)."""
    return Path(os.environ.get("FSMDE_RUNS_DIR", RUNS_DIR / "app"))


@dataclass
class Job:
    id: int
    recipe: str
    options: dict
    dataset: str
    out: str
    status: str = "queued"  # queued | running | done | cancelled | failed
    step: int = 0
    total: int = 0
    eta_s: Optional[float] = None
    losses: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    checkpoint: Optional[str] = None  # training state (resume), kept on cancel
    final: Optional[str] = None  # the trained model (models.checkpoint format), when done
    message: str = ""
    started: float = 0.0
    cancel_requested_at: Optional[float] = None
    stopped_at: Optional[float] = None

    def arguments(self) -> list[str]:
        """The interpreter arguments that run this job (``python <arguments>``)."""
        args = ["-m", "fsmde_gui.cli", "train", "--recipe", self.recipe, "--dataset", self.dataset,
                "--out", self.out, "--progress", "jsonl"]
        for k, v in self.options.items():
            args += ["--set", f"{k}={json.dumps(v) if not isinstance(v, str) else v}"]
        return args

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    def progress_text(self) -> str:
        eta = f", ETA {self.eta_s:.0f} s" if self.eta_s is not None else ""
        return f"job {self.id} ({self.recipe}): step {self.step}/{self.total}{eta}"

    def status_text(self) -> str:
        return f"job {self.id} {self.status}" + (f": {self.message}" if self.status == "failed" else "")

    @property
    def percent(self) -> Optional[int]:
        return int(100 * self.step / self.total) if self.total else None


def parse_progress_line(line: bytes | str) -> Optional[dict]:
    """One stdout line of ``fsmde train --progress jsonl`` -> its event, or None (not JSON,
    not an object: a stray print)."""
    try:
        event = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return event if isinstance(event, dict) else None


class ProgressParser:
    """Bytes as they arrive -> complete events; a partial last line waits for the rest."""

    def __init__(self):
        self._buffer = b""

    def feed(self, data: bytes) -> list[dict]:
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        return [ev for ev in map(parse_progress_line, lines) if ev is not None]

    def reset(self) -> None:
        self._buffer = b""


class JobQueue:
    """The jobs and their state machine. ``events``: ``added(job)``, ``status(job)`` on each
    transition, ``progress(job)`` after each progress event."""

    def __init__(self):
        self.jobs: list[Job] = []
        self.running: Optional[Job] = None
        self.events = EmitterGroup("added", "status", "progress", source=self)

    def add(self, recipe: str, options: dict, dataset: str, out_root: Optional[Path] = None) -> Job:
        """Queue a job; its run folder is ``<out_root>/<time>_<id>_<recipe>``."""
        jid = len(self.jobs) + 1
        out = Path(out_root or runs_dir()) / f"{time.strftime('%Y%m%d-%H%M%S')}_{jid}_{recipe}"
        job = Job(jid, recipe, dict(options), str(dataset), str(out))
        self.jobs.append(job)
        self.events.added(job)
        return job

    def next_queued(self) -> Optional[Job]:
        return next((j for j in self.jobs if j.status == "queued"), None)

    def start_next(self) -> Optional[Job]:
        """The next queued job, now ``running`` (None while one runs or none is queued)."""
        if self.running is not None:
            return None
        job = self.next_queued()
        if job is None:
            return None
        self.running = job
        job.started = time.perf_counter()
        self._set_status(job, "running")
        return job

    def apply_event(self, job: Optional[Job], ev: dict) -> None:
        """A progress event of ``job``'s trainer: step, ETA, losses, checkpoints; "done" /
        "cancelled" end the job at once (the process may take seconds more to exit)."""
        if job is None:
            return
        kind = ev.get("event")
        if kind in ("done", "cancelled") and job.status == "running":
            job.stopped_at = time.perf_counter()
            self._set_status(job, kind)
        if kind == "error":
            job.message = str(ev.get("message", ""))
        if kind == "info":
            job.message = str(ev.get("message", ""))[:MESSAGE_CHARS]
        _update_fields(job, ev)
        self.events.progress(job)

    def note_stderr(self, job: Optional[Job], text: str) -> None:
        """The last line the running job wrote on stderr (a failure's reason)."""
        text = text.strip()
        if text and job is not None:
            job.message = text.splitlines()[-1][:MESSAGE_CHARS]

    def finish(self, job: Job, exit_code: int) -> bool:
        """``job``'s process exited: its final status from its events, a cancel request and
        the exit code. False (nothing done) when ``job`` is not the running one."""
        if job is not self.running:
            return False
        if job.status == "running":  # the process ended without a final event
            job.stopped_at = time.perf_counter()
            if job.cancel_requested_at is not None:
                job.status = "cancelled"
            elif exit_code == 0:
                job.status = "done"
            else:
                job.status = "failed"
        elif job.status == "done" and exit_code != 0:
            job.status = "failed"
        self.running = None
        self.events.status(job)
        return True

    def cancel(self, job: Optional[Job]) -> str:
        """Cancel ``job``: a queued one is dropped ("dropped"); the running one is marked and
        its process must be stopped ("terminate"); else nothing ("")."""
        if job is None:
            return ""
        if job.status == "queued":
            self._set_status(job, "cancelled")
            return "dropped"
        if job is self.running:
            job.cancel_requested_at = time.perf_counter()
            return "terminate"
        return ""

    def cancel_queued(self) -> None:
        for j in self.jobs:
            if j.status == "queued":
                self._set_status(j, "cancelled")

    def latest_final(self) -> Optional[Job]:
        """The newest job with a trained model."""
        return next((j for j in reversed(self.jobs) if j.final), None)

    def _set_status(self, job: Job, status: str) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown job status {status!r}")
        job.status = status
        self.events.status(job)


def _update_fields(job: Job, ev: dict) -> None:
    if ev.get("step") is not None:
        job.step = int(ev["step"])
    if ev.get("total"):
        job.total = int(ev["total"])
    if ev.get("eta_s") is not None:
        job.eta_s = float(ev["eta_s"])
    if ev.get("checkpoint"):
        job.checkpoint = str(ev["checkpoint"])
    if ev.get("final"):
        job.final = str(ev["final"])
    for name, value in (ev.get("losses") or {}).items():
        try:
            value = float(value)
        except (TypeError, ValueError):
            continue  # not a number: no (empty) curve for it either
        job.losses.setdefault(name, []).append((job.step, value))
