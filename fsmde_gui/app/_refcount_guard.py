"""Work around a reference-count bug of the PySide6 6.12 wheels on Python < 3.12.

Those wheels return ``None``/``True``/``False`` from C++ methods without taking a reference
(correct on Python 3.12+, where these objects are immortal). On Python 3.11 every such call
(``QWidget.update()``, ``setText()``, ``processEvents()``, ...) takes one reference from
``None`` (about 5,000 at start-up), so after a few thousand calls the interpreter aborts with
"Fatal Python error: none_dealloc". Measured here: ``QWidget.update()`` -1 per call.

``make_singletons_immortal()`` gives these three singletons a very large reference count,
which is what Python 3.12 does by design. It changes nothing on 3.12+ or with a fixed PySide6.
"""
from __future__ import annotations

import ctypes
import sys

_BOOST = 1 << 40


def make_singletons_immortal() -> bool:
    if sys.version_info >= (3, 12) or getattr(sys, "_fsmde_singletons_boosted", False):
        return False
    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += _BOOST
    sys._fsmde_singletons_boosted = True
    return True
