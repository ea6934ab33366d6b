"""docs/plugins.md's answers to a plugin author's questions (issue 18): every example in them runs, and does what the text says."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
GUIDE = (ROOT / "docs" / "plugins.md").read_text()
TUTORIAL = "## 1. A model plugin, from nothing: LSGAN"


# As in test_plugin_docs.py (under --import-mode=importlib one test module cannot import another).
def section(heading: str) -> str:
    assert f"\n{heading}\n" in GUIDE, f"docs/plugins.md has no section {heading!r}"
    return GUIDE.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def test_the_tutorial_shows_both_modules_of_the_example_as_they_are():
    example = ROOT / "examples" / "ganzoo-lsgan"
    registering, building = code_blocks(section(TUTORIAL), "python")[:2]
    assert registering in (example / "ganzoo_lsgan.py").read_text()
    assert building in (example / "ganzoo_lsgan_nets.py").read_text()
    assert "torch" not in registering.replace("imports no torch", "").split("def build_lsgan")[0]  # imports at the top
