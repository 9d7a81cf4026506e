"""The Qt desktop app (`fsmde-gui`). Qt lives only here; the model layer is ``fsmde_gui.app_model``."""
import os

from ._refcount_guard import make_singletons_immortal

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
make_singletons_immortal()


def _share_gl_contexts() -> None:
    """pyqtgraph compiles its GL shaders once per process: every 3D view must share one GL
    context group, which Qt only sets up when asked before the QApplication exists."""
    from PySide6.QtCore import QCoreApplication, Qt

    if QCoreApplication.instance() is None:
        QCoreApplication.setAttribute(Qt.AA_ShareOpenGLContexts)


_share_gl_contexts()
