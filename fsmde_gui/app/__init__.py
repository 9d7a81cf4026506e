"""The Qt desktop app (`fsmde-gui`). Qt lives only here; the model layer is ``fsmde_gui.app_model``."""
import os

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
