"""Weight-decay groups: the paper's recipes build the optimizer they always built;
norms and biases get their own decay when a recipe asks."""

from __future__ import annotations

import math
import re

import pytest
import torch
from torch import nn

from resdepth.recipes import (
    NORM_LAYERS,
    Recipe,
    get_optimizer,
    get_recipe,
    register_optimizer,
    unregister_optimizer,
    weight_decay_groups,
)
from resdepth.training.resume import describe_run, run_differences

PAPER_RECIPES = ("as1", "as2", "as1-linear", "resnet40-ft")


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Conv2d(4, 4, 1), nn.GroupNorm(2, 4), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(4, 3), nn.LayerNorm(3),
    )  # fmt: skip


def _hyperparameters(opt: torch.optim.Optimizer) -> list[dict[str, object]]:
    return [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]


@pytest.mark.parametrize("name", PAPER_RECIPES)
def test_the_papers_recipes_build_the_optimizer_they_built_before(name: str) -> None:
    recipe, net = get_recipe(name), _net()
    assert recipe.norm_weight_decay is None and recipe.bias_weight_decay is None
    built = recipe.build_optimizer(net)
    by_hand = get_optimizer(recipe.optimizer)(net.parameters(), **dict(recipe.optimizer_kwargs))
    assert type(built) is type(by_hand) and len(built.param_groups) == 1
    assert _hyperparameters(built) == _hyperparameters(by_hand)
    assert [id(p) for p in built.param_groups[0]["params"]] == [id(p) for p in net.parameters()]
    # Checkpoints store the recipe whole: it describes itself as it did before.
    assert not {"norm_weight_decay", "bias_weight_decay"} & set(recipe.to_dict())


def test_cifar_strong_leaves_norms_and_biases_undecayed() -> None:
    recipe, net = get_recipe("cifar-strong"), _net()
    assert (recipe.norm_weight_decay, recipe.bias_weight_decay) == (0.0, 0.0)
    groups = recipe.build_optimizer(net).param_groups
    assert [g["weight_decay"] for g in groups] == [5e-4, 0.0, 0.0]
    assert [len(g["params"]) for g in groups] == [3, 6, 2]
    rest, norm, bias = ({id(p) for p in g["params"]} for g in groups)
    norms = [m for m in net if isinstance(m, NORM_LAYERS)]
    assert norm == {id(p) for m in norms for p in m.parameters()}
    assert bias == {id(net[3].bias), id(net[7].bias)}
    assert rest == {id(net[0].weight), id(net[3].weight), id(net[7].weight)}
    # Every parameter once, each group in the order of model.parameters().
    order = [id(p) for p in net.parameters()]
    flat = [id(p) for g in groups for p in g["params"]]
    assert sorted(flat) == sorted(order) and len(set(flat)) == len(flat)
    for g in groups:
        ids = [id(p) for p in g["params"]]
        assert ids == sorted(ids, key=order.index)
    assert "norm_weight_decay=0.0, bias_weight_decay=0.0" in recipe.summary()
    assert "norm_weight_decay" not in get_recipe("as1").summary()


def test_an_sgd_step_with_no_gradient_leaves_norm_weights_alone() -> None:
    for name, decays in (("cifar-strong", False), ("as1", True)):
        net = _net()
        before = {k: v.detach().clone() for k, v in net.named_parameters()}
        opt = get_recipe(name).build_optimizer(net)
        for p in net.parameters():
            p.grad = torch.zeros_like(p)
        opt.step()
        after = dict(net.named_parameters())
        for key in ("1.weight", "4.weight", "8.weight"):  # BatchNorm, GroupNorm, LayerNorm
            assert torch.equal(after[key], before[key]) is not decays, (name, key)
        assert torch.all(after["0.weight"].abs() < before["0.weight"].abs())  # decayed


