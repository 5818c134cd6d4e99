from __future__ import annotations

import pytest
import torch
import torchvision.transforms.v2.functional as TF
from hypothesis import given
from hypothesis import strategies as st

from resdepth import transforms as T

from .reference import images

DTYPES = [torch.uint8, torch.float32, torch.float64]
_JITTER_OPS = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue)

# Each single-operation transform with p=1 and torchvision's kernel for one image.
SINGLE = {
    "grayscale": (
        lambda: T.RandomGrayscale(p=1.0),
        lambda img: TF.rgb_to_grayscale(img, num_output_channels=3),
    ),
    "invert": (lambda: T.RandomInvert(p=1.0), TF.invert),
    "autocontrast": (lambda: T.RandomAutocontrast(p=1.0), TF.autocontrast),
    "equalize": (lambda: T.RandomEqualize(p=1.0), TF.equalize),
    "solarize": (lambda: T.RandomSolarize(0.6, p=1.0), lambda img: TF.solarize(img, 0.6)),
    "posterize": (lambda: T.RandomPosterize(3, p=1.0), lambda img: TF.posterize(img, 3)),
    "sharpness": (
        lambda: T.RandomSharpness(1.7, p=1.0),
        lambda img: TF.adjust_sharpness(img, 1.7),
    ),
}


@pytest.mark.parametrize("name", sorted(SINGLE))
@given(batch=st.integers(1, 5), height=st.integers(1, 12), width=st.integers(1, 12),
       seed=st.integers(0, 2**16))  # fmt: skip
def test_single_operation_equals_torchvision(
    name: str, batch: int, height: int, width: int, seed: int
) -> None:
    make, reference = SINGLE[name]
    x = images(batch, height, width, torch.float32, seed)
    out = make()(x)
    for i in range(batch):
        torch.testing.assert_close(out[i], reference(x[i]), atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", sorted(SINGLE))
def test_single_operation_on_uint8_within_one_level(name: str) -> None:
    make, reference = SINGLE[name]
    x = images(6, 9, 9, torch.uint8, seed=2)
    transform = make()
    if name == "solarize":  # the threshold is in the input's units
        transform, reference = T.RandomSolarize(150, p=1.0), lambda img: TF.solarize(img, 150)
    out = transform(x)
    assert out.dtype == torch.uint8
    for i in range(6):
        assert (out[i].int() - reference(x[i]).int()).abs().max() <= 1


@given(
    brightness=st.floats(0, 0.9),
    contrast=st.floats(0, 0.9),
    saturation=st.floats(0, 0.9),
    hue=st.floats(0, 0.5),
    batch=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_color_jitter_equals_torchvision_in_each_samples_order(
    brightness: float, contrast: float, saturation: float, hue: float, batch: int, seed: int
) -> None:
    jitter = T.ColorJitter(brightness, contrast, saturation, hue)
    x = images(batch, 7, 9, torch.float32, seed)
    params = jitter.generate_parameters(x.shape, generator=torch.Generator().manual_seed(seed))
    out = jitter(x, params=params)
    for i in range(batch):
        expected = x[i]
        for k in params["order"][i].tolist():
            expected = _JITTER_OPS[k](expected, params["factors"][i, k].item())
        torch.testing.assert_close(out[i], expected, atol=2e-5, rtol=0)


def test_color_jitter_draws_torchvision_ranges_and_orders() -> None:
    jitter = T.ColorJitter(brightness=0.4, contrast=(0.5, 1.5), saturation=0, hue=0.1)
    p = jitter.generate_parameters((20000, 3, 8, 8), generator=torch.Generator().manual_seed(0))
    f = p["factors"]
    assert 0.6 <= f[:, 0].min() < 0.61 and 1.39 < f[:, 0].max() <= 1.4
    assert 0.5 <= f[:, 1].min() < 0.51 and 1.49 < f[:, 1].max() <= 1.5
    assert torch.equal(f[:, 2], torch.ones(20000))  # no saturation jitter: neutral factor
    assert -0.1 <= f[:, 3].min() < -0.09 and 0.09 < f[:, 3].max() <= 0.1
    orders = {tuple(o) for o in p["order"].tolist()}
    assert len(orders) == 24  # every permutation of the four occurs
    assert p["apply"].all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels_last", [False, True])
def test_shape_dtype_layout(dtype: torch.dtype, channels_last: bool) -> None:
    x = images(4, 6, 10, dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    transforms = [make() for make, _ in SINGLE.values()]
    transforms.append(T.ColorJitter(0.4, 0.4, 0.4, 0.1))
    for transform in transforms:
        out = transform(x)
        assert out.shape == x.shape and out.dtype == dtype, transform
        assert out.is_contiguous(memory_format=torch.channels_last) == channels_last


@pytest.mark.parametrize("dtype", DTYPES)
def test_probability_zero_and_the_apply_mask(dtype: torch.dtype) -> None:
    x = images(64, 5, 5, dtype)
    for make in (lambda p: T.ColorJitter(0.5, 0.5, 0.5, 0.2, p=p), lambda p: T.RandomInvert(p)):
        assert torch.equal(make(0.0)(x), x)
        half = make(0.5)
        params = half.generate_parameters(x.shape, generator=torch.Generator().manual_seed(0))
        out = half(x, params=params)
        kept = ~params["apply"]
        assert 0 < kept.sum() < 64
        assert torch.equal(out[kept], x[kept])
        assert not torch.equal(out[~kept], x[~kept])


HALF = [
    lambda: T.RandomGrayscale(0.5),
    lambda: T.RandomInvert(0.5),
    lambda: T.RandomAutocontrast(0.5),
    lambda: T.RandomEqualize(0.5),
    lambda: T.RandomSolarize(0.5, 0.5),
    lambda: T.RandomPosterize(3, 0.5),
    lambda: T.RandomSharpness(2.0, 0.5),
    lambda: T.ColorJitter(0.4, 0.4, 0.4, 0.1),
]


@pytest.mark.parametrize("make", HALF)
def test_replay_generator_and_independence(make) -> None:  # noqa: ANN001
    transform = make()
    x = images(16, 6, 6, torch.float32)
    a = transform(x, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, transform(x, generator=torch.Generator().manual_seed(3)))
    assert not torch.equal(a, transform(x, generator=torch.Generator().manual_seed(4)))
    params = transform.generate_parameters(x.shape, generator=torch.Generator().manual_seed(1))
    whole = transform(x, params=params)
    for i in range(16):
        one = {k: v[i : i + 1] for k, v in params.items()}
        assert torch.equal(transform(x[i : i + 1], params=one), whole[i : i + 1])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: T.ColorJitter(hue=0.6), "hue"),
        (lambda: T.ColorJitter(brightness=-0.1), "brightness"),
        (lambda: T.ColorJitter(contrast=(1.5, 0.5)), "contrast"),
        (lambda: T.ColorJitter(saturation=(0.1, 0.2, 0.3)), "saturation"),
        (lambda: T.ColorJitter(p=1.5), "p"),
        (lambda: T.RandomPosterize(9), "bits"),
        (lambda: T.RandomSharpness(-1.0), "sharpness_factor"),
        (lambda: T.RandomSolarize(float("inf")), "threshold"),
    ],
)
def test_bad_arguments_name_themselves(make, message: str) -> None:  # noqa: ANN001
    with pytest.raises((ValueError, TypeError), match=message):
        make()


