"""The table ``ganzoo eval`` prints: each column starts at one place on every line, however long a metric's name or numbers."""

from __future__ import annotations

from ganzoo.eval.evaluate import format_report

PROTOCOL = {"step": 1, "checkpoint": "last", "generator": "G", "seed": 0, "n_generated": 10, "n_real": 10, "real_split": "s"}


def _table(metrics: dict, seconds: dict, skipped: dict | None = None, failed: dict | None = None) -> list[str]:
    report = {"model": "m", "dataset": "ring8", "metrics": metrics, "seconds": seconds, "skipped": skipped or {},
              "failed": failed or {}, "protocol": PROTOCOL}
    return format_report(report).splitlines()[2:]  # the header line on


def test_a_long_metric_name_keeps_the_seconds_column_in_line():
    lines = _table({"fid": {"fid": 12.5}, "a-plugins-rather-long-metric-name": {"score": 0.25}},
                   {"fid": 1.0, "a-plugins-rather-long-metric-name": 22.0})
    header, fid, long = lines
    column = header.index("seconds")
    assert fid[column:] == "1.0" and long[column:] == "22.0"
    assert header.index("value") == fid.index("fid 12.5") == long.index("score 0.25")


def test_long_values_keep_the_seconds_column_in_line():
    many = {f"number_{i}": 0.123456 for i in range(6)}  # wider than the value column's usual 34 characters
    header, short, wide = _table({"fid": {"fid": 3.0}, "many": many}, {"fid": 2.0, "many": 3.5})
    assert short[header.index("seconds"):] == "2.0" and wide[header.index("seconds"):] == "3.5"


def test_skipped_and_failed_metrics_line_up_with_the_others():
    lines = _table({"fid": {"fid": 1.0}}, {"fid": 1.0}, skipped={"a-very-long-skipped-metric-name": "no labels"},
                   failed={"kid": "RuntimeError: boom"})
    starts = {line.index(text) for line, text in zip(lines[1:], ("fid 1", "skipped:", "FAILED:"))}
    assert starts == {lines[0].index("value")}
