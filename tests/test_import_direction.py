"""The package's layers import downwards only, and no two modules import each other.

    ui, cli, train, eval, bench  ->  tasks  ->  export, quantize, serving  ->  registry, runtime, images,
    checkpoints, manifest  ->  models  ->  errors, files, policy

Every import counts, also those inside functions (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from support import REPO_ROOT

PACKAGE = REPO_ROOT / "ganstudio"

# A module may import from its own layer and the layers below it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("ganstudio.errors", "ganstudio.files", "ganstudio.policy"),
    ("ganstudio.models",),
    ("ganstudio.manifest", "ganstudio.checkpoints", "ganstudio.nvlabs_pickle", "ganstudio.images", "ganstudio.runtime",
     "ganstudio.registry", "ganstudio.feature_network"),
    ("ganstudio.export", "ganstudio.quantize", "ganstudio.serving"),
    ("ganstudio.tasks",),
    ("ganstudio.train", "ganstudio.eval", "ganstudio.bench", "ganstudio.cli", "ganstudio.ui", "ganstudio.__main__"),
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path) -> set[str]:
    """The ganstudio modules a file imports (``from a.b import c`` counts as a.b.c when that is a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in MODULES else node.module)
    return {name for name in found if name == "ganstudio" or name.startswith("ganstudio.")}


def layer_of(name: str) -> int:
    for index, prefixes in enumerate(LAYERS):
        if any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes):
            return index
    raise AssertionError(f"{name} is in no layer: add it to LAYERS")


@pytest.mark.parametrize("name", sorted(name for name in MODULES if name != "ganstudio"))
def test_imports_point_down_the_layers(name):
    upward = sorted(imported for imported in imports_of(MODULES[name])
                    if imported != "ganstudio" and layer_of(imported) > layer_of(name))
    assert not upward, f"{name} (layer {layer_of(name)}) imports {upward} from a higher layer"


@pytest.mark.parametrize("name", sorted(name for name in MODULES if name.startswith("ganstudio.models")))
def test_models_import_nothing_of_the_studio_but_its_errors(name):
    others = sorted(imported for imported in imports_of(MODULES[name])
                    if not imported.startswith("ganstudio.models") and imported != "ganstudio.errors")
    assert not others, f"{name} imports {others}"


def test_only_the_app_imports_the_ui():
    importers = sorted(name for name, path in MODULES.items()
                       if not name.startswith("ganstudio.ui") and any(i.startswith("ganstudio.ui") for i in imports_of(path)))
    assert importers == []


def test_no_two_modules_import_each_other():
    graph = {name: {i for i in imports_of(path) if i in MODULES and i != name} for name, path in MODULES.items()}
    # a package's __init__ may re-export its submodules; that is not a cycle of the code
    cycles = []
    for name, targets in graph.items():
        for target in targets:
            if name in _reachable(graph, target) and not _is_package_reexport(name, target):
                cycles.append(tuple(sorted((name, target))))
    assert not sorted(set(cycles))


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _is_package_reexport(first: str, second: str) -> bool:
    return second.startswith(first + ".") or first.startswith(second + ".")
