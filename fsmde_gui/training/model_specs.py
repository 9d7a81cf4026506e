"""Every shipped-model spec module, imported in one place.

The core specs are :data:`fsmde_gui.training.model_zoo.SPECS`; other areas add theirs with
``add_spec`` when their module is imported (today the BriGeS area, :mod:`briges_zoo`). The
package ``fsmde_gui.training`` imports this module, so ``model_zoo.specs()`` (``fsmde models``)
always lists all of them.
"""
from __future__ import annotations

from . import briges_zoo, model_zoo
from .model_zoo import specs

SPEC_MODULES = (model_zoo, briges_zoo)

__all__ = ["SPEC_MODULES", "specs"]
