from __future__ import annotations

import pytest
import torch
import torchvision.transforms.v2.functional as TF
from hypothesis import given
from hypothesis import strategies as st

from resdepth import transforms as T

from .reference import images


@given(
    batch=st.integers(1, 6),
    height=st.integers(2, 20),
    width=st.integers(2, 20),
    value=st.sampled_from([0.0, 0.5, (0.1, 0.2, 0.3)]),
    seed=st.integers(0, 2**16),
)
def test_erasing_equals_torchvision_erase_of_its_box(
    batch: int, height: int, width: int, value: float | tuple[float, ...], seed: int
) -> None:
    erasing = T.RandomErasing(p=0.7, value=value)
    x = images(batch, height, width, torch.float32, seed)
    params = erasing.generate_parameters(x.shape, generator=torch.Generator().manual_seed(seed))
    out = erasing(x, params=params)
    fill = torch.tensor(value if isinstance(value, tuple) else (value,)).view(-1, 1, 1)
    for i in range(batch):
        top, bottom, left, right = params["box"][i].tolist()
        if bottom == top:
            assert torch.equal(out[i], x[i])
            continue
        expected = TF.erase(x[i], top, left, bottom - top, right - left, fill.expand(3, 1, 1))
        assert torch.equal(out[i], expected)


def test_erasing_boxes_follow_torchvision_distribution() -> None:
    erasing = T.RandomErasing(p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3))
    p = erasing.generate_parameters((20000, 3, 32, 32), generator=torch.Generator().manual_seed(0))
    top, bottom, left, right = p["box"].unbind(dim=1)
    h, w = (bottom - top).float(), (right - left).float()
    erased = h > 0
    assert abs(erased.float().mean().item() - 0.5) < 0.02
    area = (h * w)[erased] / 1024
    assert area.min() >= 0.01 and area.max() <= 0.36  # (0.02, 0.33) up to rounding
    assert ((h < 32) & (w < 32))[erased].all()
    assert (top >= 0).all() and (bottom <= 32).all() and (left >= 0).all() and (right <= 32).all()
    ratio = (h / w)[erased]
    assert ratio.min() < 0.4 and ratio.max() > 3.0
    # Positions are uniform over where the box fits: both borders are reached.
    assert (top[erased] == 0).any() and (bottom[erased] == 32).any()


def test_random_value_is_fresh_normal_noise_per_sample() -> None:
    erasing = T.RandomErasing(p=1.0, scale=(0.3, 0.3), ratio=(1.0, 1.0), value="random")
    x = torch.zeros(4, 3, 16, 16)
    out = erasing(x, generator=torch.Generator().manual_seed(0))
    erased = out != 0
    assert erased.any(dim=(1, 2, 3)).all()
    assert not torch.equal(out[0][erased[0]][:5], out[1][erased[1]][:5])
    with pytest.raises(TypeError, match="floating-point"):
        erasing(x.to(torch.uint8))


@given(size=st.integers(1, 20), seed=st.integers(0, 2**16))
def test_cutout_is_a_square_clipped_at_the_border(size: int, seed: int) -> None:
    cutout = T.Cutout(size)
    x = images(8, 16, 16, torch.uint8, seed).clamp(min=1)
    params = cutout.generate_parameters(x.shape, generator=torch.Generator().manual_seed(seed))
    out = cutout(x, params=params)
    for i in range(8):
        top, bottom, left, right = params["box"][i].tolist()
        assert 0 <= top < bottom <= 16 and 0 <= left < right <= 16
        assert bottom - top <= size and right - left <= size
        if top > 0 and bottom < 16:
            assert bottom - top == size
        expected = x[i].clone()
        expected[:, top:bottom, left:right] = 0
        assert torch.equal(out[i], expected)


@pytest.mark.parametrize("make", [lambda: T.RandomErasing(p=0.5), lambda: T.Cutout(8, p=0.5)])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
def test_shape_dtype_replay_independence(make, dtype: torch.dtype) -> None:  # noqa: ANN001
    transform = make()
    x = images(16, 12, 12, dtype).contiguous(memory_format=torch.channels_last)
    a = transform(x, generator=torch.Generator().manual_seed(1))
    assert a.shape == x.shape and a.dtype == dtype
    assert a.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(a, transform(x, generator=torch.Generator().manual_seed(1)))
    params = transform.generate_parameters(x.shape)
    whole = transform(x, params=params)
    for i in range(16):
        one = {k: v[i : i + 1] for k, v in params.items()}
        assert torch.equal(transform(x[i : i + 1], params=one), whole[i : i + 1])
    assert len({tuple(b) for b in params["box"].tolist()}) > 4


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: T.RandomErasing(scale=(0.5, 0.1)), "scale"),
        (lambda: T.RandomErasing(scale=(0.1, 1.5)), "scale"),
        (lambda: T.RandomErasing(ratio=(0.0, 1.0)), "ratio"),
        (lambda: T.RandomErasing(value="noise"), "value"),
        (lambda: T.RandomErasing(p=-0.1), "p"),
        (lambda: T.Cutout(0), "size"),
    ],
)
def test_bad_arguments_name_themselves(make, message: str) -> None:  # noqa: ANN001
    with pytest.raises((ValueError, TypeError), match=message):
        make()


def test_value_per_channel_must_match_channels() -> None:
    with pytest.raises(ValueError, match="value"):
        T.RandomErasing(p=1.0, value=(0.1, 0.2))(torch.rand(2, 3, 8, 8))
