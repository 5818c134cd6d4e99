from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from resdepth import transforms as T


@given(batch=st.integers(1, 4), channels_last=st.booleans())
def test_to_float_and_normalize(batch: int, channels_last: bool) -> None:
    x = torch.randint(0, 256, (batch, 3, 5, 5), dtype=torch.uint8)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    f = T.ToFloat()(x)
    assert f.dtype == torch.float32 and f.min() >= 0 and f.max() <= 1
    torch.testing.assert_close(f * 255, x.float())
    out = T.Normalize(T.CIFAR10_MEAN, T.CIFAR10_STD)(f)
    mean = torch.tensor(T.CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(T.CIFAR10_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(out, (f - mean) / std)
    if channels_last and batch > 0:
        assert out.is_contiguous(memory_format=torch.channels_last)


def test_to_float_dtype_and_float_passthrough() -> None:
    x = torch.rand(2, 3, 4, 4, dtype=torch.float64)
    assert T.ToFloat()(x).dtype == torch.float32
    assert (
        T.ToFloat(torch.bfloat16)(torch.zeros(1, 1, 2, 2, dtype=torch.uint8)).dtype
        == torch.bfloat16
    )
    with pytest.raises(TypeError, match="dtype"):
        T.ToFloat(torch.int32)


def test_normalize_errors() -> None:
    with pytest.raises(ValueError, match="std"):
        T.Normalize((0.5,), (0.0,))
    with pytest.raises(ValueError, match="std"):
        T.Normalize((0.5, 0.5), (0.2,))
    with pytest.raises(ValueError, match="mean"):
        T.Normalize((), ())
    with pytest.raises(ValueError, match="channels"):
        T.Normalize((0.5,), (0.2,))(torch.rand(1, 3, 2, 2))
    with pytest.raises(TypeError, match="ToFloat"):
        T.Normalize((0.5,), (0.2,))(torch.zeros(1, 1, 2, 2, dtype=torch.uint8))


def test_compose_rejects_non_transforms_and_reports_sizes() -> None:
    with pytest.raises(TypeError, match=r"transforms\[1\]"):
        T.Compose([T.ToFloat(), lambda x: x])  # type: ignore[list-item]
    pipe = T.Compose([T.RandomCrop(24, padding=0), T.RandomHorizontalFlip()])
    assert pipe.output_size(32, 32) == (24, 24)
    assert len(pipe) == 2 and "RandomCrop" in repr(pipe)
