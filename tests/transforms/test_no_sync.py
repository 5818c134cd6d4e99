"""The hot path reads nothing back from the device and copies nothing to it.

On a GPU either would stall the stream: ``.item()``/``int(t)`` (``_local_scalar_dense``)
waits for the device, and ``torch.tensor([...], device=...)`` (``lift_fresh``) is a
blocking host-to-device copy.  Recording the dispatched ops catches both on the CPU.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from resdepth import transforms as T
from resdepth.recipes import get_recipe

FORBIDDEN = ("aten._local_scalar_dense", "aten.lift_fresh", "aten.item")


class _Recorder(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


def _assert_no_sync(fn) -> None:  # noqa: ANN001
    with _Recorder() as recorder:
        fn()
    bad = [op for op in recorder.ops if op.startswith(FORBIDDEN)]
    assert not bad, bad


@pytest.mark.parametrize("recipe", ["as1", "resnet40-ft", "cifar-strong"])
def test_train_transform_draw_and_apply(recipe: str) -> None:
    pipeline = get_recipe(recipe).build_train_transform()
    x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    pipeline(x)  # warm the per-device caches
    g = torch.Generator().manual_seed(0)
    _assert_no_sync(lambda: pipeline(x, generator=g))


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_affine_alone(interpolation: str) -> None:
    affine = T.RandomAffine(10, (0.1, 0.1), (0.9, 1.1), 10, interpolation=interpolation, fill=0.5)
    x = torch.rand(4, 3, 16, 16)
    _assert_no_sync(lambda: affine(x))


@pytest.mark.parametrize(
    "make",
    [
        lambda: T.ColorJitter(0.4, 0.4, 0.4, 0.1),
        lambda: T.RandomGrayscale(0.5),
        lambda: T.RandomSolarize(128),
        lambda: T.RandomPosterize(4),
        lambda: T.RandomEqualize(),
        lambda: T.RandomErasing(value="random"),
        lambda: T.Cutout(8),
        lambda: T.AutoAugment(),
        lambda: T.RandAugment(),
        lambda: T.TrivialAugmentWide(),
    ],
)
@pytest.mark.parametrize("grouped", [True, False])
def test_colour_erasing_and_policies(make, grouped: bool) -> None:  # noqa: ANN001
    # Index groups (the CPU's way) and masks (the GPU's): neither reads a value back.
    transform = make()
    x = torch.rand(8, 3, 16, 16)
    with T.per_sample_strategy("groups" if grouped else "masks"):
        transform(x)
        g = torch.Generator().manual_seed(0)
        _assert_no_sync(lambda: transform(x, generator=g))


@pytest.mark.parametrize("mode", ["batch", "sample"])
def test_mixing_apply(mode: str) -> None:
    x = torch.rand(6, 3, 8, 8)
    # The label range check reads two numbers for CPU index labels only: soft targets here.
    soft = torch.softmax(torch.randn(6, 10), dim=1)
    mixes = (T.CutMix(num_classes=10, mode=mode), T.MixUp(alpha=0.4, num_classes=10, mode=mode))
    for mix in mixes:
        params = mix.generate_parameters(x.shape)
        _assert_no_sync(lambda mix=mix, params=params: mix(x, soft, params=params))
        _assert_no_sync(lambda mix=mix: mix.generate_parameters(x.shape))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("recipe", ["resnet40-ft", "cifar-strong"])
def test_no_synchronisation_on_cuda(recipe: str) -> None:
    pipeline = get_recipe(recipe).build_train_transform().cuda()
    cutmix = T.CutMix(num_classes=10, p=0.5)
    x = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, device="cuda")
    y = torch.randint(0, 10, (64,), device="cuda")
    cutmix(pipeline(x), y)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        cutmix(pipeline(x), y)
    finally:
        torch.cuda.set_sync_debug_mode("default")
