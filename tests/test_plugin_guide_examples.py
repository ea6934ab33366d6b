"""docs/plugins.md's answers to a plugin author's questions (issue 18): every example in them runs, and does what the text says."""

from __future__ import annotations

import re
from pathlib import Path

import ganzoo

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


def subsection(heading: str) -> str:
    """The text under a ``### `` heading of docs/plugins.md, up to the next heading."""
    assert f"\n{heading}\n" in GUIDE, f"docs/plugins.md has no section {heading!r}"
    return re.split(r"\n##+ ", GUIDE.split(f"\n{heading}\n", 1)[1], maxsplit=1)[0]


EXPECTS = "### 1.8 What ganzoo expects of a model"


def run_blocks(text: str) -> dict:
    """Run a section's Python examples in order in one namespace (each may use what the ones before defined)."""
    namespace: dict = {}
    blocks = code_blocks(text, "python")
    assert blocks, "no python example"
    for block in blocks:
        exec(compile(block, "docs/plugins.md", "exec"), namespace)
    return namespace


def test_the_players_losses_and_logits_examples_run_as_written():
    namespace = run_blocks(subsection(EXPECTS))  # each example asserts what its text says
    assert {"G", "D", "d_loss", "g_loss", "logged_as_scores", "build_conv_only"} <= set(namespace)


def _shown_output(text: str) -> dict[str, str]:
    """The shown terminal session: ``{command: the first line it prints}``."""
    session = [block for block in re.findall(r"^```\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL) if block.startswith("$ ")]
    assert len(session) == 1
    lines, shown = session[0].splitlines(), {}
    for i, line in enumerate(lines):
        if line.startswith("$ "):
            shown[line[2:]] = lines[i + 1]
    return shown


def test_a_refusing_builder_is_a_one_line_run_error_and_a_bench_skip(cli, register_plugin, tmp_path):
    from ganzoo.bench.plan import plan

    build_conv_only = run_blocks(subsection(EXPECTS))["build_conv_only"]

    class ConvOnly:
        @ganzoo.hookimpl
        def register_models(self, register):
            register(ganzoo.ModelSpec(name="conv-only", summary="refuses 2-D points", build=build_conv_only))

    register_plugin(ConvOnly(), "conv-only-guide")
    shown = _shown_output(subsection(EXPECTS))
    run_line, bench_line = shown["ganzoo run --model conv-only --dataset ring8"], shown["ganzoo bench --models conv-only,vanilla --datasets ring8 --kimg 1"]

    code, out, err = cli("run", "--model", "conv-only", "--dataset", "ring8", "--out", str(tmp_path / "run"))
    assert (code, out, err) == (2, "", run_line + "\n")
    assert not (tmp_path / "run").exists()

    entries, skipped = plan(["conv-only", "vanilla"], ["ring8"], [0], 1.0, tmp_path / "bench", {})
    assert skipped == [bench_line]
    assert [entry.config.model for entry in entries] == ["vanilla"]  # the other pairs still run


def test_the_dataset_info_example_runs_as_written():
    blocks = code_blocks(section("## 2. A dataset plugin: two moons"), "python")
    assert len(blocks) == 2  # the module, then what DatasetInfo accepts
    namespace: dict = {}
    exec(compile(blocks[1], "docs/plugins.md", "exec"), namespace)
    assert namespace["info"].centres == ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0))
