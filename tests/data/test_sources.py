"""Labels are names: one class list per data set; CIFAR-10 in its official form, found
locally; the sample inside the package."""

from __future__ import annotations

import pickle
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from resdepth import DatasetNotFoundError
from resdepth.data import (
    CIFAR10_CLASSES,
    CIFAR10_SAMPLE,
    CIFAR10_URL,
    list_splits,
    load_cifar10,
    load_dataset,
)

from .conftest import CLASSES, write_tree


def test_a_test_split_missing_a_class_keeps_the_labels_meaning(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "tree")
    shutil.rmtree(root / "test" / "airplane")  # sorted, airplane would be label 0
    train = load_dataset(root, train=True)
    test = load_dataset(root, train=False)
    assert train.classes == test.classes == ("airplane", "cat", "dog")
    # Pixel values encode the class (value // 10 indexes CLASSES): check by name.
    for ds in (train, test):
        for image, label in zip(ds.images, ds.labels, strict=True):
            assert CLASSES[(int(image[0, 0, 0]) % 100) // 10] == ds.classes[int(label)]
    assert sorted(test.labels.unique().tolist()) == [1, 2]


def test_a_split_with_a_class_the_list_lacks_is_an_error(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "tree")
    shutil.copytree(root / "test" / "dog", root / "test" / "wolf")
    with pytest.raises(ValueError, match="'wolf', which the class list"):
        load_dataset(root, train=False)
    assert len(load_dataset(root, train=False, classes=[*CLASSES, "wolf"])) == 16


def test_a_folder_without_splits_is_not_silently_its_own_test_set(tmp_path: Path) -> None:
    flat = write_tree(tmp_path / "flat", splits=("",))
    assert list_splits(flat) == {None: sorted(CLASSES)}
    assert len(load_dataset(flat, train=True)) == 12
    with pytest.raises(ValueError, match="training images again"):
        load_dataset(flat, train=False)
    assert load_dataset(flat, train=False, allow_unsplit=True).split is None


def _write_cifar_batches(folder: Path, per_batch: int = 6) -> dict[str, tuple]:
    """The official layout: five data batches, a test batch and batches.meta."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        rows = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, per_batch).tolist()
        with (folder / name).open("wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"data": rows, b"labels": labels,
                         b"filenames": [b"x.png"] * per_batch}, f, protocol=2)  # fmt: skip
        written[name] = (rows, labels)
    with (folder / "batches.meta").open("wb") as f:
        pickle.dump({b"label_names": [c.encode() for c in CIFAR10_CLASSES]}, f, protocol=2)
    return written


@pytest.mark.parametrize("form", ["folder", "archive"])
def test_the_official_cifar10_files_are_read_directly(tmp_path: Path, form: str) -> None:
    written = _write_cifar_batches(tmp_path / "cifar-10-batches-py")
    source = tmp_path / "cifar-10-batches-py"
    if form == "archive":
        source = tmp_path / "cifar-10-python.tar.gz"
        with tarfile.open(source, "w:gz") as tf:
            tf.add(tmp_path / "cifar-10-batches-py", arcname="cifar-10-batches-py")
        shutil.rmtree(tmp_path / "cifar-10-batches-py")
    train, test = load_dataset(source, train=True), load_dataset(source, train=False)
    assert train.classes == CIFAR10_CLASSES and len(train) == 30 and len(test) == 6
    rows, labels = written["data_batch_2"]
    assert torch.equal(train.images[6:12], torch.from_numpy(rows).view(-1, 3, 32, 32))
    assert train.labels[6:12].tolist() == labels
    assert test.labels.tolist() == written["test_batch"][1]


def test_a_tampered_cifar10_batch_runs_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar_batches(folder)
    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self) -> tuple:
            return (__import__("os").system, (f"touch {marker}",))

    (folder / "test_batch").write_bytes(pickle.dumps({b"data": Exploit()}))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        load_dataset(folder, train=False)
    assert not marker.exists()


def test_cifar10_is_looked_for_before_any_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("RESDEPTH_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetNotFoundError) as caught:
        load_cifar10(train=False)
    message = str(caught.value)
    assert "--data PATH/cifar-10-python.tar.gz" in message and CIFAR10_URL in message
    assert str(home / ".cache" / "resdepth") in message and "\n" not in message
    assert not (tmp_path / "data").exists()  # nothing left behind
    for place in ("env", "cache", "root"):
        target = {"env": tmp_path / "env", "cache": home / ".cache" / "resdepth",
                  "root": tmp_path / "root"}[place]  # fmt: skip
        _write_cifar_batches(target / "cifar-10-batches-py", per_batch=2)
        if place == "env":
            monkeypatch.setenv("RESDEPTH_DATA", str(target))
        root = target if place == "root" else None
        images, _ = load_cifar10(root, train=False)
        assert images.shape == (2, 3, 32, 32)
        shutil.rmtree(target)
        monkeypatch.delenv("RESDEPTH_DATA", raising=False)


def test_a_failed_download_says_what_to_fetch_and_leaves_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torchvision.datasets.utils as tv_utils

    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(tv_utils, "download_url", offline)  # the network, not the code
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(DatasetNotFoundError, match="could not be downloaded.*--data PATH"):
        load_cifar10(tmp_path / "data", download=True)
    assert not (tmp_path / "data").exists()


def test_the_sample_inside_the_package() -> None:
    assert CIFAR10_SAMPLE.is_file() and CIFAR10_SAMPLE.stat().st_size < 5_000_000
    train, test = load_dataset("cifar10-sample"), load_dataset("cifar10-sample", train=False)
    assert train.classes == test.classes == CIFAR10_CLASSES
    assert train.labels.bincount().tolist() == [500] * 10
    assert test.labels.bincount().tolist() == [100] * 10
    assert train.images.shape[1:] == (3, 32, 32) and train.images.float().std() > 40
    assert "6,000" not in repr(train) and "tensor" not in repr(train)
    assert repr(train).startswith("Dataset('cifar10-sample train', 5000 images of 3x32x32")


def test_the_sample_is_read_in_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    # Its layout is known: no pass over the archive to list its splits first.
    opened: list[object] = []
    real_open = tarfile.open

    def counting_open(*args: object, **kwargs: object) -> tarfile.TarFile:
        opened.append(args[0] if args else kwargs.get("name"))
        return real_open(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tarfile, "open", counting_open)
    test = load_dataset("cifar10-sample", train=False)
    assert len(test) == 1000 and test.split == "test"
    assert opened == [CIFAR10_SAMPLE]


def test_a_dataset_indexes_like_torchvisions_and_feeds_a_dataloader() -> None:
    from torch.utils.data import DataLoader

    from resdepth.data import Dataset, make_synthetic

    ds = Dataset("demo", *make_synthetic(10, 3, 8), ("a", "b", "c"))
    image, label = ds[3]
    assert image.shape == (3, 8, 8) and image.dtype == torch.uint8 and isinstance(label, int)
    assert torch.equal(image, ds.images[3]) and label == int(ds.labels[3])
    assert torch.equal(ds[-1][0], ds.images[9]) and len(ds) == 10
    with pytest.raises(IndexError, match="out of range"):
        ds[10]
    with pytest.raises(TypeError, match="indexed by an integer"):
        ds["3"]  # type: ignore[index]
    images, labels = next(iter(DataLoader(ds, batch_size=4)))
    assert images.shape == (4, 3, 8, 8) and torch.equal(labels, ds.labels[:4])
    assert len(list(ds)) == 10  # iterable through indexing, image by image


def test_fit_refuses_a_dataset_in_one_line_rather_than_train_image_by_image() -> None:
    from resdepth import ResNet, Trainer
    from resdepth.data import Dataset, make_synthetic

    ds = Dataset("demo", *make_synthetic(40, 3, 8), ("a", "b", "c"))
    trainer = Trainer(ResNet(layers=(1,), widths=(4,), num_classes=3), device="cpu",
                      progress=False, recipe="as1")  # fmt: skip
    for train, val, name in ((ds, None, "train"), (trainer.build_loaders(ds)[0], ds, "val")):
        with pytest.raises(TypeError, match=f"^{name} is a Dataset.*build_loaders") as info:
            trainer.fit(train, val, epochs=1)
        assert "\n" not in str(info.value)
    assert len(trainer.fit(*trainer.build_loaders(ds, ds), epochs=1)) == 1
    assert trainer.evaluate(ds)["accuracy"] >= 0  # evaluate takes one as it is
