"""A run directory: its files, the check that a new run does not overwrite an old one,
and the lock that keeps two live runs from writing into it at once."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from ._atomic import remove_temporaries
from .checkpoint import save_checkpoint
from .history import History

__all__ = ["RunDirectory", "RunExistsError", "RunLockedError"]

try:  # POSIX: a lock the kernel drops when its process dies, however it dies
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class RunExistsError(FileExistsError):
    """``out_dir`` already holds a run and ``resume`` was not asked for."""


class RunLockedError(RuntimeError):
    """Another live process is training into the same ``out_dir``."""


class RunDirectory:
    """The files of one run: ``last.pt``, ``best.pt``, ``history.csv`` and ``.lock``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.last = self.path / "last.pt"
        self.best = self.path / "best.pt"
        self.history = self.path / "history.csv"
        self._lock_path = self.path / ".lock"
        self._lock_file: IO[str] | None = None
        self.saved: str | None = None  # where in the run last.pt stands, in words

    def holds(self) -> str:
        """What the run directory holds now, for messages about a stopped run."""
        if self.saved is None:
            return "no checkpoint was written"
        return f"{self.last} holds {self.saved}"

    def write(self, state: dict[str, Any], history: History, best: bool) -> None:
        """Save ``last.pt`` (and ``best.pt``), then ``history.csv``, each atomically."""
        save_checkpoint(self.last, state)
        if best:
            save_checkpoint(self.best, state)
        history.to_csv(self.history)

    def check_can_start(self, resume: bool) -> None:
        """Refuse to start over an existing run, or to resume one that is not there.

        Raises:
            RunExistsError: a run is there and ``resume`` is false.
            FileNotFoundError: ``resume`` is true and there is no ``last.pt``.
        """
        if resume and not self.last.exists():
            raise FileNotFoundError(f"no run to resume in {self.path} (no last.pt)")
        if not resume and self.last.exists():
            raise RunExistsError(
                f"{self.path} already holds a run; resume it (resume=True, --resume) "
                "or choose another directory"
            )

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Hold the run's lock while the block runs; clear what killed writers left.

        Raises:
            RunLockedError: another live process holds the lock.
        """
        self._acquire()
        try:
            remove_temporaries(self.path)
            yield
        finally:
            self._release()

    def _owner(self) -> str:
        try:
            return self._lock_path.read_text().strip() or "unknown"
        except OSError:
            return "unknown"

    def _acquire(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        me = f"pid {os.getpid()} on {socket.gethostname()}"
        if fcntl is None:  # pragma: no cover - Windows: an exclusive create, stale if dead
            self._acquire_by_creating(me)
            return
        lock_file = self._lock_path.open("a+")
        try:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.close()
            raise RunLockedError(
                f"another run ({self._owner()}) is writing to {self.path}; wait for it to "
                "finish or choose another directory"
            ) from None
        # A lock file left by a dead process carries no lock and is simply taken over.
        lock_file.seek(0)
        lock_file.truncate()
        lock_file.write(me + "\n")
        lock_file.flush()
        self._lock_file = lock_file

    def _acquire_by_creating(self, me: str) -> None:  # pragma: no cover - Windows
        try:
            fd = os.open(self._lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            raise RunLockedError(
                f"{self.path} is locked by {self._owner()}; if that run is gone, delete "
                f"{self._lock_path}"
            ) from None
        with os.fdopen(fd, "w") as f:
            f.write(me + "\n")

    def _release(self) -> None:
        if self._lock_file is None:  # pragma: no cover - Windows
            self._lock_path.unlink(missing_ok=True)
            return
        self._lock_path.unlink(missing_ok=True)
        self._lock_file.close()  # closing drops the kernel lock
        self._lock_file = None
