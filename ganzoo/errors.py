"""Errors a user can cause (the CLI prints them as one line and exits with status 2), and a plugin author's."""


class GanzooError(Exception):
    """A problem with user input (a name, an option, a file) that ganzoo explains in one line."""


class CheckpointError(GanzooError):
    """A checkpoint that is missing, corrupt, or not safe to load."""


class SpecError(ValueError):
    """A spec built wrongly by its plugin (bad name, missing part, invalid default), raised when the spec is created.

    ganzoo reports it against the plugin whose hook built the spec; the other plugins keep working.
    """


class ReportedElsewhere(GanzooError):
    """An error another process of a data-parallel job has printed already: this one stops without repeating it."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (or its type), for one-line errors."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
