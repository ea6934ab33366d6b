"""Errors a user can cause. The CLI prints them as one line and exits with status 2."""


class GanzooError(Exception):
    """A problem with user input (a name, an option, a file) that ganzoo explains in one line."""


class CheckpointError(GanzooError):
    """A checkpoint that is missing, corrupt, or not safe to load."""
