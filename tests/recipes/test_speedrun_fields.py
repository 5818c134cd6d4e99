"""The speedrun's recipe fields: validation, their stored form, the BatchNorm-bias group
and the warm-up schedule's share and end."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from resdepth.recipes import (
    Recipe,
    get_recipe,
    list_recipes,
    norm_bias_group,
    register_optimizer,
    unregister_optimizer,
)

NEW_FIELDS = ("norm_bias_lr_scale", "lookahead_every", "lookahead_decay", "alternating_flip",
              "test_views")  # fmt: skip


def test_the_new_fields_stay_out_of_the_stored_form_while_off() -> None:
    for name in list_recipes():
        recipe = get_recipe(name)
        stored = recipe.to_dict()
        off = {field for field in NEW_FIELDS if getattr(recipe, field) in (None, False)}
        assert not off & set(stored), name
        assert Recipe.from_dict(stored) == recipe
    # The recipes from before these fields store the same form as they did.
    for name in ("as1", "as1-linear", "as2", "resnet40-ft", "fast-v1", "fast-v2", "cifar-strong"):
        assert not set(NEW_FIELDS) & set(get_recipe(name).to_dict()), name
    stored = get_recipe("airbench94").to_dict()
    assert {"norm_bias_lr_scale", "lookahead_every", "alternating_flip", "test_views"} <= set(
        stored
    )
    assert "lookahead_decay" not in stored  # at its default
    assert Recipe.from_dict(stored) == get_recipe("airbench94")
    assert Recipe.from_dict({**stored, "lookahead_decay": 0.5}).lookahead_decay == 0.5


@pytest.mark.parametrize(
    ("field", "value"),
    [("lookahead_every", 0), ("lookahead_every", 2.5), ("lookahead_decay", 1.5),
     ("lookahead_decay", -0.1), ("test_views", "rotate"), ("alternating_flip", "yes"),
     ("norm_bias_lr_scale", -1.0), ("norm_bias_lr_scale", float("nan"))],
)  # fmt: skip
def test_bad_values_are_refused_naming_the_field(field: str, value: object) -> None:
    with pytest.raises((ValueError, TypeError), match=field):
        get_recipe("as1", **{field: value})


def test_norm_bias_lr_scale_needs_an_optimizer_with_weight_decay() -> None:
    try:
        register_optimizer("_test_lbfgs_bias", torch.optim.LBFGS)
        with pytest.raises(ValueError, match="norm_bias_lr_scale needs an optimizer that takes"):
            get_recipe("as1", optimizer="_test_lbfgs_bias", norm_bias_lr_scale=2.0)
    finally:
        unregister_optimizer("_test_lbfgs_bias", missing_ok=True)


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(2))


@given(scale=st.floats(0.5, 100.0), decay=st.floats(0.0, 0.1))
def test_the_bias_group_keeps_the_decay_per_step(scale: float, decay: float) -> None:
    net = _net()
    recipe = get_recipe("as1", weight_decay=decay, norm_bias_lr_scale=scale)
    optimizer = recipe.build_optimizer(net)
    norm = net[1]
    (moved,) = [g for g in optimizer.param_groups if any(p is norm.bias for p in g["params"])]
    assert len(moved["params"]) == 1
    assert moved["lr"] == pytest.approx(0.1 * scale)
    assert moved["lr"] * moved["weight_decay"] == pytest.approx(0.1 * decay)
    rest = [p for g in optimizer.param_groups if g is not moved for p in g["params"]]
    assert len(rest) == len(list(net.parameters())) - 1
    assert all(g["lr"] == 0.1 for g in optimizer.param_groups if g is not moved)


def test_the_bias_group_takes_the_optimizer_default_decay() -> None:
    net = _net()
    optimizer = get_recipe(
        "as1", optimizer="adamw", lr=0.01, norm_bias_lr_scale=10.0
    ).build_optimizer(net)
    moved = optimizer.param_groups[-1]
    assert moved["lr"] == pytest.approx(0.1) and moved["weight_decay"] == pytest.approx(0.001)
    # A model without normalisation layers keeps its groups.
    plain = nn.Linear(2, 2)
    groups = [{"params": list(plain.parameters())}]
    assert norm_bias_group(plain, groups, 4.0, {"lr": 0.1}) == groups


def _factors(recipe: Recipe, steps_per_epoch: int) -> list[float]:
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = recipe.build_scheduler(optimizer, steps_per_epoch)
    total = recipe.epochs * steps_per_epoch
    seen = []
    for _ in range(total):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return seen + [optimizer.param_groups[0]["lr"]]


@given(epochs=st.integers(1, 6), per_epoch=st.integers(2, 30))
def test_the_warm_up_is_a_share_of_any_run(epochs: int, per_epoch: int) -> None:
    recipe = get_recipe("airbench94", epochs=epochs, lr=1.0)
    factors = _factors(recipe, per_epoch)
    total = epochs * per_epoch
    warmup = int(0.23 * total)
    assert factors[0] == pytest.approx(0.2 if warmup else 1.0)
    assert max(factors) == pytest.approx(1.0)
    assert factors[warmup] == pytest.approx(1.0)
    assert factors[-1] == pytest.approx(0.07)
    assert all(
        a <= b + 1e-12 for a, b in zip(factors[:warmup], factors[1 : warmup + 1], strict=True)
    )
    assert all(
        a >= b - 1e-12 for a, b in zip(factors[warmup:], factors[warmup + 1 :], strict=False)
    )


def test_bad_schedule_options_are_refused() -> None:
    with pytest.raises(ValueError, match="warmup_fraction"):
        get_recipe("airbench94", scheduler_kwargs={"warmup_fraction": 1.0})
    with pytest.raises(ValueError, match="end_factor"):
        get_recipe("fast", scheduler_kwargs={"end_factor": 2.0})