def test_groups_are_deterministic_and_leave_empty_ones_out() -> None:
    linear = nn.Linear(4, 2)
    groups = weight_decay_groups(linear, 0.1, norm_weight_decay=0.0, bias_weight_decay=0.0)
    assert [(g["params"], g["weight_decay"]) for g in groups] == [
        ([linear.weight], 0.1), ([linear.bias], 0.0),
    ]  # fmt: skip
    net = _net()
    first = weight_decay_groups(net, None, 0.0, 0.01)
    again = weight_decay_groups(net, None, 0.0, 0.01)
    assert [[id(p) for p in g["params"]] for g in first] == [
        [id(p) for p in g["params"]] for g in again
    ]
    assert "weight_decay" not in first[0]  # the optimizer's own default
    # None: those parameters stay in the rest's group.
    (only,) = weight_decay_groups(net)
    assert [id(p) for p in only["params"]] == [id(p) for p in net.parameters()]


def test_a_shared_parameter_is_in_one_group_once() -> None:
    norm = nn.BatchNorm1d(3)
    net = nn.Sequential(nn.Linear(3, 3), norm, norm)
    groups = weight_decay_groups(net, 0.1, norm_weight_decay=0.0)
    assert [len(g["params"]) for g in groups] == [2, 2]


def test_only_one_of_the_two_groups() -> None:
    net = _net()
    norm_only = get_recipe("as1", norm_weight_decay=0.0).build_optimizer(net).param_groups
    assert [(len(g["params"]), g["weight_decay"]) for g in norm_only] == [(5, 5e-4), (6, 0.0)]
    bias_only = get_recipe("as1", bias_weight_decay=1e-5).build_optimizer(net).param_groups
    # Norm biases count as norm, so they stay with the rest here.
    assert [(len(g["params"]), g["weight_decay"]) for g in bias_only] == [(9, 5e-4), (2, 1e-5)]


@pytest.mark.parametrize("field", ["norm_weight_decay", "bias_weight_decay"])
@pytest.mark.parametrize("value", [-1e-4, math.nan, math.inf, "0", True])
def test_decays_are_checked_and_named(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=re.escape(f"{field} must be a finite number >= 0")):
        get_recipe("as1", **{field: value})
    with pytest.raises(ValueError, match=field):
        weight_decay_groups(_net(), **{field: value})  # type: ignore[arg-type]


def test_an_optimizer_without_weight_decay_is_refused() -> None:
    try:
        register_optimizer("_test_lbfgs", torch.optim.LBFGS)
        assert get_recipe("as1", optimizer="_test_lbfgs").optimizer == "_test_lbfgs"
        with pytest.raises(ValueError, match="bias_weight_decay needs an optimizer that takes"):
            get_recipe("as1", optimizer="_test_lbfgs", bias_weight_decay=0.0)
    finally:
        unregister_optimizer("_test_lbfgs", missing_ok=True)


def test_a_list_of_parameters_cannot_be_grouped() -> None:
    params = list(_net().parameters())
    assert len(get_recipe("as1").build_optimizer(params).param_groups) == 1
    with pytest.raises(TypeError, match="needs the model"):
        get_recipe("cifar-strong").build_optimizer(params)


def test_the_fields_round_trip_and_a_resume_must_keep_them() -> None:
    strong = get_recipe("cifar-strong")
    data = strong.to_dict()
    assert (data["norm_weight_decay"], data["bias_weight_decay"]) == (0.0, 0.0)
    assert Recipe.from_dict(data) == strong
    assert Recipe.from_dict(get_recipe("as1").to_dict()) == get_recipe("as1")
    net = _net()

    def run(recipe: Recipe) -> dict[str, object]:
        return describe_run(net, recipe, None, "fp32", 1)

    changed = run_differences(run(strong), run(strong.replace(norm_weight_decay=1e-5)))
    assert changed == ["recipe.norm_weight_decay: 0.0 -> 1e-05"]
    added = run_differences(run(get_recipe("as1")), run(get_recipe("as1", bias_weight_decay=0)))
    assert added == ["recipe.bias_weight_decay: (not set) -> 0.0"]
    assert run_differences(run(get_recipe("as1")), run(get_recipe("as1"))) == []
