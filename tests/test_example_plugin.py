"""The example plugin package examples/ganzoo-lsgan, pip-installed as a real distribution, through the real CLI."""

from __future__ import annotations

import importlib.metadata
import json

import pytest


@pytest.fixture(scope="module")
def lsgan_installed():
    try:
        importlib.metadata.distribution("ganzoo-lsgan")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("the example plugin is not installed: pip install -e examples/ganzoo-lsgan (the README's test command does this)", pytrace=False)


@pytest.mark.slow
def test_lsgan_trains_evaluates_and_is_listed_as_healthy(lsgan_installed, ganzoo_process, tmp_path):
    out = tmp_path / "lsgan-ring8"
    run = ganzoo_process("run", "--model", "lsgan", "--dataset", "ring8", "--steps", "4", "--batch-size", "32",
                     "--set", "width=16", "--log-every", "2", "--quiet", "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert f"run folder: {out}" in run.stdout and (out / "final.png").exists()
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [2, 4] and {"loss/D", "loss/G", "D(x)", "D(G(z))"} <= set(lines[-1])

    evaluated = ganzoo_process("eval", str(out), "--n", "200")
    assert evaluated.returncode == 0, evaluated.stderr
    assert "lsgan on ring8: step 4" in evaluated.stdout and "mixture-modes" in evaluated.stdout
    report = json.loads((out / "eval.json").read_text())
    assert report["metrics"]["mixture-modes"]["modes_total"] == 8

    listed = ganzoo_process("plugins")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith("lsgan "))
    version = importlib.metadata.version("ganzoo-lsgan")
    assert f"[ganzoo-lsgan {version}]" in row and "hooks: register_models" in row and "models: lsgan" in row and row.endswith(" ok")
    assert "ganzoo_plugins.vanilla" in listed.stdout and " 0 broken" in listed.stdout.splitlines()[-1]


def test_plugins_json_gives_distribution_and_version_separately(lsgan_installed, cli):
    code, out, _ = cli("plugins", "--json")
    rows = {row["name"]: row for row in json.loads(out)}
    assert code == 0
    assert rows["lsgan"] == {
        "name": "lsgan", "distribution": "ganzoo-lsgan", "version": importlib.metadata.version("ganzoo-lsgan"),
        "builtin": False, "hooks": ["register_models"], "registered": {"model": ["lsgan"]}, "ok": True, "errors": [],
    }
    vanilla = rows["ganzoo_plugins.vanilla"]
    assert (vanilla["distribution"], vanilla["version"], vanilla["builtin"]) == ("ganzoo", importlib.metadata.version("ganzoo"), True)
