"""Background fine-tuning jobs: `fsmde train --progress jsonl` in a subprocess (QProcess),
so the GUI thread never blocks. Queue, progress + ETA, live loss curves, cancel (SIGTERM:
the trainer saves a checkpoint and stops), and one click to load the result as the student.

The jobs, their state machine and the progress parser are ``app_model.jobs`` (Qt-free); this
panel is the form, the QProcess glue and the widgets that show the queue's events."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Callable, Optional

import pyqtgraph as pg
from PySide6.QtCore import QProcess, QProcessEnvironment, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QProgressBar, QPushButton, QSpinBox, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from ..app_model.jobs import Job, JobQueue, ProgressParser, runs_dir
from ..app_model.results import CameraMetrics
from ..models.registry import list_models
from ..paths import PROJECT_ROOT
from ..training.config import apply_overrides
from ..training.recipes import recipe_names

RECIPE_TIPS = {
    "kd": "KD fine-tune of the student from the teacher (CKD + VRKD weights below)",
    "supervised": "student on sparse GT only (the baseline)",
    "teacher": "train the relative-depth teacher (scale-and-shift-invariant loss)",
    "briges-gate": "train only the BriGeS bridging gates (encoders frozen)",
    "reflection-ssl": "reflection-aware self-supervised fine-tune (photometric loss, reflective pixels masked)",
}
KILL_AFTER_MS = 3000
JOB_NICENESS = 10
LOSS_COLOURS = ["#f0a030", "#50c8ff", "#90e070", "#ff6080", "#c080ff", "#ffe060", "#e0e0e0"]


def available_recipes() -> tuple[list[str], Optional[str]]:
    return list(recipe_names()), None


class JobsPanel(QWidget):
    load_student = Signal(str)  # checkpoint path
    job_state = Signal(int, str)  # job id, status

    def __init__(self, dataset_root: Callable[[], Optional[str]], parent=None):
        super().__init__(parent)
        self.dataset_root = dataset_root
        self.queue = JobQueue()  # the jobs and their state machine (Qt-free)
        self.queue.events.status.connect(lambda e: self._job_status(e.value))
        self.queue.events.progress.connect(lambda e: self._job_progress(e.value))
        self.process: Optional[QProcess] = None
        self._parser = ProgressParser()
        self._curves: dict[str, pg.PlotDataItem] = {}
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(self._build_form())
        self._build_controls(lay)
        self._build_views(lay)
        self._recipe_changed(self.recipe.currentText())
        self._update_buttons()

    def _build_form(self) -> QFormLayout:
        """Recipe, start checkpoint, steps, lr, KD weights and free options."""
        form = QFormLayout()
        self.recipe = QComboBox()
        recipes, self.unavailable = available_recipes()
        for r in recipes:
            self.recipe.addItem(r)
            self.recipe.setItemData(self.recipe.count() - 1, RECIPE_TIPS.get(r, r), 3)
        if "kd" in recipes:
            self.recipe.setCurrentText("kd")
        self.recipe.setToolTip("Training recipe (as the engine provides them)")
        self.recipe.currentTextChanged.connect(self._recipe_changed)
        form.addRow("Recipe", self.recipe)
        self.init_from = QComboBox()
        self.init_from.addItem("new student (random weights)", "")
        for row in list_models():
            if row["exists"] and row["name"].startswith("student"):
                self.init_from.addItem(f"fine-tune {row['name']}", row["name"])
        self.init_from.setToolTip("Start the student from a trained one (init_checkpoint): "
                                  "fine-tune a shipped student on the open folder")
        form.addRow("Start from", self.init_from)
        self.steps = QSpinBox()
        self.steps.setRange(1, 1_000_000)
        self.steps.setValue(200)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(6)
        self.lr.setRange(1e-6, 1.0)
        self.lr.setSingleStep(1e-4)
        self.lr.setValue(5e-4)
        self.ckd = QDoubleSpinBox()
        self.ckd.setRange(0, 100)
        self.ckd.setValue(1.0)
        self.ckd.setToolTip("CKD weight (0 disables)")
        self.vrkd = QDoubleSpinBox()
        self.vrkd.setRange(0, 100)
        self.vrkd.setValue(1.0)
        self.vrkd.setToolTip("VRKD weight (0 disables)")
        self.extra = QLineEdit()
        self.extra.setPlaceholderText("more options: key=value key=value (e.g. batch_size=2)")
        self.extra.setToolTip("Any TrainConfig option, as for `fsmde train --set`")
        for pair in ((("steps", self.steps), ("lr", self.lr)), (("CKD", self.ckd), ("VRKD", self.vrkd))):
            row = QHBoxLayout()
            for lbl, w in pair:
                row.addWidget(QLabel(lbl))
                row.addWidget(w, 1)
            form.addRow(row)
        form.addRow("Options", self.extra)
        return form

    def _build_controls(self, lay: QVBoxLayout) -> None:
        """Start / cancel / load buttons and the progress bar."""
        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start / queue")
        self.start_button.setToolTip("Run the job in a background process (queued behind running jobs)")
        self.start_button.clicked.connect(self.start_job)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running job (a checkpoint is kept) or drop the selected queued job")
        self.cancel_button.clicked.connect(self.cancel_selected)
        self.load_button = QPushButton("Load as student")
        self.load_button.setToolTip("Load the selected finished job's model (final.pt) into the student slot;"
                                    " a cancelled job keeps checkpoints/last.pt to resume from")
        self.load_button.clicked.connect(self._load_clicked)
        for b in (self.start_button, self.cancel_button, self.load_button):
            buttons.addWidget(b)
        lay.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.eta = QLabel("no job running")
        prow = QHBoxLayout()
        prow.addWidget(self.progress, 1)
        prow.addWidget(self.eta)
        lay.addLayout(prow)

    def _build_views(self, lay: QVBoxLayout) -> None:
        """The job table, the loss plot, the comparison line and the note."""
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["job", "status", "step", "checkpoint"])
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(19)
        self.table.setSelectionBehavior(QTableWidget.SelectRows)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.setMinimumHeight(48)
        lay.addWidget(self.table, 1)
        self.loss_plot = pg.PlotWidget()
        self.loss_plot.setLabel("bottom", "step")
        self.loss_plot.setLabel("left", "loss")
        self.loss_plot.addLegend(offset=(-5, 5), labelTextSize="8pt")
        self.loss_plot.setMinimumHeight(80)
        lay.addWidget(self.loss_plot, 2)
        self.compare = QLabel("")
        self.compare.setWordWrap(True)
        lay.addWidget(self.compare)
        self.note = QLabel(self.unavailable or "")
        self.note.setStyleSheet("color: #f0b050;")
        self.note.setWordWrap(True)
        lay.addWidget(self.note)

    # ------------------------------------------------------------------ job creation
    def _recipe_changed(self, recipe: str) -> None:
        kd = recipe == "kd"
        self.ckd.setEnabled(kd)
        self.vrkd.setEnabled(kd)
        self.init_from.setEnabled(recipe in ("kd", "supervised"))

    def options(self) -> dict:
        opts = {"steps": self.steps.value(), "lr": self.lr.value(), "num_threads": 1}
        if self.recipe.currentText() == "kd":
            opts["ckd_weight"] = self.ckd.value()
            opts["vrkd_weight"] = self.vrkd.value()
        if self.init_from.currentData() and self.recipe.currentText() in ("kd", "supervised"):
            opts["init_checkpoint"] = self.init_from.currentData()
        pairs = [p for p in self.extra.text().split() if p]
        return apply_overrides(opts, pairs)

    def start_job(self, options: Optional[dict] = None) -> Optional[Job]:
        root = self.dataset_root()
        if self.unavailable:
            self.note.setText(self.unavailable)
            return None
        if not root:
            self.note.setText("not available: open a dataset first")
            return None
        try:
            opts = self.options() if not options else options
        except Exception as exc:
            self.note.setText(f"bad options: {exc}")
            return None
        job = self.queue.add(self.recipe.currentText(), opts, str(root), runs_dir())
        self.note.setText("")
        self._refresh_table()
        self._start_next()
        return job

    # ------------------------------------------------------------------ process
    @property
    def jobs(self) -> list[Job]:
        return self.queue.jobs

    @property
    def running(self) -> Optional[Job]:
        return self.queue.running

    def _start_next(self) -> None:
        job = self.queue.start_next()
        if job is None:
            return
        self._parser.reset()
        self.loss_plot.clear()
        self._curves = {}
        proc = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        env.insert("OMP_NUM_THREADS", "1")
        proc.setProcessEnvironment(env)
        proc.setWorkingDirectory(str(PROJECT_ROOT))
        proc.readyReadStandardOutput.connect(self._read_output)
        proc.readyReadStandardError.connect(lambda: self._read_stderr(proc))
        proc.finished.connect(lambda code, status, j=job: self._finished(j, code))
        proc.errorOccurred.connect(lambda err, j=job: self._process_error(j, err))
        self.process = proc
        Path(job.out).mkdir(parents=True, exist_ok=True)
        nice = shutil.which("nice")
        if nice:  # background priority: the GUI wins the CPU when both want it
            proc.start(nice, ["-n", str(JOB_NICENESS), sys.executable] + job.arguments())
        else:
            proc.start(sys.executable, job.arguments())
        self.progress.setValue(0)
        self.eta.setText(f"job {job.id} ({job.recipe}) starting…")

    def _read_stderr(self, proc: QProcess) -> None:
        text = bytes(proc.readAllStandardError()).decode(errors="replace")
        self.queue.note_stderr(self.running, text)

    def _read_output(self) -> None:
        if self.process is None:
            return
        try:
            data = bytes(self.process.readAllStandardOutput())
        except RuntimeError:  # the QProcess was already deleted (window closing)
            return
        for event in self._parser.feed(data):
            self.queue.apply_event(self.running, event)

    def _job_status(self, job: Job) -> None:
        self.job_state.emit(job.id, job.status)
        self._refresh_table()

    def _job_progress(self, job: Job) -> None:
        if job.percent is not None:
            self.progress.setValue(job.percent)
        self.eta.setText(job.progress_text())
        self._plot_losses(job)
        self._refresh_table()

    def _plot_losses(self, job: Job) -> None:
        for k, (name, pts) in enumerate(sorted(job.losses.items())):
            xs = [p[0] for p in pts]
            ys = [p[1] for p in pts]
            curve = self._curves.get(name)
            if curve is None:
                curve = self.loss_plot.plot([], [], pen=pg.mkPen(LOSS_COLOURS[k % len(LOSS_COLOURS)], width=1.5),
                                            name=name)
                self._curves[name] = curve
            curve.setData(xs, ys)

    def _process_error(self, job: Job, err) -> None:
        if err == QProcess.FailedToStart:
            job.message = f"cannot start {sys.executable}"
            self._finished(job, -1)

    def _finished(self, job: Job, code: int) -> None:
        if job is not self.running:
            return
        self._read_output()
        self.process = None
        self.queue.finish(job, code)  # -> status event: table, job_state
        if job.status == "done":
            self.progress.setValue(100)
        self.eta.setText(job.status_text())
        self._start_next()

    # ------------------------------------------------------------------ user actions
    def selected_job(self) -> Optional[Job]:
        rows = {i.row() for i in self.table.selectedItems()}
        if rows:
            return self.jobs[min(rows)]
        return self.running

    def cancel_selected(self) -> None:
        job = self.selected_job()
        if job is self.running and self.process is not None:
            self.cancel_job()
        elif job is not None and job.status == "queued":
            self.queue.cancel(job)  # dropped before it ran

    def cancel_job(self) -> None:
        """SIGTERM the running job (its trainer saves a checkpoint); kill it if it hangs."""
        job, proc = self.running, self.process
        if job is None or proc is None:
            return
        self.queue.cancel(job)
        self.eta.setText(f"job {job.id}: cancelling…")
        proc.terminate()

        def kill_if_stuck(p=proc, j=job):
            # no "cancelled" event yet: the trainer is stuck in a step -> kill it; after the
            # event it is only tearing down, give it longer before killing
            if p.state() == QProcess.NotRunning:
                return
            if j.status == "running":
                p.kill()
            else:
                QTimer.singleShot(4 * KILL_AFTER_MS, lambda: p.kill() if p.state() != QProcess.NotRunning else None)

        QTimer.singleShot(KILL_AFTER_MS, kill_if_stuck)

    def _load_clicked(self) -> None:
        job = self.selected_job()
        if job is None or not job.final:
            job = self.queue.latest_final()
        if job is not None and job.final:
            self.load_student.emit(job.final)

    def show_comparison(self, before: Optional[CameraMetrics], after: Optional[CameraMetrics],
                        label: str) -> None:
        def fmt(m):
            return "—" if m is None else f"AbsRel {m.abs_rel:.3f}, RMSE {m.rmse:.2f} m, δ1 {m.a1:.3f}"

        self.compare.setText(f"<b>student ← {label}</b><br>before: {fmt(before)}<br>after: &nbsp;{fmt(after)}")

    def shutdown(self) -> None:
        """Stop any running job when the window closes (no orphan trainers)."""
        self.queue.cancel_queued()
        if self.process is not None:
            self.cancel_job()
            if not self.process.waitForFinished(KILL_AFTER_MS):
                self.process.kill()
                self.process.waitForFinished(1000)

    def _update_buttons(self) -> None:
        job = self.selected_job()
        self.load_button.setEnabled(any(j.final for j in self.jobs))
        self.cancel_button.setEnabled(job is not None and job.status in ("queued", "running"))
        self.start_button.setEnabled(not self.unavailable)
        if self.unavailable:
            self.start_button.setToolTip(self.unavailable)

    def _refresh_table(self) -> None:
        self.table.blockSignals(True)
        self.table.setRowCount(len(self.jobs))
        for r, j in enumerate(self.jobs):
            vals = [f"{j.id} {j.recipe}", j.status, f"{j.step}/{j.total or '?'}",
                    Path(j.final).name if j.final else (Path(j.checkpoint).name if j.checkpoint else "")]
            for c, v in enumerate(vals):
                item = QTableWidgetItem(v)
                if c == 1 and j.message:
                    item.setToolTip(j.message)
                self.table.setItem(r, c, item)
        self.table.blockSignals(False)
        self._update_buttons()
