"""Dark theme: a neutral near-black palette so depth colour maps read true."""
from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

BACKGROUND = "#18181c"
PANEL = "#202026"
TEXT = "#e1e1e6"
ACCENT = "#f0a030"

STYLE = f"""
QWidget {{ font-size: 12px; }}
QToolTip {{ color: {TEXT}; background: #2c2c34; border: 1px solid #555; }}
QDockWidget::title {{ background: {PANEL}; padding: 3px 6px; }}
QToolButton:checked {{ background: #3a3a46; border: 1px solid {ACCENT}; color: {ACCENT}; }}
QToolButton {{ padding: 3px 6px; border: 1px solid #333; border-radius: 3px; }}
QToolButton:hover {{ border: 1px solid #777; }}
QHeaderView::section {{ background: {PANEL}; color: {TEXT}; padding: 2px 4px; border: 0;
                       border-right: 1px solid #333; }}
QTableWidget {{ gridline-color: #333; }}
QProgressBar {{ border: 1px solid #444; border-radius: 3px; text-align: center; }}
QProgressBar::chunk {{ background: {ACCENT}; }}
QStatusBar QLabel {{ padding: 0 6px; }}
"""


def apply_dark_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    p = QPalette()
    roles = {
        QPalette.Window: BACKGROUND, QPalette.WindowText: TEXT, QPalette.Base: "#141418",
        QPalette.AlternateBase: PANEL, QPalette.ToolTipBase: "#2c2c34", QPalette.ToolTipText: TEXT,
        QPalette.Text: TEXT, QPalette.Button: PANEL, QPalette.ButtonText: TEXT,
        QPalette.BrightText: "#ff5050", QPalette.Highlight: ACCENT, QPalette.HighlightedText: "#000000",
        QPalette.Link: ACCENT, QPalette.PlaceholderText: "#808088",
    }
    for role, colour in roles.items():
        p.setColor(role, QColor(colour))
    p.setColor(QPalette.Disabled, QPalette.Text, QColor("#6a6a72"))
    p.setColor(QPalette.Disabled, QPalette.ButtonText, QColor("#6a6a72"))
    app.setPalette(p)
    app.setStyleSheet(STYLE)
    import pyqtgraph as pg

    pg.setConfigOptions(background=BACKGROUND, foreground=TEXT, antialias=False)  # software GL: cheap lines
