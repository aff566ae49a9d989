"""The package's import graph, read from the source with ``ast``: the layers of
docs/design.rst hold, and no import cycle exists anywhere.

Every ``import`` and ``from ... import`` counts -- at module level, inside
functions and methods, inside ``try`` or ``if sys.platform`` -- relative or
absolute.  Only imports under ``if TYPE_CHECKING:`` are left out: they never run.
An import of ``a.b.c`` is an edge to ``a.b.c`` alone (Python also runs the
packages' ``__init__`` on the way, but that is not a dependency of the importer).
"""

from __future__ import annotations

import ast
import os
import pathlib

import pytest

PACKAGE = "ironframe_py"
ROOT = pathlib.Path(__file__).resolve().parents[1] / PACKAGE

# Bottom to top, as in docs/design.rst.  A module may import its own layer and the
# layers below it; "backends" covers every module under backends/.
LAYERS: list[tuple[str, set[str]]] = [
    ("foundations", {"errors", "spec", "_resource", "_winerror"}),
    ("store and guard core", {"_store", "_guard"}),
    ("backends", {"backends"}),
    ("guard and platform choice", {"guard", "_platform"}),
    ("public API", {"_kills", "service_guard", "process", "container", "service"}),
    ("entry points", {"cli", "__main__", ""}),  # "" is the package's __init__
]


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, pathlib.Path]:
    return {_module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
           (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST):
    """Every Import / ImportFrom node, at any depth, except under ``if TYPE_CHECKING``."""
    pending = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        pending.extend(ast.iter_child_nodes(node))


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute name an ImportFrom's ``from`` part names."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    if node.level > 1:
        base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _edges(modules: dict[str, pathlib.Path]) -> dict[str, set[str]]:
    """module -> the package's modules it imports."""
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in _import_nodes(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                origin = _resolve(module, is_package, node)
                # `from pkg import sub` imports the submodule if there is one
                names = [f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in modules else origin
                         for alias in node.names]
            for name in names:
                while name and name not in modules:  # `import a.b.c` where only a.b is ours
                    name = name.rpartition(".")[0]
                if name.startswith(PACKAGE) and name != module:
                    targets.add(name)
        graph[module] = targets
    return graph


def _layer_of(module: str) -> int:
    relative = module[len(PACKAGE):].lstrip(".")
    top = relative.split(".")[0]
    for index, (_, members) in enumerate(LAYERS):
        if top in members:
            return index
    raise AssertionError(f"{module} is in no layer of LAYERS: add it (and to docs/design.rst)")


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a module in a higher layer than the importer's."""
    return [f"{module} ({LAYERS[_layer_of(module)][0]}) imports {target} ({LAYERS[_layer_of(target)][0]})"
            for module, targets in sorted(graph.items()) for target in sorted(targets)
            if _layer_of(target) > _layer_of(module)]


def test_every_module_is_in_a_layer():
    for module in _modules():
        _layer_of(module)


def test_no_module_imports_a_layer_above_its_own():
    assert layer_violations(_edges(_modules())) == []


def test_backends_import_nothing_above_them():
    """Said twice on purpose: the rule that matters most, stated without LAYERS."""
    above = {f"{PACKAGE}.{name}" for name in ("service", "container", "process", "cli", "guard",
                                               "service_guard", "_platform", "__main__")} | {PACKAGE}
    graph = _edges(_modules())
    offending = [(module, target) for module, targets in graph.items()
                 if module.startswith(f"{PACKAGE}.backends") for target in targets if target in above]
    assert offending == []


def test_there_is_no_import_cycle():
    assert _cycles(_edges(_modules())) == []


# --- the checker itself -------------------------------------------------------------------------------

def _graph_of(tmp_path, files: dict[str, str]) -> dict[str, set[str]]:
    for name, text in files.items():
        path = tmp_path / PACKAGE / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    modules = {_module_name_in(tmp_path, path): path for path in sorted((tmp_path / PACKAGE).rglob("*.py"))}
    return _edges(modules)


def _module_name_in(base: pathlib.Path, path: pathlib.Path) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@pytest.mark.parametrize("local_import", [
    "from .backend import EXIT_KILLED",            # relative, inside a function
    "from ironframe_py.backends.windows import backend",  # absolute, `from pkg import module`
    "import ironframe_py.backends.windows.backend",
])
def test_a_cycle_through_a_function_local_import_is_found(tmp_path, local_import):
    graph = _graph_of(tmp_path, {
        "__init__.py": "", "backends/__init__.py": "", "backends/windows/__init__.py": "",
        "backends/windows/backend.py": "def make():\n    from .guard_target import target_for\n",
        "backends/windows/guard_target.py": f"def target_for():\n    {local_import}\n",
    })
    assert _cycles(graph) == [["ironframe_py.backends.windows.backend",
                               "ironframe_py.backends.windows.guard_target"]]


def test_an_upward_import_and_type_checking_imports_are_told_apart(tmp_path):
    graph = _graph_of(tmp_path, {
        "__init__.py": "", "guard.py": "", "service.py": "", "backends/__init__.py": "",
        "backends/base.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                             "    from ..service import X\n"),
        "backends/seam.py": "try:\n    from .. import guard\nexcept ImportError:\n    guard = None\n",
    })
    assert graph["ironframe_py.backends.base"] == set()
    assert layer_violations(graph) == [
        "ironframe_py.backends.seam (backends) imports ironframe_py.guard (guard and platform choice)"]


def test_the_package_is_read_from_the_source_tree():
    assert (ROOT / "__init__.py").exists() and os.path.basename(ROOT) == PACKAGE
    assert len(_modules()) > 30
