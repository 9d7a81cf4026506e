"""Training: recipes, the trainer, evaluation and the shipped-model zoo.

Importing the package imports every recipe (:mod:`.recipe_registry`) and every shipped-model
spec (:mod:`.model_specs`), so lookups by name see all of them whichever submodule is
imported first.
"""
from . import model_specs, recipe_registry  # noqa: F401  (register recipes and model specs)
