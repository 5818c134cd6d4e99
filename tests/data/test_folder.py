from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from resdepth.data import CIFAR10_CLASSES, load_image_folder

from .conftest import CLASSES, write_tree


@pytest.mark.parametrize("kind", ["folder", "tar", "zip"])
def test_loads_every_kind_of_source(
    kind: str, image_tree: Path, tar_archive: Path, zip_archive: Path
) -> None:
    source = {"folder": image_tree, "tar": tar_archive, "zip": zip_archive}[kind]
    images, labels, names = load_image_folder(source, split="train")
    assert names == sorted(CLASSES)
    assert images.dtype == torch.uint8 and images.shape == (12, 3, 8, 6)
    assert labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    # Pixel values encode (class, index): check every image landed under its own label.
    for image, label in zip(images, labels, strict=True):
        original_class = CLASSES.index(names[int(label)])
        assert int(image[0, 0, 0]) // 10 == original_class
    test_images, _, _ = load_image_folder(source, split="test")
    assert int(test_images.min()) >= 100


def test_classes_argument_sets_the_label_order(image_tree: Path) -> None:
    order = ["dog", "cat", "airplane", "bird"]  # bird has no folder: fine
    images, labels, names = load_image_folder(image_tree, split="train", classes=order)
    assert names == order and labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert int(images[0, 0, 0, 0]) // 10 == CLASSES.index("dog")
    with pytest.raises(ValueError, match="'airplane', which the class list"):
        load_image_folder(image_tree, split="train", classes=["dog", "cat"])


def test_split_errors(image_tree: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="choose one with split="):
        load_image_folder(image_tree)
    with pytest.raises(ValueError, match="split 'val' not found"):
        load_image_folder(image_tree, split="val")
    flat = write_tree(tmp_path / "flat", splits=("",))
    _, labels, _ = load_image_folder(flat)
    assert len(labels) == 12
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_image_folder(tmp_path / "nowhere")


def test_unreadable_image_names_the_file(image_tree: Path) -> None:
    (image_tree / "train" / "dog" / "broken.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="broken.png"):
        load_image_folder(image_tree, split="train")


def test_images_of_another_size_are_refused(image_tree: Path) -> None:
    from PIL import Image

    Image.new("RGB", (5, 5)).save(image_tree / "train" / "dog" / "zzz.png")
    with pytest.raises(ValueError, match=r"zzz\.png.*size"):
        load_image_folder(image_tree, split="train")


def _png_bytes(value: int, length: int = 256) -> bytes:
    """A 6x8 PNG of one colour, padded to ``length`` bytes (Pillow stops reading at IEND)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (6, 8), (value, value, value)).save(buffer, format="PNG")
    return buffer.getvalue().ljust(length, b"\0")


def test_cache_is_reused_and_invalidated(
    image_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    target = image_tree / "train" / "cat" / "000.png"
    target.write_bytes(_png_bytes(1))
    first = load_image_folder(image_tree, split="train", cache_dir=cache)
    assert len(list(cache.glob("*.pt"))) == 1
    # Decoding opens every image with Pillow; reading the cache opens none.
    from PIL import Image

    calls = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda *a, **k: calls.append(a) or real_open(*a, **k))
    second = load_image_folder(image_tree, split="train", cache_dir=cache)
    assert calls == [] and torch.equal(first[0], second[0]) and first[2] == second[2]
    # Changing a source file's content invalidates the entry, even when its size and
    # modification time stay the same.
    stat = target.stat()
    target.write_bytes(_png_bytes(2))
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert target.stat().st_size == stat.st_size and target.stat().st_mtime_ns == stat.st_mtime_ns
    third = load_image_folder(image_tree, split="train", cache_dir=cache)
    assert calls and not torch.equal(first[0], third[0])


@pytest.mark.parametrize("damage", ["truncated", "wrong-dtype", "labels-out-of-range"])
def test_a_damaged_cache_entry_is_rebuilt_with_a_warning(
    image_tree: Path, tmp_path: Path, damage: str
) -> None:
    cache = tmp_path / "cache"
    first = load_image_folder(image_tree, split="train", cache_dir=cache)
    (entry,) = cache.glob("*.pt")
    if damage == "truncated":
        entry.write_bytes(entry.read_bytes()[:100])
    else:
        images, labels = first[0], first[1]
        if damage == "wrong-dtype":
            images = images.float()
        else:
            labels = labels + 7
        torch.save({"images": images, "labels": labels, "classes": first[2]}, entry)
    with pytest.warns(UserWarning, match="decoding again"):
        second = load_image_folder(image_tree, split="train", cache_dir=cache)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert load_image_folder(image_tree, split="train", cache_dir=cache)[2] == first[2]


@pytest.mark.slow
def test_shared_cifar10_archive(shared_archive: Path) -> None:
    for split, total, per_class in (("train", 50_000, 5_000), ("test", 10_000, 1_000)):
        images, labels, names = load_image_folder(shared_archive, split=split)
        assert images.shape == (total, 3, 32, 32) and images.dtype == torch.uint8
        assert tuple(names) == CIFAR10_CLASSES
        assert labels.bincount(minlength=10).tolist() == [per_class] * 10
        assert images.float().std() > 40  # real photographs, not blank decodes
