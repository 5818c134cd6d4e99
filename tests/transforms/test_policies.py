from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from resdepth import transforms as T
from resdepth.transforms.policies import (
    AUTO_AUGMENT_SPACE,
    CIFAR10_POLICY,
    RAND_AUGMENT_SPACE,
    TRIVIAL_AUGMENT_SPACE,
)

from .reference import apply_op, images

NAMES = [*AUTO_AUGMENT_SPACE, "Identity"]
# The widest magnitudes the policies use (TrivialAugmentWide's), both signs.
RANGES = {
    "ShearX": (-0.99, 0.99),
    "ShearY": (-0.99, 0.99),
    "TranslateX": (-32.0, 32.0),
    "TranslateY": (-32.0, 32.0),
    "Rotate": (-135.0, 135.0),
    "Posterize": (0.0, 8.0),
    "Solarize": (0.0, 1.0),
}
POLICIES = [
    lambda: T.AutoAugment(),
    lambda: T.RandAugment(num_ops=2, magnitude=9),
    lambda: T.TrivialAugmentWide(),
]


def _magnitudes(name: str, batch: int, seed: int) -> torch.Tensor:
    low, high = RANGES.get(name, (-0.99, 0.99))
    g = torch.Generator().manual_seed(seed)
    m = torch.rand(batch, generator=g, dtype=torch.float64) * (high - low) + low
    if name == "Posterize":
        m = m.round()
    if name.startswith("Translate"):
        m = m.trunc()  # torchvision translates by int(magnitude)
    return m.float()


@given(
    name=st.sampled_from(NAMES),
    batch=st.integers(1, 5),
    height=st.integers(3, 20),
    width=st.integers(3, 20),
    fill=st.sampled_from([0.0, 0.5]),
    seed=st.integers(0, 2**16),
)
def test_each_operation_equals_torchvision_per_image(
    name: str, batch: int, height: int, width: int, fill: float, seed: int
) -> None:
    x = images(batch, height, width, torch.float32, seed)
    magnitude = _magnitudes(name, batch, seed)
    op = torch.full((batch,), NAMES.index(name))
    out = T.apply_operations(x, op, magnitude, NAMES, fill=fill)
    for i in range(batch):
        expected = apply_op(x[i], name, magnitude[i].item(), fill=fill)
        torch.testing.assert_close(out[i], expected, atol=1e-6, rtol=0)


