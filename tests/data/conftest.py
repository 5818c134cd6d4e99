from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CLASSES = ("cat", "airplane", "dog")  # deliberately unsorted


def write_tree(root: Path, splits: tuple[str, ...] = ("train", "test"), per_class: int = 4) -> Path:
    """A tiny split/class/image.png tree; pixel value = 10 * class_index + image_index."""
    for split in splits:
        for c, name in enumerate(CLASSES):
            folder = root / split / name if split else root / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                value = 10 * c + i + (100 if split == "test" else 0)
                array = np.full((8, 6, 3), value, dtype=np.uint8)
                Image.fromarray(array).save(folder / f"{i:03d}.png")
    return root


@pytest.fixture
def image_tree(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "tree")


@pytest.fixture
def tar_archive(image_tree: Path, tmp_path: Path) -> Path:
    out = tmp_path / "tree.tar.gz"
    with tarfile.open(out, "w:gz") as tf:
        tf.add(image_tree, arcname="wrapper")  # a leading folder shared by every file
    return out


@pytest.fixture
def zip_archive(image_tree: Path, tmp_path: Path) -> Path:
    out = tmp_path / "tree.zip"
    with zipfile.ZipFile(out, "w") as zf:
        for path in sorted(image_tree.rglob("*.png")):
            zf.write(path, path.relative_to(image_tree).as_posix())
    return out
