from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from resdepth import transforms as T


def _labelled_batch(batch: int, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    # Image i is filled with the value i, so every output pixel names its source image.
    x = torch.arange(batch, dtype=torch.float32).view(-1, 1, 1, 1).expand(batch, 3, height, width)
    return x.contiguous(), torch.arange(batch)


@given(
    batch=st.integers(2, 9),
    height=st.integers(1, 12),
    width=st.integers(1, 12),
    mode=st.sampled_from(["batch", "sample"]),
    alpha=st.sampled_from([0.3, 1.0, 2.0]),
    seed=st.integers(0, 2**16),
)
def test_cutmix_box_comes_from_the_pair_and_label_mass_is_the_area(
    batch: int, height: int, width: int, mode: str, alpha: float, seed: int
) -> None:
    cutmix = T.CutMix(alpha=alpha, p=1.0, num_classes=batch, mode=mode)
    x, y = _labelled_batch(batch, height, width)
    params = cutmix.generate_parameters(x.shape, generator=torch.Generator().manual_seed(seed))
    out, soft = cutmix(x, y, params=params)
    perm = params["perm"]
    assert out.shape == x.shape and soft.shape == (batch, batch)
    torch.testing.assert_close(soft.sum(1), torch.ones(batch))
    for i in range(batch):
        own = (out[i] == i).float().mean().item()
        from_pair = (out[i] == perm[i]).float().mean().item()
        assert own + from_pair == pytest.approx(1.0) or perm[i] == i
        if perm[i] != i:
            assert soft[i, i].item() == pytest.approx(own, abs=1e-6)
            assert soft[i, perm[i]].item() == pytest.approx(from_pair, abs=1e-6)
        top, bottom, left, right = params["box"][i].tolist()
        assert 0 <= top <= bottom <= height and 0 <= left <= right <= width
    if mode == "batch":
        assert (params["box"] == params["box"][0]).all()


def test_cutmix_is_per_batch_with_probability_p() -> None:
    cutmix = T.CutMix(p=0.5, num_classes=4)
    g = torch.Generator().manual_seed(0)
    mixed = 0
    for _ in range(400):
        box = cutmix.generate_parameters((4, 3, 16, 16), generator=g)["box"]
        area = (box[:, 1] - box[:, 0]) * (box[:, 3] - box[:, 2])
        assert (area == area[0]).all()
        mixed += bool(area[0] > 0)
    assert 160 < mixed < 240


def test_cutmix_with_p_zero_changes_nothing() -> None:
    x, y = torch.rand(5, 3, 8, 8), torch.tensor([0, 1, 2, 3, 4])
    out, soft = T.CutMix(p=0.0, num_classes=5)(x, y)
    assert torch.equal(out, x)
    assert torch.equal(soft, F.one_hot(y, 5).float())


def test_cutmix_keeps_dtype_and_memory_format_and_takes_soft_targets() -> None:
    x = torch.randint(0, 256, (7, 3, 8, 8), dtype=torch.uint8).contiguous(
        memory_format=torch.channels_last
    )
    soft = torch.softmax(torch.randn(7, 10), dim=1)
    out, y = T.CutMix(num_classes=10)(x, soft)
    assert out.dtype == torch.uint8 and out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(y.sum(1), torch.ones(7))


@given(batch=st.integers(1, 9), mode=st.sampled_from(["batch", "sample"]), seed=st.integers(0, 999))
def test_mixup_is_the_convex_combination(batch: int, mode: str, seed: int) -> None:
    mixup = T.MixUp(alpha=0.4, p=1.0, num_classes=3, mode=mode)
    x, y = torch.rand(batch, 3, 4, 4), torch.randint(0, 3, (batch,))
    params = mixup.generate_parameters(x.shape, generator=torch.Generator().manual_seed(seed))
    out, soft = mixup(x, y, params=params)
    lam, perm = params["lam"], params["perm"]
    assert torch.all((lam >= 0) & (lam <= 1))
    expected = lam.view(-1, 1, 1, 1) * x + (1 - lam.view(-1, 1, 1, 1)) * x[perm]
    torch.testing.assert_close(out, expected)
    one_hot = F.one_hot(y, 3).float()
    torch.testing.assert_close(soft, lam[:, None] * one_hot + (1 - lam[:, None]) * one_hot[perm])
    if mode == "batch":
        assert (lam == lam[0]).all()


@pytest.mark.parametrize("alpha", [0.2, 0.5, 1.0, 3.0])
def test_beta_sampler_moments(alpha: float) -> None:
    draws = T.sample_beta(alpha, (40_000,), generator=torch.Generator().manual_seed(0))
    assert draws.min() >= 0 and draws.max() <= 1
    assert draws.mean().item() == pytest.approx(0.5, abs=0.01)
    assert draws.var().item() == pytest.approx(1 / (4 * (2 * alpha + 1)), rel=0.05)


def test_replay_and_generator_for_mixing() -> None:
    x, y = torch.rand(6, 3, 8, 8), torch.arange(6)
    for mix in (T.CutMix(num_classes=6, mode="sample"), T.MixUp(num_classes=6)):
        a = mix(x, y, generator=torch.Generator().manual_seed(1))
        b = mix(x, y, generator=torch.Generator().manual_seed(1))
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
        params = mix.generate_parameters(x.shape)
        c, d = mix(x, y, params=params), mix(x, y, params=params)
        assert torch.equal(c[0], d[0]) and torch.equal(c[1], d[1])


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: T.CutMix(alpha=0), "alpha"),
        (lambda: T.CutMix(alpha=-1), "alpha"),
        (lambda: T.MixUp(p=2.0), "p"),
        (lambda: T.CutMix(num_classes=1), "num_classes"),
        (lambda: T.CutMix(mode="pixel"), "mode"),
    ],
)
def test_bad_mixing_arguments(factory: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        factory()  # type: ignore[operator]


def test_bad_mixing_inputs() -> None:
    cutmix = T.CutMix(num_classes=3)
    with pytest.raises(ValueError, match="labels must lie in"):
        cutmix(torch.rand(2, 3, 4, 4), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="labels must lie in"):
        cutmix(torch.rand(2, 3, 4, 4), torch.tensor([-1, 0]))
    with pytest.raises(ValueError, match="same batch size"):
        cutmix(torch.rand(2, 3, 4, 4), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="4-D"):
        cutmix(torch.rand(3, 4, 4), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="columns"):
        cutmix(torch.rand(2, 3, 4, 4), torch.rand(2, 4))
    with pytest.raises(TypeError, match="integer"):
        cutmix(torch.rand(2, 3, 4, 4), torch.tensor([0.0, 1.0]))
    with pytest.raises(TypeError, match="ToFloat"):
        T.MixUp(num_classes=3)(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.tensor([0, 1]))


def test_cross_entropy_of_cutmix_targets_is_the_papers_loss() -> None:
    # The Trainer's one loss, F.cross_entropy, on the soft targets CutMix returns equals the
    # paper's lam * CE(y_a) + (1 - lam) * CE(y_b), label smoothing or not.
    logits, y = torch.randn(6, 5), torch.tensor([0, 1, 2, 3, 4, 0])
    box = torch.tensor([[0, 2, 0, 4]] * 6)  # rows 0..1 of a 4x4 image: lam = 1 - 8/16
    perm = torch.tensor([5, 4, 3, 2, 1, 0])
    _, soft = T.CutMix(num_classes=5).apply_transform(
        torch.zeros(6, 3, 4, 4), y, {"box": box, "perm": perm}
    )
    lam = 0.5
    for smoothing in (0.0, 0.1):
        paper = lam * F.cross_entropy(logits, y, label_smoothing=smoothing) + (
            1 - lam
        ) * F.cross_entropy(logits, y[perm], label_smoothing=smoothing)
        torch.testing.assert_close(F.cross_entropy(logits, soft, label_smoothing=smoothing), paper)
