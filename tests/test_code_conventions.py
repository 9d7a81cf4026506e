"""Code organisation of the package, checked on its source (AST scans, nothing imported):
functions stay short, the models layer opens no dataset, and every size name says its order
(image sizes (W, H): ``*_size`` / ``wh`` / ``*_wh``; array shapes (H, W): ``hw`` / ``*_hw`` /
``shape``; see the conventions in :mod:`fsmde_gui.core.types` and docs/API.md)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import fsmde_gui

PACKAGE = Path(fsmde_gui.__file__).resolve().parent
MAX_FUNCTION_LINES = 80
MODELS_MAY_NOT_IMPORT = ("data", "training", "evaluation", "export", "app", "app_model",
                         "commands")
"""The layers above (or beside) the models: a model is given frames and arrays."""


def package_trees() -> dict[str, ast.Module]:
    return {str(p.relative_to(PACKAGE.parent)): ast.parse(p.read_text(), str(p))
            for p in sorted(PACKAGE.rglob("*.py"))}


# ---------------------------------------------------------------------------- length

def long_functions(tree: ast.AST, limit: int = MAX_FUNCTION_LINES) -> list[tuple[str, int]]:
    """``(name, lines)`` of every function (methods and nested ones too) over ``limit``
    lines, from its ``def`` line to its last line."""
    return [(n.name, n.end_lineno - n.lineno + 1) for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
            and n.end_lineno - n.lineno + 1 > limit]


def test_no_function_is_longer_than_80_lines():
    offenders = {f: hits for f, tree in package_trees().items() if (hits := long_functions(tree))}
    assert not offenders, f"split these into named helpers: {offenders}"


def test_the_length_scan_finds_a_long_function():
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    tree = ast.parse(f"class A:\n  def long(self):\n{body}\ndef short():\n    pass\n")
    assert long_functions(tree) == [("long", MAX_FUNCTION_LINES + 1)]


# ---------------------------------------------------------------------------- rooms

def upper_layer_imports(tree: ast.AST) -> list[str]:
    """Imports of the package's data / training / evaluation / app layers (a module of
    ``fsmde_gui/models/``: relative ``..data`` or absolute ``fsmde_gui.data``)."""
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 2:
                names = [module] if module else [a.name for a in node.names]
            elif node.level == 0 and module.startswith("fsmde_gui."):
                names = [module.split(".", 1)[1]]
            elif node.level == 0 and module == "fsmde_gui":
                names = [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name.split(".", 1)[1] for a in node.names
                     if a.name.startswith("fsmde_gui.")]
        found += [n for n in names if n.split(".")[0] in MODELS_MAY_NOT_IMPORT]
    return found


def test_models_open_no_dataset():
    """Models are given frames and arrays; opening datasets, evaluation loops and exports of
    results live in the rooms above (e.g. the ONNX export's check frame comes from
    ``fsmde_gui.evaluation.check_frames``)."""
    offenders = {f: hits for f, tree in package_trees().items()
                 if f.startswith("fsmde_gui/models/") and (hits := upper_layer_imports(tree))}
    assert not offenders, offenders


def test_the_room_scan_finds_a_dataset_import():
    tree = ast.parse("from ..data.detect import open_dataset\nfrom ..core import types\n"
                     "def f():\n    from fsmde_gui.evaluation import evaluate\n"
                     "    import fsmde_gui.training.config\n    from .. import data\n")
    assert upper_layer_imports(tree) == ["data.detect", "evaluation", "training.config", "data"]


# ---------------------------------------------------------------------------- size names

_W = re.compile(r"^[a-z]?(w|width)$", re.I)
_H = re.compile(r"^[a-z]?(h|height)$", re.I)


def order_of_name(name: str) -> str | None:
    """``"wh"`` / ``"hw"`` for a name that states an order by the conventions, else None
    (a bare ``size`` states none)."""
    name = name.lower()
    if name.endswith(("hw", "h_w", "shape")):
        return "hw"
    if name.endswith(("wh", "w_h")) or (name.endswith("_size") and name != "_size"):
        return "wh"
    return None


def _value_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.BoolOp):  # ``input_size or default``
        node = node.values[0]
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
            and isinstance(node.slice.value, str):  # ``r["input_hw"]``
        return node.slice.value
    return None


def _target_order(target: ast.AST) -> str | None:
    if isinstance(target, ast.Name):
        return order_of_name(target.id)
    if isinstance(target, ast.Tuple) and len(target.elts) == 2 \
            and all(isinstance(e, ast.Name) for e in target.elts):
        a, b = (e.id for e in target.elts)
        if _W.match(a) and _H.match(b):
            return "wh"
        if _H.match(a) and _W.match(b):
            return "hw"
    return None


def misordered_assignments(tree: ast.AST) -> list[str]:
    """``w, h = x_hw``, ``h, w = image_size``, ``a_wh = view.hw``...: a value of one order
    bound to names of the other."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        value = _value_name(node.value)
        want, got = _target_order(node.targets[0]), value and order_of_name(value)
        if want and got and want != got:
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def _allowed_bare_size(annotation: ast.AST | None) -> bool:
    """A bare ``size`` is a 3D box's (width, length, height), or a model variant name."""
    text = ast.unparse(annotation) if annotation is not None else ""
    return "float, float, float" in text or text == "str"


def bare_size_names(tree: ast.AST) -> list[str]:
    """Parameters, class fields and module constants named ``size`` / ``SIZE`` that are not
    annotated as a 3D box size: an image size there would not say (W, H) or (H, W)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            a = node.args
            found += [f"{node.lineno}: parameter {arg.arg} of "
                      f"{getattr(node, 'name', 'lambda')}"
                      for arg in a.posonlyargs + a.args + a.kwonlyargs
                      if arg.arg.lower() == "size" and not _allowed_bare_size(arg.annotation)]
        elif isinstance(node, ast.ClassDef):
            found += [f"{s.lineno}: field {node.name}.{s.target.id}" for s in node.body
                      if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
                      and s.target.id.lower() == "size" and not _allowed_bare_size(s.annotation)]
    for s in getattr(tree, "body", []):
        targets = s.targets if isinstance(s, ast.Assign) else \
            [s.target] if isinstance(s, ast.AnnAssign) else []
        found += [f"{s.lineno}: constant {t.id}" for t in targets
                  if isinstance(t, ast.Name) and t.id.lower() == "size"]
    return found


def test_size_names_say_their_order():
    offenders = {}
    for f, tree in package_trees().items():
        hits = bare_size_names(tree) + misordered_assignments(tree)
        if hits:
            offenders[f] = hits
    assert not offenders, offenders


def test_the_size_scans_find_ambiguous_and_misordered_names():
    tree = ast.parse("SIZE = (4, 3)\n"
                     "def f(img, size, box_size: tuple[float, float, float]):\n"
                     "    w, h = view.hw\n    h, w = cfg.image_size\n    a_wh = frame.hw\n"
                     "    h, w = view.hw\n    w, h = input_size or default\n"
                     "    dh, dw = r['dav2_input_hw']\n"
                     "class C:\n    size: tuple[int, int]\n    extent: tuple[float, float, float]\n"
                     "class Box:\n    size: tuple[float, float, float]\n")
    assert bare_size_names(tree) == ["2: parameter size of f", "10: field C.size",
                                     "1: constant SIZE"]
    assert [h.split(":")[0] for h in misordered_assignments(tree)] == ["3", "4", "5"]
