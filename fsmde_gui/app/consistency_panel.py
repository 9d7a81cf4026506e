"""Cross-view consistency per adjacent camera pair: table + bar chart; a click selects the
pair (highlighted in the tiles and the 3D view)."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from ..app_model.analysis import MODELS


class ConsistencyPanel(QWidget):
    pair_selected = Signal(object)  # (i, j) or None

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        self.table = QTableWidget(0, 1 + len(MODELS))
        self.table.setHorizontalHeaderLabels(["pair"] + list(MODELS))
        self.table.horizontalHeader().setDefaultSectionSize(64)
        self.table.setColumnWidth(0, 56)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectRows)
        self.table.setSelectionMode(QTableWidget.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(19)
        self.table.setToolTip("Mean depth disagreement in metres of adjacent cameras on their overlap;"
                              " click a pair to highlight it in the tiles and the 3D view")
        self.table.itemSelectionChanged.connect(self._selected)
        lay.addWidget(self.table, 2)
        self.bars = pg.PlotWidget()
        self.bars.setLabel("left", "m")
        self.bars.setMaximumHeight(150)
        self.bars.disableAutoRange()  # ranges follow the data in _fit_bars, not per item
        self._bar_items = {}  # model -> BarGraphItem, updated in place frame to frame
        self._tick_labels = None
        small = QFont()
        small.setPointSize(7)
        self.bars.getAxis("bottom").setStyle(tickFont=small)
        self.bars.getAxis("left").setStyle(tickFont=small)
        lay.addWidget(self.bars, 1)
        self.note = QLabel("")
        self.note.setStyleSheet("color: #f0b050;")
        self.note.setWordWrap(True)
        lay.addWidget(self.note)
        self.pairs: list = []

    def set_analysis(self, a) -> None:
        self.table.blockSignals(True)
        self.pairs = list(a.pairs)
        rows = self.pairs + ["mean"]
        self.table.setRowCount(len(rows))
        for r, pair in enumerate(rows):
            label = "mean" if pair == "mean" else a.pair_label(pair)
            self.table.setItem(r, 0, QTableWidgetItem(label))
            for c, m in enumerate(MODELS):
                key = "mean" if pair == "mean" else a.pair_name(pair)
                v = a.consistency_value(m, key)
                item = QTableWidgetItem("—" if v is None else (f"{v:.2f}" if np.isfinite(v) else "n/a"))
                item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.table.setItem(r, c + 1, item)
        self.table.blockSignals(False)
        self._draw_bars(a)
        self.note.setText(a.note("consistency") or a.note("adjacency") or "")

    def _draw_bars(self, a) -> None:
        """One bar per pair and model, the items and axes kept from frame to frame (a real
        scene's pairs do not change): only heights move, the axes re-lay out on change only."""
        x = np.arange(len(self.pairs))
        top = 0.0
        for k, (m, colour) in enumerate(zip(MODELS, ("#f0a030", "#50c8ff"))):
            vals = [a.consistency_value(m, a.pair_name(p)) for p in self.pairs]
            item = self._bar_items.get(m)
            if any(v is None for v in vals) or not vals:
                if item is not None:
                    item.setVisible(False)
                continue
            vals = [v if np.isfinite(v) else 0.0 for v in vals]  # NaN: no valid overlap pixels
            top = max(top, max(vals))
            opts = dict(x=x + (k - 0.5) * 0.38, height=vals, width=0.36, brush=colour)
            if item is None:
                item = self._bar_items[m] = pg.BarGraphItem(**opts)
                self.bars.addItem(item)
            else:
                item.setOpts(**opts)
            item.setVisible(True)
        labels = [a.pair_label(p) for p in self.pairs]
        if labels != self._tick_labels:
            self.bars.getAxis("bottom").setTicks([list(enumerate(labels))])
            self._tick_labels = labels
        (x0, x1), (_, y1) = self.bars.viewRange()
        want_x = (-0.6, max(len(self.pairs), 1) - 0.4)
        if (x0, x1) != want_x or not (top <= y1 <= 2.0 * max(top, 1e-3)):
            self.bars.setRange(xRange=want_x, yRange=(0.0, 1.15 * max(top, 1e-3)), padding=0)

    def select_pair(self, index: int) -> None:
        self.table.selectRow(index)

    def show_pair(self, pair) -> None:
        """Select the row of ``pair`` (None: no row) without emitting ``pair_selected``."""
        row = self.pairs.index(tuple(pair)) if pair is not None and tuple(pair) in self.pairs else None
        current = {i.row() for i in self.table.selectedItems()}
        if (row is None and not current) or current == {row}:
            return
        self.table.blockSignals(True)
        if row is None:
            self.table.clearSelection()
        else:
            self.table.selectRow(row)
        self.table.blockSignals(False)

    def _selected(self) -> None:
        rows = {i.row() for i in self.table.selectedItems()}
        pair = self.pairs[min(rows)] if rows and min(rows) < len(self.pairs) else None
        self.pair_selected.emit(pair)
