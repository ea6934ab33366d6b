"""Writing files so that a crash never leaves a half-written one, finding the temporary files a
killed writer left, and checking a path's length before it reaches the file system."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from .errors import GanzooError

ENV_CACHE = "GANZOO_CACHE"

# ``.NAME.tmp-PID``: the temporary file atomic_write writes beside NAME in process PID.
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>[0-9]+)$")
# Used where the file system does not say (os.pathconf is POSIX-only).
NAME_MAX, PATH_MAX = 255, 4096


def temporary_file(path: Path, pid: int | None = None) -> Path:
    """The temporary file :func:`atomic_write` writes ``path`` through, in process ``pid`` (default: this one)."""
    return path.with_name(f".{path.name}.tmp-{os.getpid() if pid is None else pid}")


def atomic_write(path: Path, write: Callable[[BinaryIO], None], durable: bool = False) -> Path:
    """Call ``write`` on a temporary file beside ``path``, then rename it over ``path``.

    Readers see the old file or the new one, never a mix. ``durable`` also flushes the
    data and the rename to disk (worth it for checkpoints, not for pictures).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_file(path)
    try:
        with open(tmp, "wb") as f:
            write(f)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if durable:
        _fsync_dir(path.parent)
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode()))


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not every platform lets a folder be opened.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def stale_temporary_files(folder: Path) -> Iterator[Path]:
    """Temporary files in ``folder`` (not below it) left by :func:`atomic_write` in a process that is gone.

    A file whose writer is alive is still being written and is left alone. This process's own
    pid counts as gone: a caller asks between its own writes, and in a container the same pid
    comes back after every restart, so the file is a dead predecessor's.
    """
    try:
        entries = list(Path(folder).iterdir())
    except OSError:  # absent, or not a folder
        return
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if match and entry.is_file() and not entry.is_symlink() and not _alive(int(match["pid"])):
            yield entry


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError) as exc:
        # EPERM: it exists but belongs to someone else; a pid too large for the OS cannot be alive.
        return isinstance(exc, PermissionError)
    return True


def check_path(path: str | os.PathLike, what: str, room: int = 0, below: int = 0) -> Path:
    """``path`` as a Path, or a one-line error when a name in it (or the whole) is longer than the file system allows.

    Checked before anything touches the disk: the file system would answer with an OSError
    (ENAMETOOLONG) from wherever the path is first used. ``room`` bytes are kept free in the
    last name for the temporary names written beside it (``.NAME.tmp-PID``), and ``below``
    bytes in the whole for the files written inside it.
    """
    path = Path(path)
    limit, total = _limit("PC_NAME_MAX", path, NAME_MAX), _limit("PC_PATH_MAX", path, PATH_MAX)
    parts = path.parts
    for i, part in enumerate(parts):
        size = len(os.fsencode(part)) + (room if i == len(parts) - 1 else 0)
        if size > limit and part not in ("/", "\\"):
            short = part if len(part) <= 40 else part[:37] + "..."
            spare = f" ({limit} less {room} for the temporary name written beside it)" if room and i == len(parts) - 1 else ""
            raise GanzooError(f"{what} {short!r}: a name of {len(os.fsencode(part))} bytes, over the file system's limit of {limit - (room if spare else 0)}{spare}; shorten it")
    size = len(os.fsencode(str(path.absolute())))
    if size + room + below > total:
        raise GanzooError(f"{what}: a path of {size} bytes, over the file system's limit of {total - room - below} here; shorten it")
    return path


def _limit(name: str, path: Path, default: int) -> int:
    # Asked of the nearest folder that exists: limits are per file system.
    folder = path.absolute()
    while True:
        try:
            if folder.is_dir():
                return int(os.pathconf(folder, name))
        except (OSError, ValueError, AttributeError):
            return default
        if folder.parent == folder:
            return default
        folder = folder.parent


def cache_root() -> Path:
    """The user's ganzoo cache folder: ``$GANZOO_CACHE`` or ``~/.cache/ganzoo`` (each cache has a subfolder)."""
    return Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "ganzoo")
