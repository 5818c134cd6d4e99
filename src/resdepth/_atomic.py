"""Writing files so that a crash at any moment leaves the old file or the new one, whole.

The data goes to a temporary file in the same folder (``.NAME.tmpPID``), which is
flushed and fsynced and then renamed over the target (an atomic replace on POSIX
and Windows); the folder is fsynced so the rename itself survives a power loss.  On
any exception the temporary file is removed; a process killed mid-write leaves one
behind, which :func:`remove_temporaries` clears on the next start.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "remove_temporaries", "write_failed"]

_TEMPORARY = re.compile(r"^\..+\.tmp(\d+)$")


def _fsync_folder(folder: Path) -> None:
    if not hasattr(os, "O_DIRECTORY"):  # pragma: no cover - Windows has no folder fsync
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_failed(err: OSError, path: Path, kept: str) -> OSError:
    """``err`` (a full disk, a quota: "No space left on device") as one line that names
    ``path`` and says what is ``kept``, which is what the reader most wants to know."""
    return OSError(err.errno, f"could not write {path} ({err.strerror}); {kept}")


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike[str], mode: str = "wb", **open_kwargs: Any
) -> Iterator[IO[Any]]:
    """Open a temporary file for writing; on a clean exit it replaces ``path``.

    Examples:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "note.txt"
        >>> with atomic_write(target, "w") as f:
        ...     _ = f.write("hello")
        >>> target.read_text(), [p.name for p in target.parent.iterdir()]
        ('hello', ['note.txt'])
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    replaced = False
    try:
        with tmp.open(mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        replaced = True
        _fsync_folder(path.parent)
    except OSError as err:
        kept = (
            "was written but may not survive a power loss"
            if replaced
            else "is unchanged: nothing saved before is lost"
            if path.exists()
            else "was not written"
        )
        raise write_failed(err, path, f"{path.name} {kept}") from err
    finally:
        if tmp.exists():
            tmp.unlink()


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's live process
        return True
    return True


def remove_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files that writers killed mid-write left in ``folder``.

    Only files whose writing process is gone are removed, so a live writer is never
    disturbed.  Returns the paths removed.
    """
    removed: list[Path] = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        match = _TEMPORARY.match(entry.name)
        if match and entry.is_file() and not _alive(int(match.group(1))):
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed
