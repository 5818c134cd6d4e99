from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from resdepth.data import load_unlabeled_pickle, write_predictions_csv


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_refuses_a_pickle_that_would_run_a_command(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(pickle.dumps({b"data": _Exploit(marker)}))
    with pytest.raises(pickle.UnpicklingError, match="refusing to load"):
        load_unlabeled_pickle(bad)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_loads_the_competition_format(tmp_path: Path, protocol: int) -> None:
    data = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    path = tmp_path / "hidden.pkl"
    path.write_bytes(pickle.dumps({b"data": data, b"ids": [1, 2, 3]}, protocol=protocol))
    images = load_unlabeled_pickle(path)
    assert images.shape == (5, 3, 32, 32) and images.dtype == torch.uint8
    assert torch.equal(images.permute(0, 2, 3, 1), torch.from_numpy(data))


def test_loads_cifar_style_rows(tmp_path: Path) -> None:
    chw = np.random.default_rng(1).integers(0, 256, (3, 3, 32, 32), dtype=np.uint8)
    path = tmp_path / "rows.pkl"
    path.write_bytes(pickle.dumps({"data": chw.reshape(3, -1)}))
    assert torch.equal(load_unlabeled_pickle(path), torch.from_numpy(chw))


def test_bad_pickles(tmp_path: Path) -> None:
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps({b"labels": [1]}))
    with pytest.raises(ValueError, match="data"):
        load_unlabeled_pickle(path)
    path.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(ValueError, match="dict"):
        load_unlabeled_pickle(path)
    with pytest.raises(FileNotFoundError):
        load_unlabeled_pickle(tmp_path / "missing.pkl")


def test_write_predictions_csv(tmp_path: Path) -> None:
    out = write_predictions_csv(tmp_path / "sub" / "pred.csv", torch.tensor([3, 1, 4]))
    assert out.read_text() == "ID,Label\n0,3\n1,1\n2,4\n"
    with pytest.raises(TypeError, match="integer"):
        write_predictions_csv(tmp_path / "p.csv", torch.tensor([0.5]))
