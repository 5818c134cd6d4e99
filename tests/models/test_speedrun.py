"""The speedrun network: the whitening fit, the conv group, the presets and the timm contract."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from resdepth import count_macs, count_parameters, depth, get_model, list_models, summary
from resdepth.models import ConvGroup, PatchWhitening, SpeedrunNet, whitening_weights


def _correlated_images(n: int = 64, size: int = 12, seed: int = 0) -> torch.Tensor:
    """Images whose neighbouring pixels and channels are correlated, as real ones are."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(n, 1, size + 1, size + 1, generator=g)
    smooth = (base[..., 1:, 1:] + base[..., :-1, :-1] + base[..., 1:, :-1]) / 3
    mix = torch.tensor([1.0, 0.8, 0.6]).view(1, 3, 1, 1)
    return smooth * mix + 0.2 * torch.randn(n, 3, size, size, generator=g)


def _patch_moment(x: torch.Tensor) -> torch.Tensor:
    flat = x.permute(0, 2, 3, 1).reshape(-1, x.shape[1]).double()
    return flat.T @ flat / flat.shape[0]


def test_whitened_patches_have_an_identity_second_moment() -> None:
    images = _correlated_images()
    layer = PatchWhitening(3, eps=0.0)
    layer.init_from_data(images)
    with torch.no_grad():
        out = torch.nn.functional.conv2d(images, layer.weight)  # the bias is not part of it
    half = out[:, :12]  # the other half are the negations
    moment = _patch_moment(half)
    assert torch.allclose(moment, torch.eye(12, dtype=moment.dtype), atol=1e-4)
    assert torch.allclose(out[:, 12:], -half)
    # And before: far from it, which the test would otherwise not show.
    raw = torch.nn.functional.unfold(images, 2).transpose(1, 2).reshape(-1, 12).double()
    assert not torch.allclose(
        raw.T @ raw / raw.shape[0], torch.eye(12, dtype=torch.float64), atol=0.1
    )


def test_eps_shrinks_the_weak_directions() -> None:
    images = _correlated_images()
    plain, damped = whitening_weights(images, eps=0.0), whitening_weights(images, eps=10.0)
    assert damped.abs().sum() < plain.abs().sum()


@given(seed=st.integers(0, 1000), scale=st.floats(0.5, 2.0))
def test_the_fit_is_a_deterministic_function_of_the_images(seed: int, scale: float) -> None:
    images = _correlated_images(16, 8, seed) * scale
    first = whitening_weights(images)
    assert torch.equal(first, whitening_weights(images.clone()))
    # The order of the images does not matter (up to float rounding), nor their device's layout.
    shuffled = whitening_weights(images.flip(0).contiguous(memory_format=torch.channels_last))
    assert torch.allclose(first, shuffled, atol=1e-4, rtol=1e-4)
    # Signs are fixed: each filter's largest entry is positive in the first half.
    flat = first[:12].reshape(12, -1)
    assert bool((flat.gather(1, flat.abs().argmax(1, keepdim=True)) > 0).all())


@pytest.mark.parametrize(
    "images",
    [
        torch.zeros(0, 3, 8, 8),
        torch.zeros(2, 3, 1, 1),
        torch.zeros(2, 3, 8),
        torch.zeros(2, 3, 8, 8, dtype=torch.uint8),
    ],
)
def test_bad_images_are_refused_by_name(images: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="images"):
        whitening_weights(images)


def test_the_layer_trains_only_its_bias_and_only_while_told() -> None:
    layer = PatchWhitening(3, bias_epochs=2)
    assert not layer.weight.requires_grad and not layer.fitted
    layer.set_epoch(1)
    assert layer.bias.requires_grad
    layer.set_epoch(2)
    assert not layer.bias.requires_grad
    layer.init_from_data(_correlated_images(8, 6))
    assert layer.fitted and layer.state_dict()["_fitted"]


def test_conv_group_starts_as_an_identity_on_its_first_channels() -> None:
    group = ConvGroup(4, 8)
    x = torch.randn(1, 4, 6, 6)
    out = torch.nn.functional.conv2d(x, group.conv1.weight, padding=1)
    assert torch.equal(out[:, :4], x)
    assert not group.norm1.weight.requires_grad and group.norm1.bias.requires_grad
    assert group(torch.randn(2, 4, 6, 6)).shape == (2, 8, 3, 3)


@pytest.mark.parametrize(
    ("name", "trainable", "macs"),
    [("airbench94", 1_971_352, 118_147_360), ("airbench95", 4_604_440, 301_560_864)],
)
def test_presets_are_registered_with_their_size(name: str, trainable: int, macs: int) -> None:
    assert name in list_models("airbench*")
    net = get_model(name)
    assert count_parameters(net) == trainable
    assert count_macs(net) == macs
    assert depth(net) == 8
    assert net.pretrained_cfg["architecture"] == name and "Jordan" in net.pretrained_cfg["source"]
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_summary_lists_the_whitening_layer_and_the_groups() -> None:
    text = str(summary(get_model("airbench94")))
    assert "PatchWhitening-1" in text and "ConvGroup" in text and "1,971,352" in text


def test_the_timm_contract() -> None:
    net = get_model("airbench94", num_classes=4).eval()
    x = torch.randn(2, 3, 32, 32)
    features = net.forward_features(x)
    assert features.shape == (2, 256, 3, 3)
    pooled = net.forward_head(features, pre_logits=True)
    assert torch.allclose(net(x), net.fc(pooled) * net.logit_scale)
    assert net.get_classifier() is net.fc and net.fc.bias is None
    net.reset_classifier(7)
    assert net(x).shape == (2, 7) and net.pretrained_cfg["num_classes"] == 7
    net.reset_classifier(0)
    assert net(x).shape == (2, 256)
    assert net.pretrained_cfg["first_conv"] == "whiten" and net.default_cfg is net.pretrained_cfg


def test_bad_arguments_name_themselves() -> None:
    with pytest.raises(ValueError, match="widths"):
        SpeedrunNet(widths=(64, 0))
    with pytest.raises(ValueError, match="widht"):
        get_model("airbench94", widht=3)
