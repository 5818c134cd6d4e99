from __future__ import annotations

import pytest
from torch import nn

from resdepth import ResNet, get_model, list_models, register_model
from resdepth.models import unregister_model


def test_list_models_patterns() -> None:
    assert list_models() == sorted(list_models())
    assert {"resnet10", "resnet18", "resnet40", "resnet102"} <= set(list_models())
    assert list_models("resnet4*") == ["resnet40"]
    assert list_models("nothing*") == []
    assert list_models(["resnet4*", "wrn_16*"]) == ["resnet40", "wrn_16_8"]
    assert list_models(("resnet10", "resnet10*")) == ["resnet10", "resnet102"]
    assert list_models([]) == []
    with pytest.raises(TypeError, match="pattern"):
        list_models(["resnet*", 3])  # type: ignore[list-item]


def test_get_model_builds_with_overrides() -> None:
    net = get_model("resnet10", num_classes=7)
    assert isinstance(net, ResNet)
    assert net.fc.out_features == 7


def test_unknown_name_suggests_close_matches() -> None:
    with pytest.raises(ValueError, match="did you mean 'resnet40'"):
        get_model("resnet04")
    with pytest.raises(ValueError, match="unknown model"):
        get_model("completely-different")


def test_register_model_bare_and_named_and_duplicates() -> None:
    try:

        @register_model
        def _test_tiny(**kw: object) -> nn.Module:
            return ResNet(layers=(1,), widths=(4,), **kw)  # type: ignore[arg-type]

        @register_model(name="_test_named")
        def anything(**kw: object) -> nn.Module:
            return ResNet(layers=(1,), widths=(4,), **kw)  # type: ignore[arg-type]

        assert "_test_tiny" in list_models("_test*")
        assert "_test_named" in list_models("_test*")
        assert get_model("_test_named", num_classes=3).fc.out_features == 3
        with pytest.raises(ValueError, match="already registered"):
            register_model(name="_test_tiny")(anything)
        with pytest.raises(ValueError, match="already registered"):
            register_model(name="resnet40")(anything)
    finally:
        for name in ("_test_tiny", "_test_named"):
            unregister_model(name, missing_ok=True)
    assert list_models("_test*") == []


def test_unregister_model_frees_the_name() -> None:
    def tiny(**kw: object) -> nn.Module:
        return ResNet(layers=(1,), widths=(4,), **kw)  # type: ignore[arg-type]

    register_model(name="_test_again")(tiny)
    assert unregister_model("_test_again") is tiny
    assert "_test_again" not in list_models()
    register_model(name="_test_again")(tiny)  # a re-run cell registers it again
    assert unregister_model("_test_again") is tiny
    assert unregister_model("_test_again", missing_ok=True) is None
    with pytest.raises(ValueError, match="unknown model '_test_again'"):
        unregister_model("_test_again")
    with pytest.raises(ValueError, match="did you mean 'resnet40'"):
        unregister_model("resnet04")
    assert "resnet40" in list_models()


def test_register_model_refuses_non_callables() -> None:
    with pytest.raises(TypeError, match="callable"):
        register_model(name="_test_bad")(42)  # type: ignore[arg-type]