@given(hue=st.floats(-0.5, 0.5), seed=st.integers(0, 2**16), grey=st.booleans())
def test_hue_equals_torchvision(hue: float, seed: int, grey: bool) -> None:
    x = images(3, 6, 7, torch.float32, seed)
    if grey:  # equal channels (no hue) and ties between the largest two
        x[:, 1] = x[:, 0]
        x[0, 2] = x[0, 0]
    jitter = T.ColorJitter(hue=(hue, hue))
    out = jitter(x)
    for i in range(3):
        torch.testing.assert_close(out[i], TF.adjust_hue(x[i], hue), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "make", [lambda: T.ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8), lambda: T.RandomEqualize(0.5)]
)
def test_index_groups_and_masks_agree(make) -> None:  # noqa: ANN001
    transform = make()
    x = images(32, 8, 8, torch.float32, seed=4)
    params = transform.generate_parameters(x.shape, generator=torch.Generator().manual_seed(2))
    grouped = transform(x, params=params)
    with T.per_sample_strategy("masks"):
        masked = transform(x, params=params)
    torch.testing.assert_close(masked, grouped, atol=1e-6, rtol=0)


def test_per_sample_strategy_is_checked_and_restored() -> None:
    from torch.utils._python_dispatch import TorchDispatchMode

    class Ops(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.names: set[str] = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
            self.names.add(str(func))
            return func(*args, **(kwargs or {}))

    def ops_of_a_call() -> set[str]:
        transform = T.RandomEqualize(0.5)
        x = images(8, 8, 8, torch.float32, seed=1)
        params = transform.generate_parameters(x.shape, generator=torch.Generator().manual_seed(0))
        with Ops() as ops:
            transform(x, params=params)
        return ops.names

    assert "aten.index_copy_.default" in ops_of_a_call()  # a CPU groups by default
    with pytest.raises(ValueError, match="strategy"), T.per_sample_strategy("rows"):
        pass
    with pytest.raises(RuntimeError, match="inside"), T.per_sample_strategy("masks"):
        assert "aten.index_copy_.default" not in ops_of_a_call()
        with T.per_sample_strategy("groups"):
            assert "aten.index_copy_.default" in ops_of_a_call()
        assert "aten.index_copy_.default" not in ops_of_a_call()
        raise RuntimeError("inside")
    assert "aten.index_copy_.default" in ops_of_a_call()
