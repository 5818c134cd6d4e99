"""Muon for the filters and SGD for the rest: the orthogonalisation, each part's step
against its definition, resuming from a state dict, and the recipe choice."""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from resdepth.recipes import MuonSGD, Recipe, get_recipe, list_optimizers, orthogonalize


@given(rows=st.integers(2, 24), cols=st.integers(2, 24), seed=st.integers(0, 100))
def test_orthogonalize_brings_the_singular_values_near_one(rows: int, cols: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    matrix = torch.randn(rows, cols, generator=g)
    q = orthogonalize(matrix, steps=10)
    assert q.shape == matrix.shape and q.dtype == matrix.dtype
    # In the input's own singular bases q is diagonal, with values near 1: U f(S) V^T.
    u, _, vh = torch.linalg.svd(matrix.double(), full_matrices=False)
    inner = u.T @ q.double() @ vh.T
    diagonal = torch.diagonal(inner)
    assert torch.allclose(inner, torch.diag(diagonal), atol=1e-3)
    assert bool((diagonal > 0.5).all() and (diagonal < 1.5).all()), diagonal
    # Scale-free, up to float32 rounding carried through the 10 iterations (up to 4e-5
    # was seen on these sizes; 1e-5 failed for a 2x2 matrix).
    assert torch.allclose(orthogonalize(3.0 * matrix, steps=10), q, atol=2e-4)


def test_orthogonalize_refuses_what_is_not_a_matrix() -> None:
    with pytest.raises(ValueError, match="2-D"):
        orthogonalize(torch.zeros(2, 3, 4))


def _net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(36, 2))


