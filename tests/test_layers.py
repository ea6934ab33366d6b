"""The shape of the code: no import cycles, no import from a lower layer to a higher one,
every module importable on its own, and run-folder file names spelled in one place.

The import graph is read from the source with ``ast``: every ``import`` statement counts,
module-level or inside a function (lazy imports), except those under ``if TYPE_CHECKING:``,
which never run. ``from package import name`` counts as an import of ``package.name`` when
that is a module, else of ``package``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Source folders and the package names they install as (pyproject.toml's package-dir).
SOURCES = {"ganzoo": ROOT / "ganzoo", "ganzoo.eval": ROOT / "eval", "ganzoo_plugins": ROOT / "plugins"}

# Lowest first. A module may import its own layer (without cycles) and the layers below it.
CORE = {
    "ganzoo.errors", "ganzoo.files", "ganzoo.config", "ganzoo.hookspecs", "ganzoo.registry", "ganzoo.specs",
    "ganzoo.data", "ganzoo.model", "ganzoo.losses", "ganzoo.penalties", "ganzoo.objectives", "ganzoo.nn", "ganzoo.convnets",
    "ganzoo.optim", "ganzoo.options", "ganzoo.plugins", "ganzoo.remedies", "ganzoo.remedy_options", "ganzoo.source_tree",
    "ganzoo.unroll",
}
LAYERS = ["core", "training", "run", "eval", "bench", "facade"]
FACADE = {"ganzoo", "ganzoo.__main__", "ganzoo.api", "ganzoo.cli", "ganzoo.scaffold"}
# Plugins sit beside the layers: they use the public API and the building blocks, and the
# core reaches them only by name, through the plugin manager's list of built-ins.
PLUGINS_PREFIXES = ("ganzoo_plugins", "ganzoo.eval.builtin")


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in SOURCES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = path
    return found


MODULES = modules()


def layer(module: str) -> str:
    if module.startswith(PLUGINS_PREFIXES):
        return "plugin"
    if module in CORE:
        return "core"
    if module in FACADE:
        return "facade"
    for name in ("training", "run", "bench"):
        if module == f"ganzoo.{name}" or module.startswith(f"ganzoo.{name}."):
            return name
    if module.startswith("ganzoo.eval"):
        return "eval"
    raise AssertionError(f"{module} belongs to no layer: add it to one in {__file__}")


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(module: str, path: Path) -> set[str]:
    is_package = path.name == "__init__.py"
    found: set[str] = set()

    def target(name: str) -> str | None:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        return name or None

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(t for alias in node.names if (t := target(alias.name)))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            for alias in node.names:
                full = f"{source}.{alias.name}"
                t = full if full in MODULES else target(source)
                if t:
                    found.add(t)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    found.discard(module)
    return found


GRAPH = {m: imports_of(m, p) for m, p in MODULES.items()}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the groups of modules that import each other, directly or not."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def test_the_graph_sees_lazy_imports_and_skips_type_checking_ones():
    # Guards the reader itself: the facade imports live evaluation inside a function, and the
    # spec module names the evaluation context only for type checking.
    assert "ganzoo.eval.live" in GRAPH["ganzoo.api"]
    assert "ganzoo.eval.context" not in GRAPH["ganzoo.specs"]
    assert "ganzoo.training.trainer" in GRAPH["ganzoo.run.session"]


def test_no_import_cycles():
    cycles = [group for group in strongly_connected(GRAPH) if len(group) > 1]
    assert cycles == []


def test_no_import_from_a_lower_layer_to_a_higher_one():
    rank = {name: i for i, name in enumerate(LAYERS)}
    upward = []
    for module, targets in GRAPH.items():
        mine = layer(module)
        for t in targets:
            theirs = layer(t)
            if theirs == "plugin":
                if mine != "plugin":
                    upward.append(f"{module} ({mine}) imports the plugin {t}")
            elif mine != "plugin" and rank[theirs] > rank[mine]:
                upward.append(f"{module} ({mine}) imports {t} ({theirs})")
    assert upward == []


def test_plugins_use_only_the_public_api_the_building_blocks_and_evaluation():
    allowed = CORE | {"ganzoo"}
    wrong = [
        f"{module} imports {t}" for module, targets in GRAPH.items() if layer(module) == "plugin"
        for t in targets if layer(t) not in ("plugin", "eval") and t not in allowed
    ]
    assert wrong == []


# File names a run folder holds; only ganzoo/run/folder.py may spell them. (Its "checkpoints" folder is
# left out: torch hub has one too.)
RUN_FILES = ("config.yaml", "dataset.json", "plugins.json", "metrics.jsonl", "eval.json", "final.png", "loss.png", "eval.png",
             "wandb.json", "last.pt", "best.pt", "last.json", "best.json")


def test_run_folder_file_names_are_spelled_only_by_the_run_folder_class():
    # A string that is a file name, or ends in one after a slash, builds a path; prose (docstrings,
    # help texts, anything with a space) that mentions a file does not.
    owner = MODULES["ganzoo.run.folder"]
    spelled = []
    for module, path in MODULES.items():
        if path == owner:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                value = node.value.strip()
                if " " not in value and any(value == name or value.endswith("/" + name) for name in RUN_FILES):
                    spelled.append(f"{module}:{node.lineno}: {value!r}")
    assert spelled == []


# In a fresh interpreter: each module in turn, with every ganzoo module imported before it
# removed again (third-party packages such as torch stay loaded: they are not under test).
IMPORT_EACH_ALONE = """
import importlib, sys, traceback
failures = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "ganzoo" or m.startswith(("ganzoo.", "ganzoo_plugins"))]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except BaseException as exc:
        failures.append(f"{name}: {type(exc).__name__}: {exc}")
print("\\n".join(failures))
sys.exit(1 if failures else 0)
"""


@pytest.mark.slow  # spawns an interpreter
def test_every_module_imports_on_its_own():
    result = subprocess.run([sys.executable, "-c", IMPORT_EACH_ALONE, *sorted(MODULES)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
