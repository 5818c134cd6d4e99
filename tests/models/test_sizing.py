from __future__ import annotations

import time

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from resdepth import (
    BasicBlock,
    Bottleneck,
    ResNet,
    count_parameters,
    fit_widths,
    resnet_num_parameters,
)


@given(
    layers=st.lists(st.integers(1, 6), min_size=1, max_size=4),
    budget=st.integers(20_000, 8_000_000),
    multiple=st.sampled_from([1, 4, 8, 16]),
)
def test_fit_widths_is_the_widest_that_fits(layers: list[int], budget: int, multiple: int) -> None:
    base = tuple(16 * 2**i for i in range(len(layers)))
    try:
        fit = fit_widths(layers, budget, base_widths=base, multiple_of=multiple)
    except ValueError:
        narrowest = tuple([multiple] * len(layers))
        assert resnet_num_parameters(layers, narrowest) > budget
        return
    assert fit.num_parameters <= budget
    assert fit.num_parameters == resnet_num_parameters(layers, fit.widths)
    assert all(w % multiple == 0 for w in fit.widths)
    # Any larger scale gives a network that is the same or over budget.
    for factor in (1.001, 1.01, 1.1, 1.5, 2.0):
        s = fit.scale * factor + 1e-9
        wider = tuple(multiple * max(1, int(b * s / multiple + 0.5)) for b in base)
        if wider != fit.widths:
            assert resnet_num_parameters(layers, wider) > budget


def test_fit_widths_reproduces_the_paper_choice() -> None:
    fit = fit_widths((8, 13, 17, 12), 5_000_000)
    assert fit.widths == (16, 32, 64, 128)
    assert fit.num_parameters == 4_997_658


def test_closed_form_equals_a_built_model() -> None:
    for block, layers, widths in [
        (BasicBlock, (2, 1, 3), (8, 16, 24)),
        (Bottleneck, (1, 2), (8, 16)),
    ]:
        net = ResNet(block, layers, widths, num_classes=7)
        assert count_parameters(net) == resnet_num_parameters(
            layers, widths, block=block, num_classes=7
        )


def test_fit_widths_is_fast() -> None:
    start = time.perf_counter()
    for d in range(1, 40):
        fit_widths((d, d, d, d), 5_000_000)
    assert time.perf_counter() - start < 5.0


def test_count_parameters_trainable_only() -> None:
    net = ResNet(layers=(1,), widths=(4,))
    total = count_parameters(net)
    net.fc.weight.requires_grad_(False)
    assert count_parameters(net) == total - net.fc.weight.numel()
    assert count_parameters(net, trainable_only=False) == total


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="max_params"):
        fit_widths((1, 1, 1, 1), 0)
    with pytest.raises(ValueError, match="narrowest"):
        fit_widths((1, 1, 1, 1), 100)
    with pytest.raises(ValueError, match="base_widths"):
        fit_widths((1, 1), 10_000, base_widths=(16,))
    with pytest.raises(ValueError, match="multiple_of"):
        fit_widths((1,), 10_000, base_widths=(16,), multiple_of=0)
    with pytest.raises(ValueError, match="layers"):
        resnet_num_parameters((), ())
    with pytest.raises(TypeError, match="model"):
        count_parameters("resnet40")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="model"):
        from resdepth import depth

        depth(torch.zeros(1))  # type: ignore[arg-type]


def test_count_macs_matches_a_hand_count() -> None:
    from torch import nn

    from resdepth import count_macs

    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=2),
        nn.Flatten(),
        nn.Linear(8 * 4 * 4, 5),
    )
    expected = 8 * 8 * 8 * 3 * 9 + 8 * 4 * 4 * (4 * 9) + 5 * 128
    assert count_macs(net, (3, 8, 8)) == expected
    assert next(net.parameters()).device.type == "cpu"  # the model itself is untouched
    # A ResNet's MACs scale with the input area.
    small = ResNet(layers=(1,), widths=(8,))
    ratio = count_macs(small, (3, 32, 32)) / count_macs(small, (3, 16, 16))
    assert ratio == pytest.approx(4.0, rel=0.01)


@pytest.mark.parametrize("name", ["resnet10", "resnet40", "resnet102"])
def test_count_macs_of_the_presets_equals_a_per_layer_count(name: str) -> None:
    import math

    from torch import nn

    from resdepth import count_macs, get_model

    net = get_model(name)
    total = 0

    def count(module: nn.Module, inputs: object, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            total += output.numel() * module.in_channels * math.prod(module.kernel_size)
        else:
            total += output.numel() * module.in_features

    handles = [m.register_forward_hook(count) for m in net.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]  # fmt: skip
    with torch.no_grad():
        net(torch.zeros(1, 3, 32, 32))
    for handle in handles:
        handle.remove()
    assert count_macs(net) == total
