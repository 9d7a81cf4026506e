"""The Qt desktop app (`fsmde-gui`). Qt lives only here; the model layer is ``fsmde_gui.app_model``."""
import os

from ._refcount_guard import make_singletons_immortal

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
make_singletons_immortal()
