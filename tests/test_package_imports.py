"""The package's own imports: every module imports, nothing hides a broken module, and each
registry (architectures, recipes, model specs, CLI commands) lists every module it should."""
from __future__ import annotations

import ast
import importlib
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import fsmde_gui

PACKAGE = Path(fsmde_gui.__file__).resolve().parent
REPO = PACKAGE.parent
CATCHES_IMPORT_FAILURES = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}


def package_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_own_import(node: ast.AST) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level > 0 or (node.module or "").split(".")[0] == "fsmde_gui"
    if isinstance(node, ast.Import):
        return any(a.name.split(".")[0] == "fsmde_gui" for a in node.names)
    return False


def handler_names(handler: ast.ExceptHandler) -> set[str]:
    if handler.type is None:
        return {"BaseException"}  # a bare except
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return {ast.unparse(t).split(".")[-1] for t in types}


def guarded_own_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """Own imports inside a ``try`` whose handlers catch ImportError (or anything broader)."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        if not any(handler_names(h) & CATCHES_IMPORT_FAILURES for h in node.handlers):
            continue
        for stmt in node.body:
            for inner in ast.walk(stmt):
                if is_own_import(inner):
                    found.append((inner.lineno, ast.unparse(inner)))
    return found


def test_every_module_of_the_package_imports():
    names = [m.name for m in pkgutil.walk_packages([str(PACKAGE)], "fsmde_gui.")]
    assert set(names) == {module_name(p) for p in package_files()} - {"fsmde_gui"}
    failed = {}
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - collected, then reported all at once
            failed[name] = f"{type(exc).__name__}: {exc}"
    assert not failed, failed


def test_no_import_of_the_package_is_guarded_by_an_import_error_handler():
    offenders = {}
    for path in package_files():
        hits = guarded_own_imports(ast.parse(path.read_text(), str(path)))
        if hits:
            offenders[str(path.relative_to(REPO))] = hits
    assert not offenders, offenders


def test_the_scan_finds_a_guarded_own_import():
    tree = ast.parse("def f():\n    try:\n        from ..core import adjacency\n"
                     "    except ImportError:\n        return None\n")
    assert guarded_own_imports(tree) == [(3, "from ..core import adjacency")]
    third_party = ast.parse("try:\n    import onnxruntime\nexcept ImportError:\n    pass\n")
    assert guarded_own_imports(third_party) == []


def test_no_module_is_imported_by_a_name_string():
    """Registries import their modules with import statements, not importlib lists."""
    for path in package_files():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and ast.unparse(node.func).endswith("import_module")
                    and node.args and isinstance(node.args[0], (ast.Constant, ast.JoinedStr))
                    and "fsmde_gui" in ast.unparse(node.args[0])):
                pytest.fail(f"{path.relative_to(REPO)}:{node.lineno} imports a module by name")


def test_every_command_module_is_registered():
    from fsmde_gui.cli import build_parser
    from fsmde_gui.commands.registry import COMMAND_MODULES

    with_register = {p.stem for p in (PACKAGE / "commands").glob("*.py")
                     if re.search(r"^def register\(", p.read_text(), re.M)}
    assert with_register == set(COMMAND_MODULES)
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    assert {"generate", "info", "convert", "train", "eval", "bench", "export",
            "models"} <= set(subparsers.choices)
    assert len(subparsers.choices) >= len(COMMAND_MODULES)


def test_every_recipe_module_is_registered():
    from fsmde_gui.training.recipe_registry import RECIPE_MODULES, recipe_names

    with_recipes = {p.stem for p in (PACKAGE / "training").glob("*.py")
                    if re.search(r"^@register_recipe\(", p.read_text(), re.M)}
    assert with_recipes == {m.__name__.rsplit(".", 1)[-1] for m in RECIPE_MODULES}
    assert {"supervised", "kd", "teacher", "reflection-ssl", "briges-gate",
            "semantic"} <= set(recipe_names())


def test_every_architecture_is_registered():
    from fsmde_gui.models.checkpoint import registered_archs

    assert {"student", "teacher_sim", "semantic_sim", "briges", "reflection_ssl"} <= set(
        registered_archs())


def test_every_model_spec_module_is_registered():
    from fsmde_gui.training.model_specs import specs

    assert {"teacher_sim", "student_kd", "semantic_sim", "teacher_briges"} <= {
        s.name for s in specs()}


BROKEN_IMPORT = """
import importlib.abc, sys
class Broken(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == {module!r}:
            raise RuntimeError("simulated failure in " + name)
sys.meta_path.insert(0, Broken())
import {package}
"""


@pytest.mark.parametrize("package,module", [
    ("fsmde_gui.training.recipes", "fsmde_gui.training.recipe_semantic"),
    ("fsmde_gui.models.checkpoint", "fsmde_gui.models.intrinsic"),
    ("fsmde_gui.cli", "fsmde_gui.commands.export_model"),
])
def test_a_broken_module_fails_the_import_loudly(package, module):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO),
                                                                    os.environ.get("PYTHONPATH")])))
    code = BROKEN_IMPORT.format(module=module, package=package)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       env=env)
    assert r.returncode != 0
    assert f"simulated failure in {module}" in r.stderr
