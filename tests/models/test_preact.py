"""Pre-activation and wide blocks, and the standard CIFAR baselines built from them."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from resdepth import (
    ResNet,
    count_parameters,
    depth,
    fit_widths,
    get_model,
    resnet_num_parameters,
    summary,
)
from resdepth.models import PreActBasicBlock, PreActBottleneck, WideBasicBlock


@pytest.mark.parametrize(
    ("name", "published", "places", "expected_depth"),
    [
        ("wrn_28_10", 36.5e6, -5, 28),
        ("wrn_16_8", 11.0e6, -5, 16),
        ("preact_resnet18", 11.17e6, -4, 18),
    ],  # fmt: skip
)
def test_presets_have_their_published_sizes_and_depths(
    name: str, published: float, places: int, expected_depth: int
) -> None:
    with torch.device("meta"):
        net = get_model(name)
    assert round(count_parameters(net), places) == published
    assert depth(net) == expected_depth


@pytest.mark.parametrize("block", [PreActBasicBlock, PreActBottleneck, WideBasicBlock])
def test_closed_form_count_equals_the_built_network(block: type) -> None:
    for layers, widths in (((1, 2), (8, 16)), ((2, 1, 1), (16, 24, 40))):
        net = ResNet(block, layers, widths, num_classes=7, stem_width=12)
        expected = resnet_num_parameters(layers, widths, block=block, num_classes=7,
                                         stem_width=12)  # fmt: skip
        assert count_parameters(net) == expected


def test_pre_activation_order_and_shapes() -> None:
    net = ResNet(PreActBasicBlock, (1, 1), (8, 16), num_classes=3)
    assert isinstance(net.bn1, nn.Identity) and isinstance(net.final_norm, nn.BatchNorm2d)
    x = torch.randn(4, 3, 16, 16)
    assert net(x).shape == (4, 3)
    block = net.layer2[0]
    # BN-ReLU comes first; the projection is a convolution alone, fed the activated input.
    assert [type(m).__name__ for m in block.shortcut] == ["Conv2d"]
    with torch.no_grad():
        activated = torch.relu(block.bn1(torch.randn(2, 8, 8, 8)))
        block.eval()
        net.eval()
        out = block(activated * 0)  # zero input: BN-ReLU of zeros, through both paths
    assert out.shape == (2, 16, 4, 4)


def test_zero_init_residual_makes_each_block_the_identity() -> None:
    net = ResNet(PreActBasicBlock, (2,), (8,), zero_init_residual=True).eval()
    block = net.layer1[1]
    x = torch.randn(2, 8, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(block(x), x)


def test_wide_dropout_and_study_tools() -> None:
    net = get_model("wrn_16_8", dropout=0.3)
    assert all(b.dropout.p == 0.3 for b in net.layer1)
    assert "WideBasicBlock" in repr(net)
    table = summary(get_model("preact_resnet18"))
    assert table.total_parameters == count_parameters(get_model("preact_resnet18"))
    fit = fit_widths((3, 3, 3), 5_000_000, base_widths=(16, 32, 64), block=WideBasicBlock)
    assert fit.num_parameters <= 5_000_000
    with pytest.raises(ValueError, match="dropout"):
        ResNet(WideBasicBlock, (1,), (8,), block_kwargs={"dropout": 1.5})
