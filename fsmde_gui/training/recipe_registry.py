"""Every training recipe, imported in one place.

A recipe registers itself with ``@register_recipe("name")`` (:mod:`fsmde_gui.training.recipes`)
when its module is imported. The built-in ones (``supervised``, ``kd``, ``teacher``) live in
``recipes``; each other recipe module is listed here. The package ``fsmde_gui.training``
imports this module, so ``recipe_names()`` / ``get_recipe()`` always see all of them, and a
recipe module that fails to import fails the import of the package with its own error.
"""
from __future__ import annotations

from . import recipe_briges_gate, recipe_reflection_ssl, recipe_semantic, recipes
from .recipes import get_recipe, recipe_names

RECIPE_MODULES = (recipes, recipe_reflection_ssl, recipe_briges_gate, recipe_semantic)

__all__ = ["RECIPE_MODULES", "get_recipe", "recipe_names"]
