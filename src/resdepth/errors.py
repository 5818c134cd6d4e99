"""Every exception resdepth raises of its own, in one place.

Each class also derives from the built-in exception a caller would catch anyway
(``ValueError``, ``FileNotFoundError``, ``RuntimeError`` ...), so code written
against plain Python keeps working, and from :class:`ResdepthError`, so one
``except resdepth.ResdepthError`` catches anything resdepth refuses.  The one
exception is :class:`RunInterrupted`: a ``KeyboardInterrupt``, so that code which
catches ``Exception`` does not swallow a Ctrl-C.

Examples:
    >>> import resdepth
    >>> try:
    ...     resdepth.get_model("resnet41")
    ... except ValueError as err:
    ...     print(str(err).split(";")[0])
    unknown model 'resnet41'
"""

from __future__ import annotations

import pickle
import signal

__all__ = [
    "CheckpointError",
    "CommandError",
    "DataMismatchError",
    "DatasetNotFoundError",
    "ExportExistsError",
    "NonFiniteLossError",
    "PaperCheckpointError",
    "RefusedPickleError",
    "ResdepthError",
    "ResumeMismatchError",
    "RunExistsError",
    "RunFailed",
    "RunInterrupted",
    "RunLockedError",
    "StudySettingsError",
]


class ResdepthError(Exception):
    """The base of every resdepth exception except :class:`RunInterrupted`."""


# ----------------------------------------------------------------------- data
class DatasetNotFoundError(ResdepthError, FileNotFoundError):
    """A data set is missing and could not be downloaded; the message says what to do."""


class DataMismatchError(ResdepthError, ValueError):
    """Data that does not fit the model: labels beyond its outputs, or outputs of another
    shape than the batch and the classes; found on the first batch."""


class RefusedPickleError(ResdepthError, pickle.UnpicklingError):
    """A pickle asked for something the restricted unpickler does not allow; nothing
    in it was run."""


# ----------------------------------------------------------------------- models
class PaperCheckpointError(ResdepthError, ValueError):
    """A file that is not a model (or state dict) of the paper's code, or that asks to
    load anything such a file does not hold; nothing in it was run."""


# ----------------------------------------------------------------------- training
class CheckpointError(ResdepthError, ValueError):
    """A checkpoint that is missing, truncated, or not a resdepth checkpoint."""


class ResumeMismatchError(ResdepthError, ValueError):
    """A resume whose settings differ from the checkpoint's; the message lists each."""


class RunExistsError(ResdepthError, FileExistsError):
    """``out_dir`` already holds a run and ``resume`` was not asked for."""


class ExportExistsError(ResdepthError, FileExistsError):
    """The folder to export a model to holds one already and overwriting was not asked for."""


class RunLockedError(ResdepthError, RuntimeError):
    """Another live process is training into the same ``out_dir``."""


class NonFiniteLossError(ResdepthError, RuntimeError):
    """The loss, a metric or the weights became NaN or infinite; nothing of it was saved."""


class RunInterrupted(KeyboardInterrupt):
    """Training stopped on SIGINT (Ctrl-C) or SIGTERM after saving where it stood.

    A ``KeyboardInterrupt``, so that code which catches ``Exception`` does not
    swallow it.  ``signal`` is the signal number; the message says what was saved
    and how to resume; ``where`` (``"after epoch 3"``) and ``held`` (what is saved)
    let a caller word its own advice.
    """

    def __init__(self, message: str, signal_number: int, where: str = "", held: str = "") -> None:
        super().__init__(message)
        self.signal, self.where, self.held = signal_number, where, held

    @property
    def signal_name(self) -> str:
        """``"SIGINT"`` or ``"SIGTERM"``."""
        return signal.Signals(self.signal).name

    @classmethod
    def after(cls, signum: int | None, where: str, held: str) -> RunInterrupted:
        """The stop ``where`` (``"after epoch 3"``) by ``signum``; ``held``: what is saved."""
        signum = signum or signal.SIGINT  # under DDP another rank may have had the signal
        return cls(
            f"stopped by {signal.Signals(signum).name} {where}; {held}: resume with "
            "fit(..., resume=True) (the command line: the same command with --resume)",
            signum, where, held,
        )  # fmt: skip


# ----------------------------------------------------------------------- study
class StudySettingsError(ResdepthError, ValueError):
    """A study folder that holds a study with other settings, or whose record is
    damaged; the message names each difference."""


# ----------------------------------------------------------------------- command line
class CommandError(ResdepthError):
    """A mistake in a ``resdepth`` command's input: one line, exit status 2."""


class RunFailed(ResdepthError):
    """A failure while a command's run is under way (a full disk, say): one line, exit
    status 1."""
