from __future__ import annotations

from pathlib import Path

import pytest

from resdepth import DatasetNotFoundError
from resdepth.data import load_cifar10, load_dataset


def test_missing_cifar10_gives_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(DatasetNotFoundError) as info:
        load_cifar10(tmp_path, train=True, download=False)
    message = str(info.value)
    assert str(tmp_path) in message and "download=True" in message
    assert "--data PATH" in message


def test_unknown_dataset_path(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="no data at"):
        load_dataset(tmp_path / "missing")
