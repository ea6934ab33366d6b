"""Meta-tests: every hook is documented for plugin authors and exercised by a test."""

from __future__ import annotations

import inspect
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
