from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from resdepth import transforms as T
from resdepth.data import DeviceLoader, load_dataset, make_synthetic


def _data(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    # Image i holds the value i % 256 and label i, so batches can be traced back.
    images = (torch.arange(n) % 256).to(torch.uint8).view(-1, 1, 1, 1).expand(n, 3, 4, 4).clone()
    return images, torch.arange(n)


@given(n=st.integers(1, 50), batch=st.integers(1, 16), shuffle=st.booleans())
def test_every_sample_once_per_epoch(n: int, batch: int, shuffle: bool) -> None:
    loader = DeviceLoader(*_data(n), batch_size=batch, shuffle=shuffle, device="cpu")
    for _ in range(2):
        seen = torch.cat([y for _, y in loader])
        assert sorted(seen.tolist()) == list(range(n))
    assert len(loader) == -(-n // batch)


def test_drop_last_and_lengths() -> None:
    loader = DeviceLoader(*_data(10), batch_size=4, drop_last=True, device="cpu")
    assert len(loader) == 2 and [len(y) for _, y in loader] == [4, 4]


def test_epochs_are_reproducible_and_differ() -> None:
    a = DeviceLoader(*_data(30), batch_size=8, generator=7, device="cpu")
    b = DeviceLoader(*_data(30), batch_size=8, generator=7, device="cpu")
    first_a, second_a = [torch.cat([y for _, y in a]) for _ in range(2)]
    first_b = torch.cat([y for _, y in b])
    assert torch.equal(first_a, first_b) and not torch.equal(first_a, second_a)
    assert a.epoch == 1


@pytest.mark.parametrize("stop_after", [0, 2, 4])
def test_resume_mid_epoch_gives_the_same_batches(stop_after: int) -> None:
    augment = T.Compose([T.ToFloat(), T.RandomCrop(4, padding=1), T.RandomHorizontalFlip()])
    images = torch.randint(0, 256, (37, 3, 4, 4), dtype=torch.uint8)
    labels = torch.arange(37)

    def make() -> DeviceLoader:
        return DeviceLoader(
            images, labels, batch_size=8, transform=augment, generator=3, device="cpu"
        )

    reference = make()
    list(reference)  # epoch 0
    expected = list(reference)  # epoch 1
    interrupted = make()
    list(interrupted)
    partial = iter(interrupted)
    for _ in range(stop_after):
        next(partial)
    state = interrupted.state_dict()
    resumed = make()
    resumed.load_state_dict(state)
    rest = list(resumed)
    assert len(rest) == len(expected) - stop_after
    for (x, y), (ex, ey) in zip(rest, expected[stop_after:], strict=True):
        assert torch.equal(y, ey) and torch.equal(x, ex)
    assert torch.equal(torch.cat([y for _, y in resumed]), torch.cat([y for _, y in reference]))


def test_resume_at_an_epoch_boundary() -> None:
    a = DeviceLoader(*_data(20), batch_size=6, device="cpu")
    list(a)
    state = a.state_dict()
    b = DeviceLoader(*_data(20), batch_size=6, device="cpu")
    b.load_state_dict(state)
    assert state["epoch"] == 1 and state["position"] == 0
    assert torch.equal(torch.cat([y for _, y in b]), torch.cat([y for _, y in a]))


@given(n=st.integers(1, 60), world=st.integers(1, 4), drop_last=st.booleans())
def test_shards_cover_the_epoch_with_as_many_batches_each(
    n: int, world: int, drop_last: bool
) -> None:
    """Equal shards, so that no DDP rank runs out of batches before the others: the
    epoch's order is extended by its own first positions, fewer than ``world``."""
    seen, batches = [], []
    for rank in range(world):
        loader = DeviceLoader(*_data(n), batch_size=5, rank=rank, world_size=world,
                              drop_last=drop_last, device="cpu")  # fmt: skip
        seen.append(torch.cat([y for _, y in loader]).tolist() if len(loader) else [])
        batches.append(len(loader))
        assert loader.num_samples == -(-n // world)
    assert len(set(batches)) == 1 and len({len(shard) for shard in seen}) == 1
    flat = [i for shard in seen for i in shard]
    if not drop_last:
        assert set(flat) == set(range(n)) and len(flat) == -(-n // world) * world
        assert len(flat) - len(set(flat)) == len(flat) - n < world  # the repeated ones


def test_transform_and_channels_last() -> None:
    pipe = T.Compose([T.ToFloat(), T.Normalize((0.5,) * 3, (0.5,) * 3)])
    loader = DeviceLoader(*_data(9), batch_size=4, transform=pipe, channels_last=True, device="cpu")
    x, y = next(iter(loader))
    assert x.dtype == torch.float32 and x.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(x[:, 0, 0, 0], (y % 256).float() / 255 * 2 - 1)
    plain = DeviceLoader(
        *_data(9), batch_size=4, transform=lambda b, generator=None: b.float(), device="cpu"
    )
    assert next(iter(plain))[0].dtype == torch.float32


def test_bad_arguments() -> None:
    images, labels = _data(4)
    with pytest.raises(ValueError, match="batch_size"):
        DeviceLoader(images, labels, batch_size=0)
    with pytest.raises(ValueError, match="labels"):
        DeviceLoader(images, labels[:3], batch_size=2)
    with pytest.raises(ValueError, match="images"):
        DeviceLoader(images[0], labels, batch_size=2)
    with pytest.raises(ValueError, match="rank"):
        DeviceLoader(images, labels, batch_size=2, rank=2, world_size=2)
    with pytest.raises(TypeError, match="transform"):
        DeviceLoader(images, labels, batch_size=2, transform=3)  # type: ignore[arg-type]


def test_synthetic_is_learnable_and_named() -> None:
    images, labels = make_synthetic(200, num_classes=4, image_size=8)
    means = torch.stack([images[labels == c].float().mean(0) for c in range(4)])
    assert (means[0] - means[1]).abs().mean() > 10  # class patterns differ
    ds = load_dataset("synthetic", synthetic_size=50)
    assert "synthetic" in ds.name and len(ds) == 50
    assert len(ds.subset(10)) == 10 and "subset" in ds.subset(10).name
    with pytest.raises(ValueError, match="more than"):
        ds.subset(len(ds) + 1)


def test_mixing_runs_in_the_loader_and_resumes_with_it() -> None:
    images = torch.randint(0, 256, (40, 3, 6, 6), dtype=torch.uint8)
    labels = torch.arange(40) % 5

    def make() -> DeviceLoader:
        return DeviceLoader(
            images, labels, batch_size=8, transform=T.Compose([T.ToFloat(), T.RandomCrop(6, 1)]),
            mixing=T.CutMix(p=1.0, num_classes=5, mode="sample"), generator=5, device="cpu",
        )  # fmt: skip

    reference = list(make())
    assert all(y.shape == (8, 5) for _, y in reference)  # soft targets
    assert torch.allclose(torch.cat([y for _, y in reference]).sum(1), torch.ones(40))
    interrupted = make()
    partial = iter(interrupted)
    next(partial), next(partial)
    resumed = make()
    resumed.load_state_dict(interrupted.state_dict())
    for (x, y), (ex, ey) in zip(resumed, reference[2:], strict=True):
        assert torch.equal(x, ex) and torch.equal(y, ey)
    other_seed = DeviceLoader(images, labels, batch_size=8, generator=6, device="cpu",
                              mixing=T.CutMix(p=1.0, num_classes=5))  # fmt: skip
    assert not torch.equal(next(iter(other_seed))[1], reference[0][1])
    with pytest.raises(TypeError, match="mixing"):
        DeviceLoader(images, labels, batch_size=8, mixing=3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"batch_size": 4}, "batch_size 6 -> 4"),
        ({"n": 18}, "size 20 -> 18"),
        ({"world_size": 2}, "world_size 1 -> 2"),
    ],  # fmt: skip
)
def test_a_loader_state_does_not_load_into_other_batches(change: dict, named: str) -> None:
    a = DeviceLoader(*_data(20), batch_size=6, device="cpu")
    next(iter(a))
    state = a.state_dict()
    b = DeviceLoader(*_data(change.get("n", 20)), batch_size=change.get("batch_size", 6),
                     world_size=change.get("world_size", 1), device="cpu")  # fmt: skip
    with pytest.raises(ValueError, match=named):
        b.load_state_dict(state)
