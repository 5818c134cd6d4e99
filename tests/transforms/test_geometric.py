from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from hypothesis import given
from hypothesis import strategies as st
from torchvision.transforms import InterpolationMode

from resdepth import transforms as T

DTYPES = [torch.uint8, torch.float32, torch.float64]


def _images(batch: int, height: int, width: int, dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.uint8:
        return torch.randint(0, 256, (batch, 3, height, width), generator=g, dtype=torch.uint8)
    return torch.rand(batch, 3, height, width, generator=g, dtype=dtype)


@given(
    batch=st.integers(1, 6),
    height=st.integers(4, 12),
    width=st.integers(4, 12),
    padding=st.integers(0, 3),
    mode=st.sampled_from(["constant", "reflect"]),
    dtype=st.sampled_from(DTYPES),
    fill=st.sampled_from([0, 7]),
    data=st.data(),
)
def test_crop_is_the_window_of_the_padded_input(
    batch: int,
    height: int,
    width: int,
    padding: int,
    mode: str,
    dtype: torch.dtype,
    fill: int,
    data: st.DataObject,
) -> None:
    size = (data.draw(st.integers(1, height)), data.draw(st.integers(1, width)))
    crop = T.RandomCrop(size, padding=padding, padding_mode=mode, fill=fill)
    x = _images(batch, height, width, dtype)
    params = crop.generate_parameters(x.shape)
    out = crop(x, params=params)
    assert out.shape == (batch, 3, *size) and out.dtype == dtype
    if mode == "constant":
        padded = F.pad(x, (padding,) * 4, value=fill)
    else:
        padded = F.pad(x.double(), (padding,) * 4, mode="reflect").to(dtype)
    for i in range(batch):
        top, left = params["offset"][i].tolist()
        assert 0 <= top <= height + 2 * padding - size[0]
        assert 0 <= left <= width + 2 * padding - size[1]
        assert torch.equal(out[i], padded[i, :, top : top + size[0], left : left + size[1]])


def test_crop_offsets_cover_their_range_independently() -> None:
    crop = T.RandomCrop(32, padding=4)
    params = crop.generate_parameters((4000, 3, 32, 32), generator=torch.Generator().manual_seed(1))
    off = params["offset"]
    assert off.min() == 0 and off.max() == 8
    assert len({tuple(o) for o in off.tolist()}) == 81  # every (top, left) pair occurs


@given(batch=st.integers(1, 8), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_flip_is_an_involution(batch: int, dtype: torch.dtype, seed: int) -> None:
    flip = T.RandomHorizontalFlip(p=0.5)
    x = _images(batch, 5, 7, dtype, seed)
    params = flip.generate_parameters(x.shape, generator=torch.Generator().manual_seed(seed))
    once = flip(x, params=params)
    assert torch.equal(flip(once, params=params), x)
    for i in range(batch):
        expected = x[i].flip(-1) if params["flip"][i] else x[i]
        assert torch.equal(once[i], expected)


def test_flip_probability() -> None:
    g = torch.Generator().manual_seed(0)
    share = T.RandomHorizontalFlip(0.5).generate_parameters((4000, 3, 2, 2), generator=g)["flip"]
    assert 0.46 < share.float().mean().item() < 0.54
    assert not T.RandomHorizontalFlip(0.0).generate_parameters((100, 3, 2, 2))["flip"].any()
    assert T.RandomHorizontalFlip(1.0).generate_parameters((100, 3, 2, 2))["flip"].all()


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_affine_identity_returns_the_input(interpolation: str, dtype: torch.dtype) -> None:
    aff = T.RandomAffine(0, interpolation=interpolation)
    x = _images(3, 9, 11, dtype)
    params = aff.generate_parameters(x.shape)
    assert torch.equal(params["angle"], torch.zeros(3))
    out = aff(x, params=params)
    torch.testing.assert_close(out, x, atol=1e-6, rtol=0)


@given(
    batch=st.integers(1, 4),
    height=st.integers(6, 20),
    width=st.integers(6, 20),
    interpolation=st.sampled_from(["bilinear", "nearest"]),
    fill=st.sampled_from([0.0, 0.3]),
    seed=st.integers(0, 2**16),
)
def test_affine_matches_torchvision_per_sample(
    batch: int, height: int, width: int, interpolation: str, fill: float, seed: int
) -> None:
    """Tolerance: 1e-4 absolute on float32 images in [0, 1]; nearest agrees except at ties."""
    aff = T.RandomAffine(
        25,
        translate=(0.2, 0.1),
        scale=(0.8, 1.2),
        shear=(-10, 10, -5, 5),
        interpolation=interpolation,
        fill=fill,
    )
    x = _images(batch, height, width, torch.float32, seed)
    params = aff.generate_parameters(x.shape, generator=torch.Generator().manual_seed(seed))
    out = aff(x, params=params)
    for i in range(batch):
        ref = TF.affine(
            x[i],
            angle=float(params["angle"][i]),
            translate=[int(v) for v in params["translate"][i].tolist()],
            scale=float(params["scale"][i]),
            shear=[float(v) for v in params["shear"][i].tolist()],
            interpolation=InterpolationMode(interpolation),
            fill=[fill] * 3,
        )
        diff = (out[i] - ref).abs()
        if interpolation == "bilinear":
            assert diff.max() < 1e-4
        else:
            assert (diff > 1e-6).float().mean() < 0.02


def test_affine_parameters_follow_torchvision_sampling() -> None:
    aff = T.RandomAffine(10, translate=(0.1, 0.2), scale=(0.9, 1.1), shear=10)
    p = aff.generate_parameters((5000, 3, 32, 40), generator=torch.Generator().manual_seed(0))
    assert p["angle"].abs().max() <= 10 and p["angle"].std() > 5
    assert p["translate"][:, 0].abs().max() <= 4 and p["translate"][:, 1].abs().max() <= 6.4
    assert torch.equal(p["translate"], p["translate"].round())
    assert p["scale"].min() >= 0.9 and p["scale"].max() <= 1.1
    assert p["shear"][:, 0].abs().max() <= 10 and torch.all(p["shear"][:, 1] == 0)
    assert len(set(p["angle"].tolist())) > 4990  # per-sample draws (float32 may repeat)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels_last", [False, True])
def test_geometric_transforms_keep_dtype_and_memory_format(
    dtype: torch.dtype, channels_last: bool
) -> None:
    x = _images(4, 16, 16, dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    for t in (
        T.RandomHorizontalFlip(),
        T.RandomCrop(12, padding=2),
        T.RandomCrop(16, padding=3, padding_mode="reflect"),
        T.RandomAffine(10, (0.1, 0.1), (0.9, 1.1), 10),
    ):
        out = t(x)
        assert out.dtype == dtype, t
        assert out.is_contiguous(memory_format=fmt), t
        assert out.device == x.device


@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
def test_fused_compose_equals_step_by_step(dtype: torch.dtype) -> None:
    steps = [
        T.RandomHorizontalFlip(),
        T.RandomCrop(28, padding=4),
        T.RandomHorizontalFlip(),
        T.RandomCrop(28, padding=2),
        T.RandomAffine(15, (0.1, 0.1), (0.8, 1.2), 10, fill=0.25 if dtype.is_floating_point else 9),
    ]
    fused, plain = T.Compose(steps), T.Compose(steps, fuse=False)
    x = _images(64, 32, 32, dtype)
    params = fused.generate_parameters(x.shape, generator=torch.Generator().manual_seed(3))
    a, b = fused(x, params=params), plain(x, params=params)
    assert a.shape == (64, 3, 28, 28)
    torch.testing.assert_close(
        a.double(), b.double(), atol=1e-5 if dtype.is_floating_point else 1, rtol=0
    )


def test_replay_and_generator_reproducibility() -> None:
    pipe = T.Compose(
        [
            T.ToFloat(),
            T.RandomHorizontalFlip(),
            T.RandomCrop(32, padding=4),
            T.RandomAffine(10, (0.1, 0.1), (0.9, 1.1), 10),
        ]
    )
    x = _images(16, 32, 32, torch.uint8)
    params = pipe.generate_parameters(x.shape)
    assert torch.equal(pipe(x, params=params), pipe(x, params=params))
    one = pipe(x, generator=torch.Generator().manual_seed(5))
    two = pipe(x, generator=torch.Generator().manual_seed(5))
    three = pipe(x, generator=torch.Generator().manual_seed(6))
    assert torch.equal(one, two) and not torch.equal(one, three)


def test_samples_get_different_parameters() -> None:
    x = torch.ones(64, 3, 16, 16)
    out = T.RandomAffine(30, scale=(0.5, 1.0))(x)
    assert len({round(v, 4) for v in out.sum(dim=(1, 2, 3)).tolist()}) > 50


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: T.RandomCrop(32, padding=-1), "padding"),
        (lambda: T.RandomCrop(0), "size"),
        (lambda: T.RandomCrop(8, padding_mode="edge"), "padding_mode"),
        (lambda: T.RandomHorizontalFlip(p=1.5), "p"),
        (lambda: T.RandomHorizontalFlip(p=-0.1), "p"),
        (lambda: T.RandomAffine(-5), "degrees"),
        (lambda: T.RandomAffine((10, 5)), "degrees"),
        (lambda: T.RandomAffine(5, translate=(1.5, 0)), "translate"),
        (lambda: T.RandomAffine(5, scale=(0, 1)), "scale"),
        (lambda: T.RandomAffine(5, shear=(1, 2, 3)), "shear"),
        (lambda: T.RandomAffine(5, interpolation="bicubic"), "interpolation"),
    ],
)
def test_bad_arguments(factory: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        factory()  # type: ignore[operator]


def test_bad_inputs() -> None:
    flip = T.RandomHorizontalFlip()
    with pytest.raises(ValueError, match="4-D"):
        flip(torch.rand(3, 8, 8))
    with pytest.raises(TypeError, match="Tensor"):
        flip([[1.0]])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="larger than the padded input"):
        T.RandomCrop(20, padding=2)(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="reflect"):
        T.RandomCrop(8, padding=8, padding_mode="reflect")(torch.rand(1, 3, 8, 8))
    with pytest.raises(TypeError, match="generator"):
        flip(torch.rand(1, 3, 8, 8), generator=0)  # type: ignore[arg-type]


def test_repr_shows_parameters() -> None:
    assert "padding=4" in repr(T.RandomCrop(32, padding=4))
    assert "shear=(-10.0, 10.0)" in repr(T.RandomAffine(10, shear=10))
    assert "p=0.3" in repr(T.RandomHorizontalFlip(0.3))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cpu_and_cuda_agree_for_the_same_parameters() -> None:
    pipe = T.Compose(
        [
            T.ToFloat(),
            T.RandomHorizontalFlip(),
            T.RandomCrop(32, padding=4),
            T.RandomAffine(10, (0.1, 0.1), (0.9, 1.1), 10),
            T.Normalize(T.CIFAR10_MEAN, T.CIFAR10_STD),
        ]
    )
    x = _images(32, 32, 32, torch.uint8)
    params = pipe.generate_parameters(x.shape)
    cpu = pipe(x, params=params)
    gpu = pipe.cuda()(x.cuda(), params={k: v.cuda() for k, v in params.items()})
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-4, rtol=0)
