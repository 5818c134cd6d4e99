from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from resdepth import transforms as T
from resdepth.recipes import Recipe, get_recipe, list_recipes, register_recipe
from resdepth.recipes.registry import _RECIPES


def _model() -> nn.Module:
    return nn.Linear(4, 3)


def test_registered_names() -> None:
    assert {"as1", "as1-linear", "as2", "resnet40-ft", "fast"} <= set(list_recipes())


def test_as1_builds_the_papers_hyperparameters() -> None:
    r = get_recipe("as1")
    opt = r.build_optimizer(_model())
    assert isinstance(opt, torch.optim.SGD)
    group = opt.param_groups[0]
    assert (group["lr"], group["momentum"], group["weight_decay"]) == (0.1, 0.9, 5e-4)
    sched = r.build_scheduler(opt, steps_per_epoch=391)
    assert isinstance(sched, torch.optim.lr_scheduler.CosineAnnealingLR)
    assert sched.T_max == 200 and sched.eta_min == 0
    assert (r.epochs, r.batch_size, r.test_batch_size, r.scheduler_interval) == (
        200,
        128,
        100,
        "epoch",
    )
    assert [name for name, _ in r.augment] == ["RandomHorizontalFlip", "RandomCrop"]
    assert r.mixing is None


@pytest.mark.parametrize("epochs", [5, 12])
def test_as1_learning_rates_follow_the_cosine(epochs: int) -> None:
    r = get_recipe("as1", epochs=epochs)
    opt = r.build_optimizer(_model())
    sched = r.build_scheduler(opt)
    rates = []
    for _ in range(epochs):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    expected = [0.05 * (1 + math.cos(math.pi * e / epochs)) for e in range(epochs)]
    assert rates == pytest.approx(expected, abs=1e-9)


def test_as1_linear_decays_to_zero() -> None:
    r = get_recipe("as1-linear", epochs=4)
    opt = r.build_optimizer(_model())
    sched = r.build_scheduler(opt)
    rates = []
    for _ in range(5):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert rates == pytest.approx([0.1, 0.075, 0.05, 0.025, 0.0], abs=1e-9)
    assert "LinAnnealLR" in r.source


def test_as2_builds_adam_and_plateau_that_lowers_the_rate() -> None:
    r = get_recipe("as2")
    opt = r.build_optimizer(_model())
    assert isinstance(opt, torch.optim.Adam)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[0]["weight_decay"] == 1e-4
    sched = r.build_scheduler(opt)
    assert isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau)
    assert (sched.mode, sched.factor, sched.patience) == ("max", 0.5, 5)
    assert r.monitor == "test_accuracy" and r.epochs == 200
    for _ in range(7):  # the metric never improves after the first epoch
        sched.step(0.5)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)


def test_resnet40_ft_adds_affine_and_cutmix() -> None:
    r = get_recipe("resnet40-ft")
    assert r.epochs == 310
    sched = r.build_scheduler(r.build_optimizer(_model()))
    assert sched.T_max == 310
    pipeline = r.build_train_transform()
    kinds = [type(t).__name__ for t in pipeline]
    assert kinds == ["ToFloat", "RandomHorizontalFlip", "RandomCrop", "RandomAffine", "Normalize"]
    affine = pipeline.transforms[3]
    assert affine.degrees == (-10.0, 10.0) and affine.translate == (0.1, 0.1)
    assert affine.scale == (0.9, 1.1) and affine.shear == (-10.0, 10.0)
    mix = r.build_mixing(num_classes=10)
    assert isinstance(mix, T.CutMix) and (mix.alpha, mix.p, mix.mode) == (1.0, 0.5, "batch")


def test_fast_recipe_warms_up_per_batch() -> None:
    r = get_recipe("fast", epochs=3)
    opt = r.build_optimizer(_model())
    assert opt.param_groups[0]["nesterov"] is True
    sched = r.build_scheduler(opt, steps_per_epoch=10)
    rates = []
    for _ in range(30):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert rates[0] == pytest.approx(0.04) and max(rates) == pytest.approx(0.4)
    assert rates.index(max(rates)) == 20 and rates[-1] == pytest.approx(0.04)
    assert "ours" in r.source and r.label_smoothing == 0.1


def test_overrides_rebuild_what_depends_on_them() -> None:
    r = get_recipe("as1", epochs=30, lr=0.05, batch_size=256)
    assert r.build_scheduler(r.build_optimizer(_model())).T_max == 30
    assert r.lr == 0.05 and r.optimizer_kwargs["momentum"] == 0.9 and r.batch_size == 256
    assert get_recipe("as1").epochs == 200  # the registered recipe is unchanged
    per_batch = get_recipe("as1", scheduler_interval="batch", epochs=2)
    assert per_batch.build_scheduler(per_batch.build_optimizer(_model()), 50).T_max == 100


def test_errors() -> None:
    with pytest.raises(ValueError, match="did you mean .*'as1'"):
        get_recipe("as3")
    with pytest.raises(ValueError, match="epoch"):
        get_recipe("as1", epoch=3)
    with pytest.raises(ValueError, match="already registered"):
        register_recipe(get_recipe("as1"))
    with pytest.raises(ValueError, match="epochs"):
        get_recipe("as1", epochs=0)
    with pytest.raises(ValueError, match="optimizer"):
        get_recipe("as1", optimizer="lion")
    with pytest.raises(ValueError, match="monitor"):
        Recipe(name="x", optimizer="sgd", optimizer_kwargs={"lr": 0.1}, scheduler="plateau")
    with pytest.raises(ValueError, match="augment"):
        get_recipe("as1", augment=(("Solarize", {}),))


def test_register_a_custom_recipe() -> None:
    try:
        register_recipe(get_recipe("as1", epochs=3), name="_test_short")
        assert get_recipe("_test_short").epochs == 3
        assert get_recipe("_test_short").name == "_test_short"
    finally:
        _RECIPES._entries.pop("_test_short", None)