def _loss(net: nn.Module, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(8, 3, 5, 5, generator=g), torch.randint(0, 2, (8,), generator=g)
    return nn.functional.cross_entropy(net(x), y)


def test_the_sgd_part_steps_as_torch_sgd() -> None:
    ours, theirs = _net(), _net()
    settings = {"lr": 0.05, "momentum": 0.85, "nesterov": True, "weight_decay": 1e-3}
    others = [p for p in ours.parameters() if p.dim() < 4]
    muon = MuonSGD(others, **settings)
    sgd = torch.optim.SGD([p for p in theirs.parameters() if p.dim() < 4], **settings)
    for step in range(4):
        for net, opt in ((ours, muon), (theirs, sgd)):
            opt.zero_grad()
            _loss(net, step).backward()
            opt.step()
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_a_filter_step_is_its_definition() -> None:
    net = _net()
    conv = net[0]
    optimizer = MuonSGD(net.parameters(), lr=0.1, muon_lr=0.3, muon_momentum=0.5)
    assert [g["muon"] for g in optimizer.param_groups] == [False, True]
    before = conv.weight.detach().clone()
    grads = []
    for step in range(2):
        optimizer.zero_grad()
        _loss(net, step).backward()
        grads.append(conv.weight.grad.clone())
        optimizer.step()
    # By hand: buf1 = g1; buf2 = 0.5 * g1 + g2; Nesterov updates g + 0.5 * buf.
    w = before * (4**0.5 / before.norm())
    w = w - 0.3 * orthogonalize((grads[0] + 0.5 * grads[0]).reshape(4, -1)).view_as(w)
    w = w * (4**0.5 / w.norm())
    buf = 0.5 * grads[0] + grads[1]
    w = w - 0.3 * orthogonalize((grads[1] + 0.5 * buf).reshape(4, -1)).view_as(w)
    assert torch.allclose(conv.weight, w, atol=1e-5)


def test_it_resumes_from_its_state_dict() -> None:
    net = _net()
    optimizer = MuonSGD(net.parameters(), lr=0.1)
    for step in range(2):
        optimizer.zero_grad()
        _loss(net, step).backward()
        optimizer.step()
    twin = copy.deepcopy(net)
    resumed = MuonSGD(twin.parameters(), lr=0.1)
    resumed.load_state_dict(copy.deepcopy(optimizer.state_dict()))  # as from a file
    for net_, opt in ((net, optimizer), (twin, resumed)):
        opt.zero_grad()
        _loss(net_, 5).backward()
        opt.step()
    for a, b in zip(net.parameters(), twin.parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_recipe_names_it_and_a_schedule_scales_both_parts() -> None:
    assert "muon_sgd" in list_optimizers()
    recipe = get_recipe("airbench94", optimizer="muon_sgd",
                        optimizer_kwargs={"lr": 1.0, "muon_lr": 0.2, "momentum": 0.85})  # fmt: skip
    optimizer = recipe.build_optimizer(_net())
    assert {g["muon"] for g in optimizer.param_groups} == {True, False}
    scheduler = recipe.build_scheduler(optimizer, steps_per_epoch=10)
    assert scheduler is not None  # the warm-up starts both parts at 0.2x
    muon_rates = [g["lr"] for g in optimizer.param_groups if g["muon"]]
    others = [g["lr"] for g in optimizer.param_groups if not g["muon"]]
    assert muon_rates == [pytest.approx(0.2 * 0.2)]
    assert sorted(others) == [pytest.approx(0.2), pytest.approx(0.2 * 64)]
    with pytest.raises(ValueError, match="muon_lr"):
        get_recipe("as1", optimizer="muon_sgd", optimizer_kwargs={"lr": 0.1, "muon_lr": -1.0})


def _muon_groups(recipe: Recipe, net: nn.Module) -> tuple[dict, dict, dict]:
    """The filters' group, the head's and the one other (the BatchNorm biases')."""
    groups = recipe.build_optimizer(net).param_groups
    filters = [g for g in groups if g["muon"]]
    head_weight = net.get_classifier().weight
    head = [g for g in groups if any(p is head_weight for p in g["params"])]
    rest = [g for g in groups if not g["muon"] and all(g is not h for h in head)]
    assert (len(filters), len(head), len(rest)) == (1, 1, 1), groups
    return filters[0], head[0], rest[0]


@pytest.mark.parametrize(("name", "batch"), [("airbench94-muon", 2000), ("speedrun", 1024)])
def test_the_muon_speedrun_recipes_give_airbench94_muons_rates(name: str, batch: int) -> None:
    """airbench94_muon.py, on the loss summed over 2,000 images and logits scaled by
    1/256: the head at 0.67, the BatchNorm biases at 0.053, a decay of 2e-6 per image
    and step whatever the rate, the filters by Muon at 0.24.  The recipe states these on
    the mean loss with logits scaled by 1/9; at batch 1,024 the summed-loss rates, the
    decay per image and Muon's rate per step stay."""
    from resdepth.models import get_model

    recipe = get_recipe(name)
    assert (recipe.epochs, recipe.batch_size, recipe.lookahead_every) == (8, batch, None)
    net = get_model("airbench94", widths=[8, 8, 8])
    filters, head, norm_bias = _muon_groups(recipe, net)
    assert (filters["lr"], filters["momentum"]) == (0.24, 0.6)
    trained_filters = {id(p) for p in net.parameters() if p.dim() == 4 and p.requires_grad}
    assert {id(p) for p in filters["params"]} >= trained_filters
    # A rate on the summed loss is the mean loss's divided by the batch; a head whose
    # logits are scaled by c moves its function by rate * c^2 per unit of gradient.
    assert head["lr"] / batch * (net.logit_scale / (1 / 256)) ** 2 == pytest.approx(0.67)
    assert norm_bias["lr"] / batch == pytest.approx(0.053, rel=1e-3)
    for group in (head, norm_bias):  # coupled decay: rate x decay is the per-step shrink
        assert group["lr"] * group["weight_decay"] == pytest.approx(2e-6 * batch)


@pytest.mark.parametrize("name", ["airbench94-muon", "speedrun"])
def test_the_muon_speedrun_recipes_fit_a_batch(name: str) -> None:
    from resdepth.models import get_model

    torch.manual_seed(0)
    recipe = get_recipe(name)
    net = get_model("airbench94", widths=[8, 16, 16])
    x, y = torch.randn(64, 3, 32, 32), torch.randint(0, 10, (64,))
    net.whiten.init_from_data(x)
    optimizer = recipe.build_optimizer(net)
    losses = []
    for _ in range(8):
        loss = nn.functional.cross_entropy(net(x), y, label_smoothing=recipe.label_smoothing)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses
