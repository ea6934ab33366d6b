"""Meta-tests: every hook is documented for plugin authors and exercised by a test."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from ganzoo import hookspecs, plugins
from ganzoo.hookspecs import hookimpl

HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, "ganzoo_spec")]


def test_there_are_hooks():
    assert {"register_models", "register_datasets"} <= set(HOOKS)


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_documented_with_an_example(name):
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    assert "Call ``register``" in doc and "Example" in doc and "@ganzoo.hookimpl" in doc, f"{name} needs a docstring with an example"
    assert list(inspect.signature(getattr(hookspecs, name)).parameters) == ["register"]


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_called_with_a_working_register_callback(name, register_plugin):
    # A throwaway plugin implementing only this hook is called, and what it registers is kept.
    calls = []

    def impl(register):
        calls.append(register)

    plugin = type("OneHook", (), {name: staticmethod(hookimpl(impl))})
    register_plugin(plugin, f"one-hook-{name}")
    plugins.models(), plugins.datasets()
    assert len(calls) == 1 and callable(calls[0])


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_exercised_by_a_test(name):
    here = Path(__file__)
    users = [p.name for p in here.parent.glob("test_*.py") if p != here and f"def {name}(" in p.read_text()]
    assert users, f"no test implements hook {name} in a throwaway plugin"


GUIDE = Path(__file__).parent.parent / "docs" / "plugins.md"


def _lines(text: str) -> str:
    """Text without indentation or blank lines, to compare code shown at different depths."""
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def _docstring_example(name: str) -> str:
    doc = inspect.getdoc(getattr(hookspecs, name))
    after = doc.split("Example::", 1)[1].splitlines()[1:]
    example = []
    for line in after:
        if line.strip() and not line.startswith("    "):
            break
        example.append(line)
    return _lines("\n".join(example))


def _guide_section(heading: str) -> str:
    text = GUIDE.read_text()
    assert heading in text, f"docs/plugins.md has no section {heading!r}"
    section = text.split(heading, 1)[1]
    return section.split("\n### ", 1)[0].split("\n## ", 1)[0]


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_documented_in_the_plugin_guide_with_the_same_example(name):
    section = _guide_section(f"### `{name}(register)`")
    assert "**When**" in section and "**Argument**" in section and "**What to register**" in section
    assert _docstring_example(name) in _lines(section), f"docs/plugins.md shows a different example for {name} than ganzoo/hookspecs.py"


def test_the_plugin_guide_documents_no_hook_that_does_not_exist():
    documented = re.findall(r"^### `(\w+)\(register\)`", GUIDE.read_text(), flags=re.MULTILINE)
    assert sorted(documented) == sorted(HOOKS)
