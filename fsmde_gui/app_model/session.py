"""The app's one door to the engine: dataset, model slots, per-frame cache (thread-safe).

A ``Session`` opens a dataset folder (auto-detected by ``fsmde_gui.data.detect``) at a
display size (large real images are downscaled: 1600x900 -> 640x360), loads the student
and teacher estimators by name or checkpoint, and returns a cached ``FrameAnalysis`` per
(scene, frame). Workers call :meth:`analysis` from a thread pool; the GUI only reads.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Optional

from ..core.errors import DatasetError
from ..data.detect import open_dataset
from ..models.inference import DepthEstimator
from ..models.reflection_model import default_reflection_model_path, predict_reflection
from ..paths import SAMPLE_SCENES  # noqa: F401  (the app's default dataset)
from ..models.roles import ROLES
from .analysis import FrameAnalysis, _reason, analyse_frame

DEFAULT_STUDENT = ("student_kd", "student_supervised")
DEFAULT_TEACHER = ("teacher_sim",)
MAX_DISPLAY_WIDTH = 640
CACHE_FRAMES = 12



def display_size(width: int, height: int, max_width: int = MAX_DISPLAY_WIDTH) -> Optional[tuple[int, int]]:
    """(W, H) to load at, or None to keep the native size (already small enough)."""
    if width <= max_width:
        return None
    scale = max_width / width
    return max_width, int(round(height * scale / 2) * 2)


class Session:
    def __init__(self, student: str | Path | None = None, teacher: str | Path | None = None,
                 max_display_width: int = MAX_DISPLAY_WIDTH, load_models: bool = True):
        self.dataset = None
        self.root: Optional[Path] = None
        self.max_display_width = max_display_width
        self._cache: "OrderedDict[tuple, FrameAnalysis]" = OrderedDict()
        self._cache_lock = threading.Lock()
        self._model_lock = threading.Lock()  # one inference at a time (torch threads are few)
        self._key_locks: dict[tuple, threading.Lock] = {}
        self._pairs_cache: dict = {}
        self.estimators: dict[str, Any] = {}
        self.notes: dict[str, str] = {}
        self.model_labels: dict[str, str] = {}
        self.generation = 0  # bumps when models change: stale analyses are dropped
        if load_models:
            self.set_model("student", student or DEFAULT_STUDENT)
            self.set_model("teacher", teacher or DEFAULT_TEACHER)

    # ------------------------------------------------------------------ data
    def open(self, path: str | Path, version: Optional[str] = None,
             scenes: Optional[list[str]] = None) -> None:
        """Open a dataset folder; raises ``DatasetError`` (naming the folder) when it cannot.
        ``version`` / ``scenes``: see :func:`~fsmde_gui.data.detect.open_dataset`."""
        path = Path(path).expanduser()
        if not path.exists():
            raise DatasetError(path, "folder does not exist")
        if not path.is_dir():
            raise DatasetError(path, "is not a folder")
        ds = open_dataset(path, version=version, scenes=scenes)
        if not ds.scenes:
            raise DatasetError(path, "the dataset has no scenes")
        # open_dataset refuses a folder without frames; empty scenes may come first
        first = ds.frame(ds.first_scene_with_frames(), 0, load_gt=False)
        h, w = first.views[0].hw
        display_wh = display_size(w, h, self.max_display_width)
        if display_wh is not None:
            ds = open_dataset(path, image_size=display_wh, version=version, scenes=scenes)
        self.dataset = ds
        self.root = path
        with self._cache_lock:
            self._cache.clear()

    @property
    def scenes(self) -> list:
        return list(self.dataset.scenes) if self.dataset is not None else []

    def num_frames(self, scene: int) -> int:
        return int(self.scenes[scene].num_frames) if self.dataset is not None else 0

    # ------------------------------------------------------------------ models
    def set_model(self, slot: str, spec) -> bool:
        """Load a model into ``slot`` ("student"/"teacher") from a registry name, a tuple of
        names (first that loads) or a checkpoint path; a model of the other kind (a teacher
        as student, the semantic net) does not load. Returns False and records a note."""
        specs = list(spec) if isinstance(spec, (tuple, list)) else [spec]
        role = slot if slot in ROLES else None
        last = "not available: no model given"
        for s in specs:
            p = Path(str(s))
            try:
                est = DepthEstimator.from_name(str(s), role=role)
            except Exception as exc:  # CheckpointError, a broken file, ...
                last = _reason(exc)
                continue
            with self._model_lock:
                self.estimators[slot] = est
                self.notes.pop(slot, None)
                self.model_labels[slot] = p.name if (p.suffix or p.exists()) else str(s)
                self._invalidate()
            return True
        self.notes[slot] = last
        self.estimators.pop(slot, None)
        return False

    def _invalidate(self) -> None:
        self.generation += 1
        with self._cache_lock:
            self._cache.clear()

    # ------------------------------------------------------------------ frames
    def cached(self, scene: int, index: int) -> Optional[FrameAnalysis]:
        with self._cache_lock:
            return self._cache.get((self.generation, scene, index))

    def analysis(self, scene: int, index: int) -> FrameAnalysis:
        """The analysis of one frame (computed once; concurrent callers wait for it)."""
        if self.dataset is None:
            raise DatasetError(None, "no dataset is open")
        n = self.num_frames(scene)
        if not 0 <= index < n:
            raise DatasetError(self.root, f"frame {index} is out of range (scene has {n} frames)")
        key = (self.generation, scene, index)
        with self._cache_lock:
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:
            hit = self.cached(scene, index)
            if hit is not None:
                return hit
            frame = self.dataset.frame(scene, index)
            with self._model_lock:
                estimators = dict(self.estimators)
                a = analyse_frame(frame, estimators, estimator_notes=dict(self.notes),
                                  reflection_fn=_reflection_predictor(),
                                  pairs_cache=self._pairs_cache, defer_reflection=True)
            with self._cache_lock:
                self._cache[key] = a
                while len(self._cache) > CACHE_FRAMES:
                    self._cache.popitem(last=False)
                self._key_locks.pop(key, None)
            return a


    def reflection(self, a: FrameAnalysis) -> FrameAnalysis:
        """Compute a frame's deferred reflection mask (thread-safe; no-op when done)."""
        with self._model_lock:
            a.ensure_reflection()
        return a


def _reflection_predictor():
    """The reflection predictor, or one that says the shipped checkpoint is missing."""
    if not default_reflection_model_path().exists():
        return _missing_reflection_model
    return predict_reflection


def _missing_reflection_model(frame):
    raise FileNotFoundError(f"no reflection model at {default_reflection_model_path().name} "
                            "(train it with `make models`)")