@given(batch=st.integers(1, 12), seed=st.integers(0, 2**16))
def test_mixed_operations_in_one_batch_equal_torchvision(batch: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    x = images(batch, 9, 11, torch.float32, seed)
    op = torch.randint(len(NAMES), (batch,), generator=g)
    magnitude = torch.stack([_magnitudes(NAMES[k], 1, seed + i)[0] for i, k in enumerate(op)])
    out = T.apply_operations(x, op, magnitude, NAMES)
    for i in range(batch):
        expected = apply_op(x[i], NAMES[op[i]], magnitude[i].item())
        torch.testing.assert_close(out[i], expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_uint8_operations_within_two_levels_of_torchvision(name: str) -> None:
    # torchvision computes uint8 blends in 8 bits; resdepth in float and rounds once.
    x = images(6, 12, 12, torch.uint8, seed=3)
    magnitude = _magnitudes(name, 6, seed=4)
    policy = T.TrivialAugmentWide() if name != "Invert" else T.AutoAugment()
    op = torch.full((6, 1), policy.names.index(name))
    out = policy(x, params={"op": op, "magnitude": magnitude[:, None]})
    assert out.dtype == torch.uint8
    for i in range(6):
        m = magnitude[i].item() * (255 if name == "Solarize" else 1)
        expected = apply_op(x[i], name, m)
        assert (out[i].int() - expected.int()).abs().max() <= 2


@pytest.mark.parametrize("make", POLICIES)
@given(seed=st.integers(0, 2**16), batch=st.integers(1, 10))
def test_policy_applies_each_samples_rounds_as_torchvision(make, seed: int, batch: int) -> None:  # noqa: ANN001
    policy = make()
    # An odd size: with an even one, a 45-degree turn of a bin puts the diagonal's source
    # points exactly half-way between pixels, where nearest sampling's choice is float noise.
    x = images(batch, 9, 9, torch.float32, seed)
    params = policy.generate_parameters(x.shape, generator=torch.Generator().manual_seed(seed))
    # Round by round from resdepth's previous round: a float-rounding difference before a
    # quantising step (equalize, solarize) would otherwise grow to a whole level.
    before = x
    for r in range(params["op"].shape[1]):
        op, magnitude = params["op"][:, r], params["magnitude"][:, r]
        after = T.apply_operations(before, op, magnitude, policy.names)
        for i in range(batch):
            expected = apply_op(before[i], policy.names[op[i]], magnitude[i].item())
            torch.testing.assert_close(after[i], expected, atol=1e-5, rtol=0)
        before = after
    assert torch.equal(policy(x, params=params), before)


@pytest.mark.parametrize("make", POLICIES)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
@pytest.mark.parametrize("channels_last", [False, True])
def test_policy_keeps_shape_dtype_layout(make, dtype: torch.dtype, channels_last: bool) -> None:  # noqa: ANN001
    x = images(5, 8, 12, dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    out = make()(x)
    assert out.shape == x.shape and out.dtype == dtype
    assert out.is_contiguous(memory_format=torch.channels_last) == channels_last
    if dtype.is_floating_point:
        assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("make", POLICIES)
def test_policy_replay_and_generator(make) -> None:  # noqa: ANN001
    policy = make()
    x = images(16, 8, 8, torch.float32)
    a = policy(x, generator=torch.Generator().manual_seed(5))
    b = policy(x, generator=torch.Generator().manual_seed(5))
    c = policy(x, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    params = policy.generate_parameters(x.shape)
    assert torch.equal(policy(x, params=params), policy(x, params=params))


@pytest.mark.parametrize("make", POLICIES)
def test_policy_samples_are_independent(make) -> None:  # noqa: ANN001
    policy = make()
    x = images(12, 8, 8, torch.float32)
    params = policy.generate_parameters(x.shape, generator=torch.Generator().manual_seed(0))
    whole = policy(x, params=params)
    for i in range(12):
        one = {k: v[i : i + 1] for k, v in params.items()}
        assert torch.equal(policy(x[i : i + 1], params=one), whole[i : i + 1])
    # Different samples draw different operations.
    many = policy.generate_parameters((4000, 3, 8, 8), generator=torch.Generator().manual_seed(1))
    assert many["op"].unique().numel() > 3


def test_trivial_augment_draws_every_operation_bin_and_sign() -> None:
    policy = T.TrivialAugmentWide(num_magnitude_bins=31)
    p = policy.generate_parameters((20000, 3, 32, 32), generator=torch.Generator().manual_seed(0))
    op, magnitude = p["op"][:, 0], p["magnitude"][:, 0]
    counts = torch.bincount(op, minlength=len(TRIVIAL_AUGMENT_SPACE)).float()
    assert counts.min() > 0.8 * 20000 / len(TRIVIAL_AUGMENT_SPACE)
    rotate = magnitude[op == policy.names.index("Rotate")]
    assert rotate.min() < -130 and rotate.max() > 130 and (rotate == 0).any()
    allowed = torch.linspace(0, 135, 31)
    assert torch.isclose(rotate.abs()[:, None], allowed).any(dim=1).all()
    posterize = magnitude[op == policy.names.index("Posterize")]
    assert set(posterize.unique().tolist()) == {2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0}


def test_rand_augment_uses_one_bin_and_num_ops_rounds() -> None:
    policy = T.RandAugment(num_ops=3, magnitude=9, num_magnitude_bins=31)
    p = policy.generate_parameters((5000, 3, 32, 32), generator=torch.Generator().manual_seed(0))
    assert p["op"].shape == (5000, 3)
    assert set(policy.names) == set(RAND_AUGMENT_SPACE)
    shear = p["magnitude"][p["op"] == policy.names.index("ShearX")].abs()
    torch.testing.assert_close(shear, torch.full_like(shear, 0.3 * 9 / 30))
    translate = p["magnitude"][p["op"] == policy.names.index("TranslateX")].abs()
    torch.testing.assert_close(translate, torch.full_like(translate, 150 / 331 * 32 * 9 / 30))
    assert T.RandAugment(num_ops=0)(images(2, 8, 8, torch.uint8)).equal(
        images(2, 8, 8, torch.uint8)
    )


def test_auto_augment_follows_the_cifar10_sub_policies() -> None:
    policy = T.AutoAugment()
    n = 20000
    p = policy.generate_parameters((n, 3, 32, 32), generator=torch.Generator().manual_seed(0))
    identity = policy.names.index("Identity")
    pairs = {tuple(policy.names[k] for k in row) for row in p["op"].tolist()}
    allowed = set()
    for (first, _, _), (second, _, _) in CIFAR10_POLICY:
        allowed |= {(first, second), (first, "Identity"), ("Identity", second)}
    allowed.add(("Identity", "Identity"))
    assert pairs <= allowed
    # Each operation is drawn first as often as the sub-policies put it first, times its
    # probability.
    first = p["op"][:, 0]
    share = (first == policy.names.index("AutoContrast")).float().mean().item()
    expected = sum(prob for (name, prob, _), _ in CIFAR10_POLICY if name == "AutoContrast") / 25
    assert abs(share - expected) < 0.01
    assert (p["op"] == identity).any()
    # Magnitudes come from the 10 bins, with a random sign for the signed operations.
    rotate = p["magnitude"][p["op"] == policy.names.index("Rotate")]
    torch.testing.assert_close(rotate.abs(), torch.full_like(rotate, 30 * 2 / 9))
    assert (rotate < 0).any() and (rotate > 0).any()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: T.AutoAugment(policy="imagenet"), "policy"),
        (lambda: T.RandAugment(magnitude=31), "magnitude"),
        (lambda: T.RandAugment(num_ops=-1), "num_ops"),
        (lambda: T.TrivialAugmentWide(num_magnitude_bins=1), "num_magnitude_bins"),
        (lambda: T.TrivialAugmentWide(interpolation="cubic"), "interpolation"),
        (lambda: T.AutoAugment(fill=float("nan")), "fill"),
    ],
)
def test_bad_arguments_name_themselves(make, message: str) -> None:  # noqa: ANN001
    with pytest.raises((ValueError, TypeError), match=message):
        make()


@pytest.mark.parametrize("make", POLICIES)
def test_index_groups_and_masks_agree(make) -> None:  # noqa: ANN001
    policy = make()
    x = images(64, 9, 11, torch.float32, seed=9)
    params = policy.generate_parameters(x.shape, generator=torch.Generator().manual_seed(9))
    for r in range(params["op"].shape[1]):
        op, magnitude = params["op"][:, r], params["magnitude"][:, r]
        grouped = T.apply_operations(x, op, magnitude, policy.names, grouped=True)
        masked = T.apply_operations(x, op, magnitude, policy.names, grouped=False)
        torch.testing.assert_close(grouped, masked, atol=1e-6, rtol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("make", [*POLICIES, lambda: T.ColorJitter(0.4, 0.4, 0.4, 0.1)])
def test_cuda_masks_equal_cpu_groups(make) -> None:  # noqa: ANN001
    transform = make()
    x = images(64, 9, 9, torch.float32, seed=1)  # odd: no half-way points for nearest
    params = transform.generate_parameters(x.shape, generator=torch.Generator().manual_seed(1))
    cpu = transform(x, params=params)
    cuda = transform(x.cuda(), params={k: v.cuda() for k, v in params.items()})
    torch.testing.assert_close(cuda.cpu(), cpu, atol=1e-5, rtol=0)
