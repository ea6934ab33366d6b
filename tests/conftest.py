"""Shared fixtures: throwaway plugins registered for one test, and a CLI runner."""

from __future__ import annotations

import warnings

import pytest

from ganzoo import plugins
from ganzoo.cli import main

@pytest.fixture
def register_plugin():
    """Register plugin objects in the one plugin manager; all are unregistered afterwards, even on failure."""
    added = []

    def register(plugin, name: str):
        plugins.load_plugins()
        plugins.pm.register(plugin, name=name)
        added.append(name)
        return plugin

    try:
        yield register
    finally:
        for name in added:
            plugins.pm.unregister(name=name)


@pytest.fixture
def cli(capsys):
    """Run ``ganzoo ARGS`` in-process; returns (exit code, stdout, stderr)."""

    def run(*args: str):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", plugins.PluginWarning)
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's own exits
                code = exc.code
        out, err = capsys.readouterr()
        return code, out, err

    return run
