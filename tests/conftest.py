"""Shared test settings and fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "resdepth",
    deadline=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("resdepth")

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
    """A few hundred real CIFAR-10 images (from the shared archive), else a synthetic stand-in."""
    import torch

    from resdepth.data import load_image_folder, make_synthetic

    archive = os.environ.get("RESDEPTH_CIFAR10_ARCHIVE") or str(SHARED_ARCHIVE)
    if Path(archive).exists():
        x, y, _ = load_image_folder(archive, split="test")
        g = torch.Generator().manual_seed(0)
        idx = torch.randperm(len(y), generator=g)
        train, test = idx[:1000], idx[1000:1500]
        return (x[train], y[train]), (x[test], y[test])
    return make_synthetic(1000, 10, 32, seed=0), make_synthetic(500, 10, 32, seed=1)
