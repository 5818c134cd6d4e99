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
    if SHARED_ARCHIVE.exists():
        return SHARED_ARCHIVE
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but the CIFAR-10 archive is missing at {SHARED_ARCHIVE}")
    pytest.skip(f"CIFAR-10 archive not found at {SHARED_ARCHIVE}")
