"""The run folder as the training layer sees it: what the trainer and its callbacks may read
and write. :class:`ganzoo.run.folder.RunFolder` is the implementation; naming only this
Protocol keeps the training layer free of the run layer above it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from .sinks import JsonlSink


class RunFiles(Protocol):
    path: Path

    def open_metrics_log(self, resume_step: int, log_every: int) -> JsonlSink:
        """The metrics sink, with lines past ``resume_step`` dropped."""

    def metrics(self) -> list[dict[str, Any]]:
        """Every complete line of the metrics log."""

    def save_checkpoint(self, state: dict[str, Any], name: str = "last", record: dict[str, Any] | None = None) -> None:
        """Write checkpoint ``name`` (``last`` or ``best``) atomically, with ``record`` in the JSON beside it."""

    def load_checkpoint(self, name: str = "last") -> dict[str, Any]:
        """Read checkpoint ``name``, refusing anything that needs unpickling."""

    def checkpoint_file(self, name: str = "last") -> Path: ...

    def checkpoint_record(self, name: str = "last") -> dict[str, Any] | None:
        """The JSON beside checkpoint ``name`` when it describes the file on disk, else ``None``."""

    def sample_picture(self, step: int) -> Path: ...

    @property
    def final_picture(self) -> Path: ...

    @property
    def loss_picture(self) -> Path: ...

    @property
    def eval_picture(self) -> Path: ...
