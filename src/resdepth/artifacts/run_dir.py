"""The layout of a run folder (:class:`RunDir`): its files, the check that a new run
does not overwrite an old one, and the lock that keeps two live runs from writing into
it at once.  Every file name of a run folder is spelled here and nowhere else (a study
folder's are in :class:`resdepth.study.StudyDir`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .._atomic import remove_temporaries, write_failed
from ..errors import RunExistsError, RunLockedError
from .checkpoint import load_checkpoint, save_checkpoint
from .history import History

__all__ = ["RunDir"]

try:  # POSIX: a lock the kernel drops when its process dies, however it dies
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class RunDir:
    """The files of one run: ``last.pt``, ``best.pt``, ``history.csv`` and ``.lock``.

    Examples:
        >>> run = RunDir("runs/resnet40")
        >>> run.last.name, run.best.name, run.history.name
        ('last.pt', 'best.pt', 'history.csv')
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.last = self.path / "last.pt"
        self.best = self.path / "best.pt"
        self.history = self.path / "history.csv"
        self.previous = self.path / "previous.pt"  # the checkpoint before last.pt
        self.mlflow_run = self.path / "mlflow.json"  # the MLflow run this run logs to
        self._lock_path = self.path / ".lock"
        self._lock_file: IO[str] | None = None
        self.saved: str | None = None  # where in the run last.pt stands, in words

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def has_run(self) -> bool:
        """Whether a run has saved a checkpoint here."""
        return self.last.is_file()

    def holds(self) -> str:
        """What the run directory holds now, for messages about a stopped run."""
        if self.saved is None:
            return "no checkpoint was written"
        return f"{self.last} holds {self.saved}"

    def drop_previous(self) -> int:
        """Delete ``previous.pt`` (a finished run no longer needs its fall-back, as large
        as ``last.pt``); the bytes freed, 0 if there was none."""
        try:
            size = self.previous.stat().st_size
            self.previous.unlink()
        except FileNotFoundError:
            return 0
        return size

    def write(self, state: dict[str, Any], history: History, best: bool) -> None:
        """Save ``last.pt`` (and ``best.pt``), then ``history.csv``, each atomically; the
        ``last.pt`` before becomes ``previous.pt``, to fall back on if one is damaged."""
        self._keep_previous()
        save_checkpoint(self.last, state)
        if best:
            save_checkpoint(self.best, state)
        history.to_csv(self.history)

    def _keep_previous(self) -> None:
        if not self.last.is_file():
            return
        # A second name for the same bytes (a copy where links are not allowed), put in
        # place atomically: a crash leaves the old previous.pt or the new one.
        temporary = self.previous.with_name(f".{self.previous.name}.tmp{os.getpid()}")
        temporary.unlink(missing_ok=True)
        try:
            try:
                os.link(self.last, temporary)
            except OSError:
                shutil.copyfile(self.last, temporary)
            os.replace(temporary, self.previous)
        except OSError as err:  # a full disk, most likely: name the file, say what is kept
            temporary.unlink(missing_ok=True)
            kept = f"{self.last.name} is unchanged: nothing saved before is lost"
            raise write_failed(err, self.previous, kept) from err

    def load(self, path: Path, map_location: Any = "cpu") -> dict[str, Any]:
        """Read a checkpoint of this run, naming ``previous.pt`` if ``last.pt`` is damaged."""
        fallback = self.previous if path == self.last else None
        return load_checkpoint(path, map_location=map_location, fallback=fallback)

    def check_can_start(self, resume: bool) -> None:
        """Refuse to start over an existing run, or to resume one that is not there.

        Raises:
            RunExistsError: a run is there and ``resume`` is false.
            FileNotFoundError: ``resume`` is true and there is no ``last.pt``.
            NotADirectoryError: the path is a file.
        """
        if self.path.exists() and not self.path.is_dir():
            raise NotADirectoryError(f"{self.path} is a file, not a run folder; choose a folder")
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

    def _not_started(self, err: OSError) -> OSError:
        """A full disk or a read-only folder at the start, said in one line."""
        kept = "the run did not start, and nothing saved before is lost"
        return write_failed(err, self._lock_path, kept)

    def _acquire(self) -> None:
        me = f"pid {os.getpid()} on {socket.gethostname()}"
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise self._not_started(err) from err
        if fcntl is None:  # pragma: no cover - Windows: an exclusive create, stale if dead
            self._acquire_by_creating(me)
            return
        try:
            lock_file = self._lock_path.open("a+")
        except OSError as err:
            raise self._not_started(err) from err
        try:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.close()
            raise RunLockedError(
                f"another run ({self._owner()}) is writing to {self.path}; wait for it to "
                "finish or choose another directory"
            ) from None
        # A lock file left by a dead process carries no lock and is simply taken over.
        try:
            lock_file.seek(0)
            lock_file.truncate()
            lock_file.write(me + "\n")
            lock_file.flush()
        except OSError as err:  # a full disk: say so before an epoch is spent on it
            with contextlib.suppress(OSError):  # closing flushes, and fails the same way
                lock_file.close()
            raise self._not_started(err) from err
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
