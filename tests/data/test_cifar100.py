"""CIFAR-100 in its official form: fine or coarse labels, class names from its meta
file, found where CIFAR-10 is found, and never downloaded unless asked."""

from __future__ import annotations

import pickle
import shutil
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from resdepth import DatasetNotFoundError
from resdepth.data import (
    CIFAR100_URL,
    NAMED_DATASETS,
    is_cifar10_python,
    is_cifar100_python,
    load_cifar100,
    load_dataset,
    read_cifar100_python,
)

FINE = [f"fine{i:02d}" for i in range(100)]
COARSE = [f"coarse{i:02d}" for i in range(20)]
SIZES = {"train": 6, "test": 4}


def _dump(path: Path, obj: object) -> None:
    with path.open("wb") as f:
        pickle.dump(obj, f, protocol=2)


def write_cifar100(folder: Path, meta: dict[bytes, Any] | None = None) -> dict[str, dict]:
    """The official ``cifar-100-python`` folder: train, test and meta pickles."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    written = {}
    for split, n in SIZES.items():
        batch = {
            b"filenames": [b"x.png"] * n,
            b"batch_label": f"{split} batch".encode(),
            b"fine_labels": rng.integers(0, 100, n).tolist(),
            b"coarse_labels": rng.integers(0, 20, n).tolist(),
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        }
        _dump(folder / split, batch)
        written[split] = batch
    names = {b"fine_label_names": [n.encode() for n in FINE],
             b"coarse_label_names": [n.encode() for n in COARSE]}  # fmt: skip
    _dump(folder / "meta", names if meta is None else meta)
    (folder / "file.txt~").write_text("not a pickle")
    return written


def archive(folder: Path, skip: str = "") -> Path:
    out = folder.parent / "cifar-100-python.tar.gz"
    with tarfile.open(out, "w:gz") as tf:
        for path in sorted(folder.iterdir()):
            if path.name != skip:
                tf.add(path, arcname=f"cifar-100-python/{path.name}")
    shutil.rmtree(folder)
    return out


@pytest.mark.parametrize("form", ["folder", "archive", "parent"])
@pytest.mark.parametrize("train", [True, False])
def test_the_official_files_are_read_with_fine_labels_by_default(
    tmp_path: Path, form: str, train: bool
) -> None:
    folder = tmp_path / "cifar-100-python"
    written = write_cifar100(folder)["train" if train else "test"]
    source = {"folder": folder, "parent": tmp_path}.get(form) or archive(folder)
    assert is_cifar100_python(source) and not is_cifar10_python(source)
    ds = load_dataset(source, train=train)
    split = "train" if train else "test"
    assert ds.classes == tuple(FINE) and ds.split == split
    assert ds.images.shape == (SIZES[split], 3, 32, 32) and ds.images.dtype == torch.uint8
    assert ds.labels.dtype == torch.int64 and ds.labels.tolist() == written[b"fine_labels"]
    assert torch.equal(ds.images, torch.from_numpy(written[b"data"]).view(-1, 3, 32, 32))
    coarse = load_dataset(source, train=train, label_mode="coarse")
    assert coarse.classes == tuple(COARSE) and coarse.labels.tolist() == written[b"coarse_labels"]
    assert torch.equal(coarse.images, ds.images) and "coarse" in coarse.name


def test_cifar100_is_a_named_data_set_found_where_cifar10_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "cifar100" in NAMED_DATASETS
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RESDEPTH_DATA", raising=False)
    written = write_cifar100(tmp_path / "root" / "cifar-100-python")
    ds = load_dataset("cifar100", train=False, root=tmp_path / "root")
    assert repr(ds).startswith("Dataset('CIFAR-100 test', 4 images of 3x32x32, 100 classes")
    assert ds.labels.tolist() == written["test"][b"fine_labels"]
    archive(tmp_path / "root" / "cifar-100-python")
    shutil.move(tmp_path / "root", tmp_path / "env")
    monkeypatch.setenv("RESDEPTH_DATA", str(tmp_path / "env"))
    images, labels, classes = load_cifar100(train=True, label_mode="coarse")
    assert images.shape == (6, 3, 32, 32) and classes == tuple(COARSE)
    assert labels.tolist() == written["train"][b"coarse_labels"]


def test_nothing_downloads_without_download_true(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torchvision.datasets.utils as tv_utils

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(tv_utils, "download_url", no_network)
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("RESDEPTH_DATA", str(tmp_path / "env"))
    with pytest.raises(DatasetNotFoundError) as caught:
        load_dataset("cifar100", root=tmp_path / "root", download=False)
    message = str(caught.value)
    for place in (tmp_path / "root", tmp_path / "env", home / ".cache" / "resdepth"):
        assert str(place) in message
    assert CIFAR100_URL in message and "--data PATH/cifar-100-python.tar.gz" in message
    assert "--data cifar100 without --no-download" in message and "\n" not in message
    assert not (tmp_path / "root").exists() and not home.exists()


def test_a_failed_download_checks_the_official_checksum_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torchvision.datasets.utils as tv_utils

    calls = []

    def offline(*args: object, **kwargs: object) -> None:
        calls.append(args)
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(tv_utils, "download_url", offline)  # the network, not the code
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RESDEPTH_DATA", raising=False)
    with pytest.raises(DatasetNotFoundError, match="CIFAR-100 .* could not be downloaded"):
        load_cifar100(tmp_path / "data", download=True)
    assert calls == [(CIFAR100_URL, str(tmp_path / "data"), "cifar-100-python.tar.gz",
                      "eb9058c3a382ffc7106e4002c42a8d85")]  # fmt: skip
    assert not (tmp_path / "data").exists()


def test_label_modes_are_checked(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    write_cifar100(folder)
    for call in (
        lambda: load_dataset(folder, label_mode="superclass"),
        lambda: load_cifar100(folder, label_mode="Fine"),
        lambda: read_cifar100_python(folder, label_mode="coarse_labels"),
    ):
        with pytest.raises(ValueError, match="label_mode must be one of"):
            call()
    for spec in ("cifar10-sample", "synthetic"):
        with pytest.raises(ValueError, match="for CIFAR-100 only"):
            load_dataset(spec, label_mode="coarse")


@pytest.mark.parametrize("missing", ["meta", "test"])
def test_a_missing_member_is_named(tmp_path: Path, missing: str) -> None:
    folder = tmp_path / "cifar-100-python"
    write_cifar100(folder)
    source = archive(folder, skip=missing)
    with pytest.raises(ValueError, match=f"has no {missing}: not a complete CIFAR-100 archive"):
        load_dataset(source, train=False)
    with pytest.raises(ValueError, match="has no meta: not a complete CIFAR-100 folder"):
        other = tmp_path / "other"
        write_cifar100(other)
        (other / "meta").unlink()
        read_cifar100_python(other)


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({b"fine_label_names": [b"a"] * 100, b"coarse_label_names": []}, "100 distinct fine"),
        ({b"fine_label_names": [n.encode() for n in FINE[:99]]}, "100 distinct fine"),
        ([b"not", b"a", b"dict"], "100 distinct fine"),
    ],
)
def test_a_meta_file_without_the_class_names_is_refused(
    tmp_path: Path, meta: Any, message: str
) -> None:
    folder = tmp_path / "cifar-100-python"
    write_cifar100(folder, meta=meta)
    with pytest.raises(ValueError, match=message):
        read_cifar100_python(folder)


def test_labels_outside_the_class_list_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    write_cifar100(folder)
    batch = pickle.loads((folder / "test").read_bytes())
    batch[b"coarse_labels"][0] = 20
    _dump(folder / "test", batch)
    assert len(read_cifar100_python(folder, train=False, label_mode="fine")[1]) == 4
    with pytest.raises(ValueError, match="one coarse label in 0..19 per image"):
        read_cifar100_python(folder, train=False, label_mode="coarse")


def test_a_tampered_meta_runs_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self) -> tuple:
            return (__import__("os").system, (f"touch {marker}",))

    write_cifar100(folder, meta={b"fine_label_names": Exploit()})
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        load_dataset(folder)
    assert not marker.exists()
