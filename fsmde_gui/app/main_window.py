"""The FSMDE Studio main window: data + timeline, six tiles with a mode bar, student/teacher
metrics, fused 3D cloud, cross-view consistency, bin distributions, jobs and export."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QByteArray, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QDockWidget, QDoubleSpinBox,
                               QFileDialog, QFrame, QLabel, QMainWindow, QMessageBox, QProgressBar,
                               QPushButton, QScrollArea, QSlider, QSplitter, QToolBar, QToolButton,
                               QWidget)

from ..app_model.display_prep import prepare_display
from ..app_model.tiles import MODE_LABELS, MODE_TIPS, MODES
from ..app_model.viewer import ViewerState
from ..core.errors import FsmdeError
from ..export.frame_export import export_frame
from ..export.sequence_export import export_sequence
from . import workers
from .bin_plot import BinPlot
from .cloud_view import PRESETS, CloudView
from .consistency_panel import ConsistencyPanel
from .jobs_panel import JobsPanel
from .metrics_panel import MetricsPanel
from .settings import add_recent_folder, app_settings, recent_folders
from .state_binding import StateBinding
from .tile_fit import fit_tiles
from .tile_grid import TileGrid


class MainWindow(StateBinding, QMainWindow):
    frame_displayed = Signal(int, int)  # scene, index: everything for that frame is drawn
    error_shown = Signal(str)

    def __init__(self, session, settings=None, headless: bool = False):
        super().__init__()
        self.session = session
        self.headless = headless  # screenshots: errors are signalled (error_shown), no dialog
        self.settings = settings or app_settings()
        self.pool = workers.frame_pool()
        self.aux_pool = workers.frame_pool()  # on-demand extras (reflection masks)
        self._reflection_tasks: dict = {}
        self.state = ViewerState()  # scene, frame, mode, split, ...: the widgets follow it
        self.analysis = None
        self.displayed = None
        self._display_token = 0
        self._layout_done = False
        self._fit_pending = False  # size the docks to the tiles at the next frame shown
        self.last_error: Optional[str] = None
        self._pending: dict[tuple, workers.Task] = {}
        self._export_task: Optional[workers.Task] = None
        self._requested_at = 0.0
        self.last_latency_ms: Optional[float] = None
        self.setWindowTitle("FSMDE Studio")
        self._build_central()
        self._build_docks()
        self._build_toolbars()
        self._build_menus()
        self._build_statusbar()
        self.play_timer = QTimer(self)
        self.play_timer.timeout.connect(self._play_tick)
        self.state.interval_ms = int(1000 / self.rate.value())
        self.state.boxes = str(self.settings.value("view/boxes", "false")).lower() == "true"
        saved_mode = self.settings.value("view/mode")
        self.state.mode = str(saved_mode) if saved_mode in MODES else "student"
        self._connect_state()
        self.resize(1600, 1000)
        geo = self.settings.value("window/geometry")
        if isinstance(geo, QByteArray):
            self.restoreGeometry(geo)
        state = self.settings.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        self._sync_widgets()

    # ================================================================== the viewer state
    @property
    def scene(self) -> int:
        return self.state.scene

    @property
    def index(self) -> int:
        return self.state.frame

    @property
    def mode(self) -> str:
        return self.state.mode

    @property
    def highlight_pair(self):
        return self.state.highlight_pair

    # ================================================================== construction
    def _build_central(self):
        self.grid = TileGrid()
        self.teacher_grid = TileGrid()
        self.teacher_grid.setVisible(False)
        for g in (self.grid, self.teacher_grid):
            g.hovered.connect(self._hovered)
            g.clicked.connect(self.select_pixel)
        split = QSplitter(Qt.Vertical)  # student above teacher: tiles keep their width
        split.addWidget(self.grid)
        split.addWidget(self.teacher_grid)
        self.setCentralWidget(split)

    def _dock(self, title: str, widget: QWidget, area, name: str) -> QDockWidget:
        d = QDockWidget(title, self)
        d.setObjectName(name)
        d.setWidget(widget)
        d.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable | QDockWidget.DockWidgetClosable)
        self.addDockWidget(area, d)
        return d

    def _build_docks(self):
        self.cloud = CloudView()
        self.bins = BinPlot()
        self.metrics = MetricsPanel()
        self.consistency = ConsistencyPanel()
        self.jobs = JobsPanel(dataset_root=lambda: str(self.session.root) if self.session.root else None)
        self.cloud_dock = self._dock("Fused 360° point cloud", self.cloud, Qt.RightDockWidgetArea, "cloud")
        self.bins_dock = self._dock("Bin distributions", self.bins, Qt.RightDockWidgetArea, "bins")
        self.metrics_dock = self._dock("Student vs teacher", self.metrics, Qt.BottomDockWidgetArea, "metrics")
        self.cons_dock = self._dock("Cross-view consistency", self.consistency, Qt.BottomDockWidgetArea, "consistency")
        jobs_scroll = QScrollArea()  # the form scrolls when the tiles take the height
        jobs_scroll.setWidget(self.jobs)
        jobs_scroll.setWidgetResizable(True)
        jobs_scroll.setFrameShape(QFrame.NoFrame)
        self.jobs_dock = self._dock("Jobs", jobs_scroll, Qt.BottomDockWidgetArea, "jobs")
        # the right column (3D view, bin plots) runs the full height of the window
        self.setCorner(Qt.TopRightCorner, Qt.RightDockWidgetArea)
        self.setCorner(Qt.BottomRightCorner, Qt.RightDockWidgetArea)
        self.splitDockWidget(self.cloud_dock, self.bins_dock, Qt.Vertical)
        self.splitDockWidget(self.metrics_dock, self.cons_dock, Qt.Horizontal)
        self.splitDockWidget(self.cons_dock, self.jobs_dock, Qt.Horizontal)
        self.consistency.pair_selected.connect(self._pair_selected)  # -> state.highlight_pair
        self.bins.pins_changed.connect(self._update_markers)
        self.jobs.load_student.connect(self.load_student_checkpoint)

    def _build_toolbars(self):
        tb = QToolBar("Timeline")
        tb.setObjectName("timeline")
        self.addToolBar(Qt.TopToolBarArea, tb)
        tb.addWidget(QLabel(" Scene "))
        self.scene_box = QComboBox()
        self.scene_box.setToolTip("Scenes of the open dataset")
        self.scene_box.setMinimumWidth(150)
        self.scene_box.currentIndexChanged.connect(lambda i: self.go_to(i, 0) if i >= 0 else None)
        tb.addWidget(self.scene_box)
        self.prev_button = QToolButton(text="◀")
        self.prev_button.setToolTip("Previous frame (Left)")
        self.prev_button.clicked.connect(lambda: self.step(-1))
        self.play_button = QToolButton(text="▶ Play")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Play / pause (Space)")
        self.play_button.toggled.connect(self.set_playing)
        self.next_button = QToolButton(text="▶")
        self.next_button.setToolTip("Next frame (Right)")
        self.next_button.clicked.connect(lambda: self.step(1))
        for w in (self.prev_button, self.play_button, self.next_button):
            tb.addWidget(w)
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setMinimumWidth(260)
        self.slider.setToolTip("Timeline: frame of the scene")
        self.slider.valueChanged.connect(lambda v: self.go_to(self.scene, v) if v != self.index else None)
        tb.addWidget(self.slider)
        self.frame_label = QLabel(" frame –/– ")
        tb.addWidget(self.frame_label)
        tb.addWidget(QLabel(" rate "))
        self.rate = QDoubleSpinBox()
        self.rate.setRange(0.2, 30.0)
        self.rate.setValue(2.0)
        self.rate.setSuffix(" fps")
        self.rate.setToolTip("Playback rate")
        self.rate.valueChanged.connect(self._rate_changed)
        tb.addWidget(self.rate)

        mb = QToolBar("Modes")
        mb.setObjectName("modes")
        self.addToolBarBreak()
        self.addToolBar(Qt.TopToolBarArea, mb)
        self.mode_group = QButtonGroup(self)
        self.mode_group.setExclusive(True)
        self.mode_buttons = {}
        for k, m in enumerate(MODES):
            b = QToolButton(text=MODE_LABELS[m])
            b.setCheckable(True)
            b.setToolTip(f"{MODE_TIPS[m]} (key {k + 1})")
            b.clicked.connect(lambda _=False, mode=m: self.set_mode(mode))
            act = QAction(self, shortcut=QKeySequence(str(k + 1)),
                          triggered=lambda _=False, mode=m: self.set_mode(mode))
            self.addAction(act)
            self.mode_group.addButton(b)
            mb.addWidget(b)
            self.mode_buttons[m] = b
        mb.addSeparator()
        self.split_box = QCheckBox("Student | Teacher")
        self.split_box.setToolTip("Show the teacher's tiles beside the student's for the same frame;"
                                  " in reflection mode, the GT mask beside the prediction (S)")
        self.split_box.setShortcut(QKeySequence("S"))
        self.split_box.toggled.connect(self.set_split)  # -> state.split
        mb.addWidget(self.split_box)
        self.heat_box = QCheckBox("Overlap heat")
        self.heat_box.setToolTip("Tint each overlap band by its pair's cross-view consistency (H)")
        self.heat_box.setShortcut(QKeySequence("H"))
        self.heat_box.toggled.connect(lambda on: setattr(self.state, "overlap_heat", on))
        mb.addWidget(self.heat_box)
        self.boxes_box = QCheckBox("3D boxes")
        self.boxes_box.setToolTip("Draw the frame's 3D boxes (annotations) into the camera tiles,"
                                  " coloured by class, front face crossed (B)")
        self.boxes_box.setShortcut(QKeySequence("B"))
        self.boxes_box.toggled.connect(self._boxes_toggled)
        mb.addWidget(self.boxes_box)

    def _build_menus(self):
        m = self.menuBar().addMenu("&File")
        a = QAction("&Open folder…", self, shortcut=QKeySequence.Open, triggered=self._open_dialog)
        a.setToolTip("Open a nuScenes, DDAD or simulator dataset folder (auto-detected)")
        m.addAction(a)
        self.recent_menu = m.addMenu("Open &recent")
        self._fill_recent()
        m.addSeparator()
        m.addAction(QAction("Export &frame (PNG, PLY, JSON)…", self, shortcut=QKeySequence("Ctrl+E"),
                            triggered=self._export_frame_dialog))
        m.addAction(QAction("Export &scene (PNG sequence + MP4)…", self, shortcut=QKeySequence("Ctrl+Shift+E"),
                            triggered=self._export_scene_dialog))
        m.addSeparator()
        m.addAction(QAction("&Quit", self, shortcut=QKeySequence.Quit, triggered=self.close))
        mm = self.menuBar().addMenu("&Models")
        mm.addAction(QAction("Load &student checkpoint…", self,
                             triggered=lambda: self._checkpoint_dialog("student")))
        mm.addAction(QAction("Load student &ONNX model…", self,
                             toolTip="A student exported by `fsmde export-model` (ONNX Runtime)",
                             triggered=lambda: self._checkpoint_dialog("student", onnx=True)))
        mm.addAction(QAction("Load &teacher checkpoint…", self,
                             triggered=lambda: self._checkpoint_dialog("teacher")))
        vm = self.menuBar().addMenu("&View")
        for name in PRESETS:
            vm.addAction(QAction(f"3D view: {name}", self, triggered=lambda _=False, n=name: self.cloud.set_preset(n)))
        vm.addSeparator()
        self.boxes_action = QAction("3D boxes in the camera tiles", self, checkable=True)
        self.boxes_action.toggled.connect(self._boxes_toggled)
        vm.addAction(self.boxes_action)
        vm.addAction(QAction("Fit the tiles to the window", self,
                             triggered=lambda: fit_tiles(self)))
        vm.addSeparator()
        for d in (self.cloud_dock, self.bins_dock, self.metrics_dock, self.cons_dock, self.jobs_dock):
            vm.addAction(d.toggleViewAction())
        for key, fn in (("Left", lambda: self.step(-1)), ("Right", lambda: self.step(1)),
                        ("Space", lambda: self.play_button.toggle()), ("P", self.bins.pin_current),
                        ("T", self._toggle_student_teacher)):
            act = QAction(self, shortcut=QKeySequence(key), triggered=fn)
            act.setShortcutContext(Qt.WindowShortcut)
            self.addAction(act)

    def _build_statusbar(self):
        sb = self.statusBar()
        self.hover_label = QLabel("")
        sb.addWidget(self.hover_label, 1)
        self.export_progress = QProgressBar()
        self.export_progress.setMaximumWidth(180)
        self.export_progress.setVisible(False)
        self.export_cancel = QPushButton("Cancel export")
        self.export_cancel.setVisible(False)
        self.export_cancel.clicked.connect(self.cancel_export)
        sb.addPermanentWidget(self.export_progress)
        sb.addPermanentWidget(self.export_cancel)
        self.timing_label = QLabel("")
        self.timing_label.setToolTip("Inference time per frame (6 views) of each model, and the latency"
                                     " of the last frame change")
        sb.addPermanentWidget(self.timing_label)

    # ================================================================== data
    def _fill_recent(self):
        self.recent_menu.clear()
        items = recent_folders(self.settings)
        for f in items:
            self.recent_menu.addAction(QAction(f, self, triggered=lambda _=False, p=f: self.open_folder(p)))
        self.recent_menu.setEnabled(bool(items))

    def _open_dialog(self):
        d = QFileDialog.getExistingDirectory(self, "Open dataset folder", str(self.session.root or Path.home()))
        if d:
            self.open_folder(d)

    def open_folder(self, path, scene: int = 0, frame: int = 0, version=None, scenes=None) -> bool:
        """Open a dataset (``version`` / ``scenes``: a nuScenes release, a scene subset); a bad
        folder shows a dialog and leaves the current data open."""
        try:
            self.session.open(path, version=version, scenes=scenes)
        except Exception as exc:  # DatasetError and anything an adapter raises
            self.show_error(f"Cannot open {path}", exc)
            return False
        self.show_dataset(path, scene, frame)
        return True

    def show_dataset(self, path, scene: int = 0, frame: int = 0) -> None:
        """Show the dataset the session has just opened (at ``path``), at ``scene``/``frame``."""
        add_recent_folder(self.settings, path)
        self._fill_recent()
        self._fit_pending = True
        workers.forget_queued(self.pool)
        self._pending.clear()
        self.scene_box.blockSignals(True)
        self.scene_box.clear()
        for i, s in enumerate(self.session.scenes):
            self.scene_box.addItem(f"{s.name} ({s.num_frames})" if s.num_frames
                                   else f"{s.name} (no frames)")
            if not s.num_frames:  # listed, so that the user sees it is there, but not choosable
                self.scene_box.model().item(i).setEnabled(False)
        self.scene_box.blockSignals(False)
        self.setWindowTitle(f"FSMDE Studio — {Path(path).name} ({getattr(self.session.dataset, 'format_name', '')})")
        counts = [self.session.num_frames(i) for i in range(len(self.session.scenes))]
        self.state.set_dataset(counts, scene, frame)  # position event: the frame is loaded
        self._show_scene()

    def show_error(self, title: str, exc) -> None:
        text = str(exc) if isinstance(exc, FsmdeError) else f"{type(exc).__name__}: {exc}"
        self.last_error = text
        self.statusBar().showMessage(f"{title}: {text}", 15000)
        if self.headless:  # nobody to click OK: the caller ends on error_shown
            self.error_shown.emit(text)
            return
        box = QMessageBox(QMessageBox.Warning, title, text, QMessageBox.Ok, self)
        box.setObjectName("error_dialog")
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.open()  # window-modal, does not block the event loop
        self.error_shown.emit(text)

    # ================================================================== frames
    def go_to(self, scene: int, index: int) -> None:
        """Show frame ``index`` of ``scene`` (clamped into the scene): a state change, or a
        reload of the frame when it is the current one (new models, a dropped prefetch)."""
        if self.session.dataset is None:
            return
        if self.session.num_frames(scene) == 0:
            return
        if not self.state.go_to(scene, int(index)):
            self._load_current()

    def _load_current(self) -> None:
        """Draw the state's frame: at once from the cache, else when its analysis is ready."""
        scene, index = self.state.position
        n = self.state.num_frames
        if self.session.dataset is None or n == 0:
            return
        self._requested_at = time.perf_counter()
        self.slider.blockSignals(True)
        self.slider.setRange(0, n - 1)
        self.slider.setValue(index)
        self.slider.blockSignals(False)
        self.frame_label.setText(f" frame {index + 1}/{n} ")
        hit = self.session.cached(scene, index)
        if hit is not None:
            self.display(hit)
            return
        self.statusBar().showMessage(f"running the models on frame {index}…")
        workers.forget_queued(self.pool)  # drop queued prefetches for frames the user left
        # keep only tasks that are running: queued ones were just dropped and will never run
        self._pending = {k: t for k, t in self._pending.items()
                         if t.started.is_set() and not t.finished.is_set()}
        self._request(scene, index)

    def _request(self, scene: int, index: int) -> None:
        key = (self.session.generation, scene, index)
        if key in self._pending and not self._pending[key].finished.is_set():
            return
        session = self.session
        panes, opts = self.state.panes(), self.state.tile_options()
        # the worker also draws the tiles of the current panes and the bin layout: showing a
        # prefetched frame then only paints
        task = workers.start(self.pool, lambda t: prepare_display(session.analysis(scene, index),
                                                                  panes, **opts),
                             on_done=lambda a, k=key: self._analysis_ready(k, a),
                             on_failed=lambda e, k=key: self._analysis_failed(k, e))
        self._pending[key] = task

    def _analysis_ready(self, key, a) -> None:
        self._pending.pop(key, None)
        if key == (self.session.generation, self.scene, self.index):
            self.display(a)

    def _analysis_failed(self, key, exc) -> None:
        self._pending.pop(key, None)
        if key[1:] == (self.scene, self.index):
            self.show_error(f"Frame {key[2]} of scene {key[1]}", exc)

    def display(self, a) -> None:
        """Draw a frame in two short stages (tiles + tables, then plots + the 3D cloud),
        returning to the event loop in between so input is never blocked for the whole draw.
        ``frame_displayed`` is emitted when the last stage is done."""
        self.analysis = a
        self._display_token += 1
        token = self._display_token
        self.statusBar().clearMessage()
        self.redraw_tiles()
        self.metrics.set_analysis(a)
        self.consistency.set_analysis(a)
        if self._fit_pending:
            self._fit_pending = False
            fit_tiles(self)
        QTimer.singleShot(0, lambda: self._display_plots(a, token))

    def _display_plots(self, a, token: int) -> None:
        if token != self._display_token:
            return  # a newer frame is being drawn
        self.bins.show_views(a.view_bin_mass(), a.note("student"))
        if self.bins.current is not None:
            cam, x, y, _ = self.bins.current
            self.select_pixel(cam, x, y)
        self.cloud.set_analysis(a)
        self.displayed = (self.scene, self.index)
        ms = " · ".join(f"{m} {v:.0f} ms" for m, v in a.infer_ms.items()) or "no models"
        self.last_latency_ms = (time.perf_counter() - self._requested_at) * 1000.0
        self.timing_label.setText(f"inference: {ms} · frame shown in {self.last_latency_ms:.0f} ms")
        self.frame_displayed.emit(self.scene, self.index)
        self._prefetch()

    def _prefetch(self) -> None:
        nxt = self.index + 1
        if nxt < self.session.num_frames(self.scene) and self.session.cached(self.scene, nxt) is None:
            self._request(self.scene, nxt)

    def prefetch(self, scene: int, index: int):
        """Analyse a frame and draw its tiles in the background, as stepping forward does;
        returns the worker task (``task.finished`` is set when the frame is ready)."""
        self._request(scene, index)
        return self._pending[(self.session.generation, scene, index)]

    def step(self, delta: int) -> None:
        self.go_to(self.scene, self.index + delta)

    def set_playing(self, on: bool) -> None:
        self.state.playing = on

    def _rate_changed(self, fps: float) -> None:
        self.state.interval_ms = int(1000 / fps)

    def _play_tick(self) -> None:
        if self.displayed != (self.scene, self.index):
            return  # previous frame still computing: do not queue up
        n = self.session.num_frames(self.scene)
        self.go_to(self.scene, (self.index + 1) % max(n, 1))

    # ================================================================== modes & drawing
    def set_mode(self, mode: str) -> None:
        """Show the tiles in ``mode`` (ValueError for a mode the registry does not have)."""
        self.state.mode = mode

    def _toggle_student_teacher(self) -> None:
        self.state.toggle_student_teacher()

    def set_split(self, on: bool) -> None:
        """Side by side: student | teacher for the depth modes, prediction | GT for reflection."""
        self.state.split = on

    def _boxes_toggled(self, on: bool) -> None:
        self.state.boxes = on

    def redraw_tiles(self) -> None:
        a = self.analysis
        if a is None:
            return
        st = self.state
        left, right = st.panes()
        if left == "reflection" and a.reflection_pending:
            self._request_reflection(a)
        opts = st.tile_options()
        self.grid.show_analysis(a, left, **opts)
        if right is not None:
            self.teacher_grid.show_analysis(a, right, **opts)
        self._update_markers()

    def _request_reflection(self, a) -> None:
        """The reflection mask is slow: computed on demand, on its own worker."""
        if id(a) in self._reflection_tasks:
            return
        session = self.session

        def done(result, a=a):
            self._reflection_tasks.pop(id(a), None)
            if self.analysis is a:
                self.redraw_tiles()

        def failed(exc, a=a):
            self._reflection_tasks.pop(id(a), None)
            a.reflection_fn = None
            a.unavailable["reflection"] = f"not available: {exc}"
            if self.analysis is a:
                self.redraw_tiles()

        self._reflection_tasks[id(a)] = workers.start(self.aux_pool, lambda t: session.reflection(a),
                                                      on_done=done, on_failed=failed)

    def _update_markers(self) -> None:
        marks = self.bins.markers()
        self.grid.set_markers(marks)
        self.teacher_grid.set_markers(marks)

    def _hovered(self, cam: int, x: int, y: int) -> None:
        if self.analysis is None:
            return
        v = self.analysis.values_at(cam, x, y)

        def m(val):
            return "—" if val is None else f"{val:.2f} m"

        parts = [f"{v['camera']} ({v['x']}, {v['y']})", f"student {m(v['student'])}",
                 f"teacher {m(v['teacher'])}", f"GT {m(v['gt'])}"]
        if "class" in v:
            parts.append(f"class {v['class']}")
        if "reflective" in v:
            parts.append("reflective" if v["reflective"] else "not reflective")
        if "reflective_gt" in v:
            parts.append(f"GT {'reflective' if v['reflective_gt'] else 'not reflective'}")
        self.hover_label.setText("   ".join(parts))

    def select_pixel(self, cam: int, x: int, y: int) -> None:
        """Show the bin distributions at pixel (x, y) of camera ``cam`` (a click on a tile)."""
        if self.analysis is None:
            return
        self.bins.show_pixel(cam, x, y, self.analysis.bins_at(cam, x, y), self.analysis.note("student"))
        self._update_markers()

    def _pair_selected(self, pair) -> None:
        self.state.highlight_pair = pair

    # ================================================================== models
    def _checkpoint_dialog(self, slot: str, onnx: bool = False) -> None:
        filters = "Checkpoints (*.pt *.pth *.ckpt *.safetensors)"
        if slot == "student":  # exported students run by ONNX Runtime (Session -> from_onnx)
            onnx_filter = "ONNX students (*.onnx)"
            filters = f"{onnx_filter};;{filters}" if onnx else f"{filters};;{onnx_filter}"
        path, _ = QFileDialog.getOpenFileName(self, f"Load {slot} {'ONNX model' if onnx else 'checkpoint'}",
                                              str(Path.cwd()), filters)
        if path:
            self.load_model(slot, path)

    def load_model(self, slot: str, path) -> bool:
        if not self.session.set_model(slot, path):
            self.show_error(f"Cannot load the {slot}", self.session.notes.get(slot, "unknown error"))
            return False
        self.go_to(self.scene, self.index)
        return True

    def load_student_checkpoint(self, path: str) -> None:
        """Jobs panel: load a finished job's checkpoint as student; show before/after metrics."""
        before = self.analysis.metric_row("student", "mean") if self.analysis else None
        if not self.load_model("student", path):
            return

        def after(scene, index):
            a = self.analysis
            self.jobs.show_comparison(before, a.metric_row("student", "mean") if a else None,
                                      Path(path).name)
            self.frame_displayed.disconnect(after)

        self.frame_displayed.connect(after)
        if self.session.cached(self.scene, self.index) is not None:
            after(self.scene, self.index)

    # ================================================================== export
    def _export_frame_dialog(self):
        d = QFileDialog.getExistingDirectory(self, "Export frame to folder", str(Path.cwd()))
        if d:
            self.export_frame(d)

    def export_frame(self, out_dir) -> Optional[dict]:
        if self.analysis is None:
            self.show_error("Export", FsmdeError("no frame is shown yet"))
            return None
        try:
            written = export_frame(self.analysis, Path(out_dir), mode=self.mode,
                                   overlap_heat=self.state.overlap_heat, boxes=self.state.boxes)
        except Exception as exc:
            self.show_error("Export failed", exc)
            return None
        self.statusBar().showMessage(f"exported {', '.join(p.name for p in written.values())} to {out_dir}", 10000)
        return written

    def _export_scene_dialog(self):
        d = QFileDialog.getExistingDirectory(self, "Export scene to folder", str(Path.cwd()))
        if d:
            self.export_scene(d)

    def export_scene(self, out_dir, fps: float = 5.0) -> Optional[workers.Task]:
        if self.session.dataset is None or self._export_task is not None:
            return None
        session, scene, mode = self.session, self.scene, self.mode
        boxes = self.state.boxes
        export_pool = workers.frame_pool()
        self._export_pool = export_pool

        def work(task):
            return export_sequence(session, scene, Path(out_dir), mode, fps=fps, progress=task.report,
                                   cancel=task.cancel, boxes=boxes)

        self.export_progress.setValue(0)
        self.export_progress.setVisible(True)
        self.export_cancel.setVisible(True)
        self._export_task = workers.start(export_pool, work, on_done=self._export_done,
                                          on_failed=self._export_failed, on_progress=self._export_progress)
        return self._export_task

    def _export_progress(self, done: int, total: int) -> None:
        self.export_progress.setMaximum(total)
        self.export_progress.setValue(done)

    def cancel_export(self) -> None:
        if self._export_task is not None:
            self._export_task.cancel.set()

    def _export_end(self):
        self.export_progress.setVisible(False)
        self.export_cancel.setVisible(False)
        self._export_task = None

    def _export_done(self, result) -> None:
        self._export_end()
        self.last_export = result
        msg = f"exported {result['frames']} frames" + (f" and {result['mp4'].name}" if result["mp4"] else "")
        self.statusBar().showMessage(msg + (" (cancelled)" if result["cancelled"] else ""), 10000)

    def _export_failed(self, exc) -> None:
        self._export_end()
        self.show_error("Scene export failed", exc)

    # ================================================================== lifecycle
    def default_layout(self) -> None:
        """Dock sizes for a fresh profile: the tiles get the width they need (they are
        width-limited), the 3D view and bin plots the right column, the tables the bottom."""
        w, h = max(self.width(), 800), max(self.height(), 600)
        self.resizeDocks([self.cloud_dock], [int(w * 0.31)], Qt.Horizontal)
        self.resizeDocks([self.cloud_dock, self.bins_dock], [int(h * 0.5), int(h * 0.5)], Qt.Vertical)
        self.resizeDocks([self.metrics_dock], [int(h * 0.40)], Qt.Vertical)
        self.resizeDocks([self.metrics_dock, self.cons_dock, self.jobs_dock],
                         [int(w * 0.26), int(w * 0.18), int(w * 0.25)], Qt.Horizontal)
        if self.analysis is not None:
            fit_tiles(self)

    def showEvent(self, event):  # noqa: N802
        super().showEvent(event)
        if not self._layout_done:
            self._layout_done = True
            if not isinstance(self.settings.value("window/state"), QByteArray):
                QTimer.singleShot(0, self.default_layout)


    def closeEvent(self, event):  # noqa: N802
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.sync()
        self.play_timer.stop()
        self.cancel_export()
        self.jobs.shutdown()
        workers.forget_queued(self.pool)
        self.pool.waitForDone(30000)
        self.aux_pool.waitForDone(30000)
        super().closeEvent(event)
