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
