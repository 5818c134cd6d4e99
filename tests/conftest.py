"""Shared test settings and fixtures."""

from __future__ import annotations

import os
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from PIL import Image

from resdepth import ResNet, list_models, register_model

settings.register_profile(
    "resdepth",
    deadline=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("resdepth")

# One precision-trial cache for the whole session, never the user's: two runs of one
# model and batch shape then resolve precision="auto" alike, as they do for a user.
os.environ.setdefault(
    "RESDEPTH_AUTOTUNE_CACHE",
    str(Path(tempfile.mkdtemp(prefix="resdepth-autotune-")) / "cache.json"),
)

SHARED_ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg.tar.gz"


@pytest.fixture
def shared_archive() -> Path:
    """The real CIFAR-10 JPEG archive beside the checkout: required in CI, skipped elsewhere."""
    override = os.environ.get("RESDEPTH_CIFAR10_ARCHIVE")
    if override and Path(override).exists():
        return Path(override)
    if SHARED_ARCHIVE.exists():
        return SHARED_ARCHIVE
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but the CIFAR-10 archive is missing at {SHARED_ARCHIVE}")
    pytest.skip(f"CIFAR-10 archive not found at {SHARED_ARCHIVE}")


@pytest.fixture(scope="session")
def real_images() -> tuple:
    """A few hundred real CIFAR-10 images (from the shared archive), else a made-up stand-in.

    The stand-in gives each class its own colour under noise, a signal that survives
    the flips and crops of the training recipe (a per-pixel pattern would not).
    """
    import torch

    from resdepth.data import load_image_folder

    archive = os.environ.get("RESDEPTH_CIFAR10_ARCHIVE") or str(SHARED_ARCHIVE)
    if Path(archive).exists():
        x, y, _ = load_image_folder(archive, split="test")
        g = torch.Generator().manual_seed(0)
        idx = torch.randperm(len(y), generator=g)
        train, test = idx[:1000], idx[1000:1500]
        return (x[train], y[train]), (x[test], y[test])

    def made_up(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(seed)
        colours = torch.rand(10, 3, 1, 1, generator=torch.Generator().manual_seed(7))
        labels = torch.randint(0, 10, (n,), generator=g)
        noise = torch.rand(n, 3, 32, 32, generator=g)
        images = 0.6 * colours[labels] + 0.4 * noise
        return (images * 255).round().to(torch.uint8), labels

    return made_up(1000, 0), made_up(500, 1)


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
