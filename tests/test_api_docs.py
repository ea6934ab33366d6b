"""The Python API documents every keyword it takes (``help(ganzoo.train)``, the README's Python API), and
``ganzoo.resume`` takes what ``ganzoo.train`` takes for a run's progress."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import ganzoo
from ganzoo.config import TRAINER_SCHEMA

README = Path(__file__).resolve().parents[1] / "README.md"
DATASET_FLAGS = ("data_root", "download")  # what **options holds besides the trainer's options
TINY = dict(set={"width": 16, "depth": 1, "data.n": 512}, batch_size=16, log_every=1)


def _keywords(function) -> list[str]:
    """Every name a caller can pass: the signature's, with ``**options`` spelled out as the trainer's options."""
    names = []
    for name, p in inspect.signature(function).parameters.items():
        names += [*TRAINER_SCHEMA, *DATASET_FLAGS] if p.kind is inspect.Parameter.VAR_KEYWORD else [name]
    return names


@pytest.mark.parametrize("function", [ganzoo.train, ganzoo.resume], ids=["train", "resume"])
def test_the_docstring_names_every_keyword(function):
    doc = inspect.getdoc(function)
    missing = [name for name in _keywords(function) if f"``{name}``" not in doc]
    assert missing == []


def test_the_readme_python_api_shows_every_keyword_of_train():
    text = README.read_text()
    api = text[text.index("## Python API"):]
    api = api[:api.index("\n## ", 1)]
    shown = set(re.findall(r"\b(\w+)=", api))
    assert [name for name in _keywords(ganzoo.train)[2:] if name not in shown] == []  # model and dataset are positional


def test_resume_takes_trains_progress_and_reporting_keywords():
    train = inspect.signature(ganzoo.train).parameters
    resume = inspect.signature(ganzoo.resume).parameters
    shared = ("progress", "sinks", "eval_every", "eval_n", "best_metric", "wandb", "on_nan")
    assert [(name, resume[name].default) for name in shared] == [(name, train[name].default) for name in shared]


@pytest.mark.slow
def test_resume_without_progress_prints_nothing(tmp_path, capfd):
    run = ganzoo.train("vanilla", "ring8", out=tmp_path / "r", steps=1, progress=False, **TINY)
    capfd.readouterr()
    ganzoo.resume(run.path, steps=2, progress=False)
    assert capfd.readouterr().err == ""
    ganzoo.resume(run.path, steps=3, progress=True)
    assert "steps 2->3" in capfd.readouterr().err  # the line a run with progress starts with
