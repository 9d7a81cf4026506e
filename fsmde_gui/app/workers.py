"""Background work for the GUI: a QRunnable that runs a function on the thread pool and
reports back through signals (queued to the GUI thread), with cooperative cancel."""
from __future__ import annotations

import threading
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal


_LIVE: set = set()  # tasks queued or running: the pool does not own them (autoDelete off)
_LIVE_LOCK = threading.Lock()


class TaskSignals(QObject):
    done = Signal(object)
    failed = Signal(object)  # the exception
    progress = Signal(int, int)


class Task(QRunnable):
    """Run ``fn(task)`` off the GUI thread; ``task.cancel`` is a threading.Event the function
    may poll and ``task.report(done, total)`` emits progress."""

    def __init__(self, fn: Callable[["Task"], Any]):
        super().__init__()
        self.setAutoDelete(False)
        self.fn = fn
        self.cancel = threading.Event()
        self.signals = TaskSignals()
        self.finished = threading.Event()
        self.started = threading.Event()

    def report(self, done: int, total: int) -> None:
        self.signals.progress.emit(int(done), int(total))

    def run(self) -> None:  # worker thread
        self.started.set()
        try:
            try:
                result = self.fn(self)
            except Exception as exc:  # delivered to the GUI as a value, never a crash
                exc.traceback_text = traceback.format_exc()
                self.finished.set()
                self.signals.failed.emit(exc)
                return
            self.finished.set()
            self.signals.done.emit(result)
        finally:
            with _LIVE_LOCK:
                _LIVE.discard(self)


def frame_pool() -> QThreadPool:
    """One worker for inference (models share the CPU), kept apart from the global pool."""
    pool = QThreadPool()
    pool.setMaxThreadCount(1)
    return pool


def start(pool: QThreadPool, fn, on_done=None, on_failed=None, on_progress=None) -> Task:
    task = Task(fn)
    if on_done is not None:
        task.signals.done.connect(on_done)
    if on_failed is not None:
        task.signals.failed.connect(on_failed)
    if on_progress is not None:
        task.signals.progress.connect(on_progress)
    with _LIVE_LOCK:
        _LIVE.add(task)
    pool.start(task)
    return task


def forget_queued(pool: QThreadPool) -> None:
    """Drop queued (not yet started) tasks, e.g. prefetches for frames the user left."""
    pool.clear()
    with _LIVE_LOCK:
        for t in list(_LIVE):
            if not t.finished.is_set() and not t.started.is_set():
                _LIVE.discard(t)
