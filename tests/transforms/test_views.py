"""Test-time views: each view is its definition, the weights add up to one, and the
averaged network is the weighted sum of the network on each view."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from resdepth import transforms as T


def _shift(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``x`` moved by (dy, dx) pixels, the edge mirrored: pixel (i, j) of the result is
    pixel (i - dy, j - dx) of ``x``, reflected at the borders."""
    h, w = x.shape[-2:]
    rows = torch.tensor([abs(i - dy) if i - dy >= 0 else -(i - dy) for i in range(h)])
    rows = torch.where(rows >= h, 2 * (h - 1) - rows, rows)
    cols = torch.tensor([abs(j - dx) for j in range(w)])
    cols = torch.where(cols >= w, 2 * (w - 1) - cols, cols)
    return x[..., rows, :][..., :, cols]


@given(
    batch=st.integers(1, 4),
    h=st.integers(2, 9),
    w=st.integers(2, 9),
    views=st.sampled_from(T.TEST_VIEWS),
)
def test_views_are_their_definition(batch: int, h: int, w: int, views: str) -> None:
    x = torch.randn(batch, 3, h, w)
    got = T.tta_views(x, views)
    want = [(x, 0.5), (x.flip(-1), 0.5)]
    if views == "flip_shift":
        down, up = _shift(x, 1, 1), _shift(x, -1, -1)
        want = [(x, 0.25), (x.flip(-1), 0.25), (down, 0.125), (down.flip(-1), 0.125),
                (up, 0.125), (up.flip(-1), 0.125)]  # fmt: skip
    assert len(got) == len(want)
    for (view, weight), (expected, expected_weight) in zip(got, want, strict=True):
        assert view.shape == x.shape and torch.equal(view, expected)
        assert weight == expected_weight
    assert sum(weight for _, weight in got) == 1.0


@given(batch=st.integers(1, 4), views=st.sampled_from(T.TEST_VIEWS), data=st.data())
def test_the_average_is_the_weighted_sum_over_views(
    batch: int, views: str, data: st.DataObject
) -> None:
    torch.manual_seed(data.draw(st.integers(0, 100)))
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.LazyLinear(5))
    x = torch.randn(batch, 3, 6, 6)
    net(x)
    want = sum(weight * net(view) for view, weight in T.tta_views(x, views))
    got = T.ViewAverage(net, views)(x)
    assert got.shape == (batch, 5)
    assert torch.allclose(got, want, atol=1e-5)
    # Per sample: changing one image changes its own row only.
    other = x.clone()
    other[0] = torch.randn(3, 6, 6)
    changed = T.ViewAverage(net, views)(other)
    assert torch.allclose(changed[1:], got[1:], atol=1e-5)


def test_a_network_of_mirror_symmetric_output_is_unchanged_by_flip_views() -> None:
    pool = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    x = torch.randn(3, 3, 8, 8)
    assert torch.allclose(T.ViewAverage(pool, "flip")(x), pool(x), atol=1e-6)


def test_the_wrapper_keeps_the_network_mode_and_refuses_unknown_views() -> None:
    net = torch.nn.Linear(2, 2).eval()
    assert not T.ViewAverage(net, "flip").training
    with pytest.raises(ValueError, match="views"):
        T.ViewAverage(net, "rotate")
    with pytest.raises(ValueError, match="views"):
        T.tta_views(torch.zeros(1, 3, 4, 4), "shift")
    with pytest.raises(ValueError, match="x"):
        T.tta_views(torch.zeros(3, 4), "flip")
