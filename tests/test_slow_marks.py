"""Every test that trains or spawns a process is marked ``slow``, so ``python -m pytest -m "not slow"`` stays fast.

An AST scan of the test files: a test calling ``ganzoo.train``, ``ganzoo.resume``, ``Trainer`` or ``subprocess.*``,
itself, through a helper or fixture of its own module, or through conftest's ``ganzoo_process``, must carry
``@pytest.mark.slow`` or sit in a module with ``pytestmark = pytest.mark.slow``. Training through the in-process
``cli`` fixture (``cli("run", ...)``) is not seen here; those tests are marked by hand.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parent.parent
FILES = [*ROOT.glob("tests/test_*.py"), *ROOT.glob("examples/*/tests/test_*.py")]


def _is_slow_call(call: ast.Call, slow_names: set[str]) -> bool:
    f = call.func
    if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
        return f.value.id == "subprocess" or (f.value.id, f.attr) in {("ganzoo", "train"), ("ganzoo", "resume")}
    return isinstance(f, ast.Name) and (f.id == "Trainer" or f.id in slow_names)


def _is_slow(fn: ast.FunctionDef, slow_names: set[str]) -> bool:
    uses_fixture = any(a.arg in slow_names for a in fn.args.args)
    return uses_fixture or any(isinstance(n, ast.Call) and _is_slow_call(n, slow_names) for n in ast.walk(fn))


def _unmarked(path: Path) -> tuple[list[str], list[str]]:
    """(tests that must be slow, those of them not marked slow) in one test file."""
    tree = ast.parse(path.read_text())
    marked_module = any(isinstance(n, ast.Assign) and any(getattr(t, "id", None) == "pytestmark" for t in n.targets)
                        and "pytest.mark.slow" in ast.unparse(n.value) for n in tree.body)
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    slow_names = {"ganzoo_process"}
    while new := {f.name for f in functions if f.name not in slow_names and not f.name.startswith("test_") and _is_slow(f, slow_names)}:
        slow_names |= new  # helpers and fixtures that train or spawn, then those that use them
    must = [f for f in functions if f.name.startswith("test_") and _is_slow(f, slow_names)]
    marked = lambda f: marked_module or any("pytest.mark.slow" in ast.unparse(d) for d in f.decorator_list)
    return [f.name for f in must], [f"{path.name}::{f.name}" for f in must if not marked(f)]


def test_tests_that_train_or_spawn_a_process_are_marked_slow():
    found = {path.name: _unmarked(path) for path in FILES}
    assert "test_resume_continues_bitwise_exactly" in found["test_trainer.py"][0]  # the scan sees what it should
    assert "test_lsgan_trains_evaluates_and_is_listed_as_healthy" in found["test_example_plugin.py"][0]  # via ganzoo_process
    assert [name for _, unmarked in found.values() for name in unmarked] == []
