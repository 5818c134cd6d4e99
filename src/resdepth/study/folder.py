"""The layout of a study folder (:class:`StudyDir`): one run folder per shape, the
study's settings and its reports.  Every file name of a study folder is spelled here
and nowhere else."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .._atomic import atomic_write
from ..artifacts import RunDir
from ..errors import StudySettingsError

__all__ = ["StudyDir"]


class StudyDir:
    """The files of a study: one :class:`RunDir` per shape (``<folder>/<shape>/``), the
    settings (``study.json``) and the reports (``study.csv``, ``study.md``,
    ``study.png``)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.settings = self.path / "study.json"
        self.table = self.path / "study.csv"
        self.summary = self.path / "study.md"
        self.figure = self.path / "study.png"

    def __repr__(self) -> str:
        return f"StudyDir({str(self.path)!r})"

    def run(self, shape: str) -> RunDir:
        """The run folder of one shape."""
        return RunDir(self.path / shape)

    def read_settings(self) -> dict[str, Any] | None:
        """The recorded settings, or ``None`` where the folder holds no study yet.

        Raises:
            StudySettingsError: ``study.json`` is not a JSON object.
        """
        if not self.settings.exists():
            return None
        try:
            settings = json.loads(self.settings.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise StudySettingsError(f"{self.settings} is damaged ({err}); move it away "
                                     "or choose another folder") from None  # fmt: skip
        if not isinstance(settings, dict):
            raise StudySettingsError(f"{self.settings} does not hold a study's settings")
        return settings

    def write_settings(self, settings: dict[str, Any]) -> None:
        """Record the settings, atomically."""
        with atomic_write(self.settings, "w") as f:
            json.dump(settings, f, indent=2)
