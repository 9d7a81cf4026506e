"""Student vs teacher per-camera metrics (AbsRel, RMSE, δ1) and inference times.

Every column is always visible: the columns are as wide as their header / widest value and
the panel does not shrink below the whole table (no horizontal scrolling)."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractScrollArea, QHeaderView, QLabel, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from ..app_model.analysis import MODELS
from ..core.types import CAMERA_NAMES, SHORT_NAMES

COLUMNS = [(m, k, lbl) for m in MODELS for k, lbl in (("abs_rel", "AbsRel"), ("rmse", "RMSE"), ("a1", "δ1"))]


class MetricsPanel(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        self.header = QLabel("no frame yet")
        self.header.setWordWrap(True)
        lay.addWidget(self.header)
        self.table = QTableWidget(len(CAMERA_NAMES) + 1, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([f"{m}\n{lbl}" for m, _, lbl in COLUMNS])
        self.table.setVerticalHeaderLabels([SHORT_NAMES[n] for n in CAMERA_NAMES] + ["mean"])
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        fm = self.table.fontMetrics()
        col_w = max(fm.horizontalAdvance(t) for t in ("student", "teacher", "AbsRel", "88.88",
                                                     "0.888")) + 12
        head = self.table.horizontalHeader()
        head.setMinimumSectionSize(col_w)
        head.setDefaultSectionSize(col_w)
        head.setSectionResizeMode(QHeaderView.Stretch)  # extra width is shared, none cut off
        self.table.verticalHeader().setFixedWidth(fm.horizontalAdvance("mean") + 16)
        self.table.verticalHeader().setDefaultSectionSize(19)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.table.setSizeAdjustPolicy(QAbstractScrollArea.AdjustToContents)
        frame = 2 * self.table.frameWidth()
        self.table.setMinimumWidth(self.table.verticalHeader().width() + len(COLUMNS) * col_w
                                   + frame + self.table.verticalScrollBar().sizeHint().width())
        self.table.setToolTip("Per-camera depth metrics vs GT (teacher: metric-aligned);"
                              " AbsRel and RMSE lower is better, δ1 higher is better")
        lay.addWidget(self.table, 1)
        self.note = QLabel("")
        self.note.setStyleSheet("color: #f0b050;")
        self.note.setWordWrap(True)
        lay.addWidget(self.note)

    def set_analysis(self, a) -> None:
        parts = []
        for m in MODELS:
            r = a.results.get(m)
            if r is None:
                parts.append(f"<b>{m}</b>: {a.note(m) or 'not available'}")
            else:
                parts.append(f"<b>{m}</b> {r.model_name or m}: <b>{a.infer_ms.get(m, 0):.0f} ms</b>/frame")
        self.header.setText(" &nbsp;|&nbsp; ".join(parts))
        for row, name in enumerate(list(CAMERA_NAMES) + ["mean"]):
            for col, (m, key, _) in enumerate(COLUMNS):
                row_metrics = a.metric_row(m, name)
                val = None if row_metrics is None else getattr(row_metrics, key)
                item = QTableWidgetItem("—" if val is None else (f"{val:.2f}" if key == "rmse" else f"{val:.3f}"))
                item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.table.setItem(row, col, item)
        self.note.setText(a.note("metrics") or "")

    def full_height(self) -> int:
        """The height at which every row shows (no vertical scrolling) at the current width."""
        lay, t = self.layout(), self.table
        m = lay.contentsMargins()
        label_h = max(self.header.heightForWidth(max(self.width(), 100)),
                      self.header.sizeHint().height())
        note_h = self.note.sizeHint().height() + lay.spacing() if self.note.text() else 0
        return (m.top() + m.bottom() + label_h + lay.spacing() + note_h
                + t.horizontalHeader().sizeHint().height() + t.verticalHeader().length()
                + 2 * t.frameWidth())

    def value(self, model: str, camera: str, key: str) -> str:
        row = (list(CAMERA_NAMES) + ["mean"]).index(camera)
        col = [(m, k) for m, k, _ in COLUMNS].index((model, key))
        return self.table.item(row, col).text()
