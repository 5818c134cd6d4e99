"""Inputs are checked where they enter: pixel values, pixel counts, pickles, ids."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from resdepth import ResNet, Trainer
from resdepth import transforms as T
from resdepth.data import (
    DeviceLoader,
    load_image_folder,
    load_unlabeled,
    load_unlabeled_pickle,
    write_predictions_csv,
)


@pytest.mark.parametrize("scale", [255.0, -1.0])
def test_float_images_outside_the_unit_range_are_refused(scale: float) -> None:
    images = torch.rand(8, 3, 8, 8) * scale
    labels = torch.arange(8) % 2
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        DeviceLoader(images, labels, batch_size=4, device="cpu")
    trainer = Trainer(ResNet(layers=(1,), widths=(4,), num_classes=2), device="cpu",
                      progress=False)  # fmt: skip
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        trainer.build_loaders((images, labels))
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        trainer.predict(images)
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        T.ToFloat()(images)
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        T.ToFloat()(torch.full((1, 3, 2, 2), float("nan")))
    # In range, or uint8, is fine.
    DeviceLoader(images.clamp(0, 1), labels, batch_size=4, device="cpu")
    assert trainer.predict((images.clamp(0, 1) * 255).to(torch.uint8)).shape == (8,)


def test_random_crop_padding_is_bounded_by_the_image() -> None:
    # Refused before padding: 10**6 pixels of padding would allocate terabytes.
    for crop in (T.RandomCrop(32, padding=1000), T.RandomCrop(None, padding=10**6)):
        with pytest.raises(ValueError, match="more padding than image"):
            crop(torch.zeros(2, 3, 32, 32))
    assert T.RandomCrop(32, padding=32)(torch.zeros(2, 3, 32, 32)).shape == (2, 3, 32, 32)


def _png(path: Path, size: tuple[int, int], mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size).save(path)
    return path


def test_oversized_images_are_refused_before_they_are_decoded(tmp_path: Path) -> None:
    _png(tmp_path / "small" / "a" / "0.png", (40, 30))
    with pytest.raises(ValueError, match=r"0\.png.*40x30 pixels, over the limit of 1,000"):
        load_image_folder(tmp_path / "small", max_pixels=1000)
    # A 100-megapixel PNG is a few kilobytes on disk.
    bomb = _png(tmp_path / "bomb" / "a" / "0.png", (10_000, 10_000), mode="1")
    assert bomb.stat().st_size < 100_000
    with pytest.raises(ValueError, match="10000x10000 pixels"):
        load_image_folder(tmp_path / "bomb")


def _pickle(path: Path, obj: object) -> Path:
    path.write_bytes(pickle.dumps(obj))
    return path


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.random.default_rng(0).random((2, 32, 32, 3)), "float64 values"),
        (np.full((2, 32, 32, 3), -1, dtype=np.int16), r"values in \[-1, -1\]"),
        (np.full((2, 32, 32, 3), 256, dtype=np.int32), r"values in \[256, 256\]"),
        (np.full((2, 32, 32, 3), np.nan, dtype=np.float32), "float32 values"),
        (np.zeros((2, 32, 32, 3), dtype=np.complex64), "complex64 values"),
    ],
    ids=["float", "negative", "above-255", "nan", "complex"],
)
def test_hidden_pickles_are_read_only_as_uint8(
    tmp_path: Path, data: np.ndarray, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        load_unlabeled_pickle(_pickle(tmp_path / "h.pkl", {b"data": data}))


def test_whole_numbers_in_range_are_accepted(tmp_path: Path) -> None:
    data = np.arange(2 * 32 * 32 * 3).reshape(2, 32, 32, 3) % 256
    images = load_unlabeled_pickle(_pickle(tmp_path / "h.pkl", {b"data": data.astype(np.int64)}))
    assert images.dtype == torch.uint8 and torch.equal(images.permute(0, 2, 3, 1).long(),
                                                       torch.from_numpy(data))  # fmt: skip


def test_a_tiny_pickle_cannot_allocate_a_gigabyte(tmp_path: Path) -> None:
    bytearray_bomb = pickle.dumps(_Bytearray())  # builtins.bytearray(2**30): 40-odd bytes
    array_bomb = pickle.dumps(_Reconstruct())  # numpy's reconstructor, 2**30 elements
    for name, payload in (("bytes", bytearray_bomb), ("array", array_bomb)):
        path = tmp_path / f"{name}.pkl"
        path.write_bytes(payload)
        assert path.stat().st_size < 200
        with pytest.raises(pickle.UnpicklingError, match="refusing to allocate"):
            load_unlabeled_pickle(path)


class _Bytearray:
    def __reduce__(self) -> tuple:
        return (bytearray, (2**30,))


class _Reconstruct:
    def __reduce__(self) -> tuple:
        from numpy._core.multiarray import _reconstruct

        return (_reconstruct, (np.ndarray, (2**30,), b"b"))


def test_empty_and_unreadable_pickles_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "empty.pkl").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        load_unlabeled_pickle(tmp_path / "empty.pkl")
    (tmp_path / "cut.pkl").write_bytes(pickle.dumps({b"data": np.zeros(5)})[:20])
    with pytest.raises(pickle.UnpicklingError, match="not a readable pickle"):
        load_unlabeled_pickle(tmp_path / "cut.pkl")


def test_ids_come_from_the_pickle_or_the_file_names(tmp_path: Path) -> None:
    data = np.zeros((3, 32, 32, 3), dtype=np.uint8)
    _, ids = load_unlabeled(_pickle(tmp_path / "h.pkl", {b"data": data, b"ids": [7, 3, 9]}))
    assert ids == ["7", "3", "9"]
    _, ids = load_unlabeled(_pickle(tmp_path / "n.pkl", {b"data": data}))
    assert ids == ["0", "1", "2"]
    with pytest.raises(ValueError, match="3 distinct ids"):
        load_unlabeled(_pickle(tmp_path / "b.pkl", {b"data": data, b"ids": [1, 1, 2]}))
    for name in ("img_b.png", "img_a.png"):
        _png(tmp_path / "plain" / name, (8, 8))
    images, ids = load_unlabeled(tmp_path / "plain")
    assert ids == ["img_a.png", "img_b.png"] and images.shape == (2, 3, 8, 8)


def test_predictions_csv_uses_the_ids_and_refuses_a_folder(tmp_path: Path) -> None:
    out = write_predictions_csv(tmp_path / "p.csv", torch.tensor([2, 0]), ids=["a.png", "b.png"])
    assert out.read_text() == "ID,Label\na.png,2\nb.png,0\n"
    with pytest.raises(IsADirectoryError, match="a folder"):
        write_predictions_csv(tmp_path, torch.tensor([1]))
    assert [p.name for p in tmp_path.iterdir()] == ["p.csv"]  # no stray temporary
    with pytest.raises(ValueError, match="1 ids for 2 predictions"):
        write_predictions_csv(tmp_path / "q.csv", torch.tensor([1, 2]), ids=["x"])
