"""Fixtures of the Trainer and command-line tests: a tiny archive, a tiny registered model."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from resdepth import ResNet, list_models, register_model

TINY_MODEL = "_tiny_test_net"
if TINY_MODEL not in list_models():

    @register_model(name=TINY_MODEL)
    def _tiny_test_net(**overrides: object) -> ResNet:
        return ResNet(layers=(1, 1), widths=(4, 8), **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A .tar.gz of 16x16 PNGs: train/test splits of three classes, told apart by brightness."""
    root = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(0)
    for split, n in (("train", 24), ("test", 8)):
        for c, name in enumerate(("ant", "bee", "cow")):
            folder = root / "data" / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 80, (16, 16, 3)) + 80 * c
                Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{i}.png")
    out = root / "tiny.tar.gz"
    with tarfile.open(out, "w:gz") as tf:
        tf.add(root / "data", arcname="tiny")
    return out
