from __future__ import annotations

import pytest
from torch import nn

from resdepth import ResNet, summary


def test_rows_follow_forward_order_and_skip_containers() -> None:
    net = ResNet(layers=(1, 1), widths=(4, 8))
    s = summary(net, input_size=(3, 16, 16))
    names = [r.name.rsplit("-", 1)[0] for r in s.rows]
    assert "Sequential" not in names and "Identity" not in names and "Projection" not in names
    assert names[:2] == ["Conv2d", "BatchNorm2d"]
    assert names[-3:] == ["AdaptiveAvgPool2d", "Flatten", "Linear"]
    assert [int(r.name.rsplit("-", 1)[1]) for r in s.rows] == list(range(1, len(s.rows) + 1))
    assert sum(r.num_parameters for r in s.rows) == s.total_parameters
    assert s.rows[-1].output_shape == (2, 10)


def test_frozen_parameters_are_reported() -> None:
    net = ResNet(layers=(1,), widths=(4,))
    net.fc.requires_grad_(False)
    s = summary(net, input_size=(3, 8, 8))
    assert s.non_trainable_parameters == 4 * 10 + 10
    assert not s.rows[-1].trainable
    assert "Non-trainable params: 50" in str(s)


def test_training_mode_is_restored() -> None:
    net = ResNet(layers=(1,), widths=(4,)).train()
    summary(net, input_size=(3, 8, 8))
    assert net.training
    net.eval()
    summary(net, input_size=(3, 8, 8))
    assert not net.training


@pytest.mark.parametrize("bad", [(), (3, 0, 8), "3x32x32", (3.0, 8, 8)])
def test_bad_input_size(bad: object) -> None:
    with pytest.raises(ValueError, match="input_size"):
        summary(ResNet(layers=(1,), widths=(4,)), input_size=bad)  # type: ignore[arg-type]


def test_not_a_module() -> None:
    with pytest.raises(TypeError, match="model"):
        summary(nn.Linear)  # type: ignore[arg-type]
