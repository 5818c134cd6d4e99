from __future__ import annotations

import dataclasses
import io
import math
import re

import pytest
import torch
from torch import nn

from resdepth import transforms as T
from resdepth.recipes import (
    METRICS,
    Recipe,
    WarmupLinearDecay,
    get_augmentation,
    get_recipe,
    list_augmentations,
    list_mixings,
    list_optimizers,
    list_recipes,
    list_schedules,
    register_optimizer,
    register_recipe,
    unregister_optimizer,
    unregister_recipe,
)


def _model() -> nn.Module:
    return nn.Linear(4, 3)


def _rates(recipe: Recipe, steps: int, steps_per_epoch: int = 1) -> list[float]:
    """The learning rate before each of ``steps`` scheduler steps."""
    opt = recipe.build_optimizer(_model())
    sched = recipe.build_scheduler(opt, steps_per_epoch=steps_per_epoch)
    rates = []
    for _ in range(steps):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return rates


def test_registered_names() -> None:
    names = {"as1", "as1-linear", "as2", "resnet40-ft", "fast", "fast-v1", "fast-v2"}
    names |= {"cifar-strong", "airbench94"}
    assert names <= set(list_recipes())


def test_cifar_strong_builds_its_augmentation_and_smoothing() -> None:
    import torch

    from resdepth import transforms as T

    recipe = get_recipe("cifar-strong")
    steps = list(recipe.build_train_transform().transforms)
    kinds = [type(step) for step in steps]
    assert kinds == [
        T.ToFloat, T.RandomHorizontalFlip, T.RandomCrop, T.TrivialAugmentWide,
        T.RandomErasing, T.Normalize,
    ]  # fmt: skip
    assert recipe.label_smoothing == 0.1 and "ours" in recipe.source
    x = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    assert recipe.build_train_transform()(x).dtype == torch.float32


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
    rates = _rates(get_recipe("as1", epochs=epochs), steps=epochs)
    expected = [0.05 * (1 + math.cos(math.pi * e / epochs)) for e in range(epochs)]
    assert rates == pytest.approx(expected, abs=1e-9)


def test_as1_linear_decays_to_zero() -> None:
    r = get_recipe("as1-linear", epochs=4)
    rates = _rates(r, steps=5)
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


def test_fast_v1_recipe_warms_up_per_batch() -> None:
    r = get_recipe("fast-v1", epochs=3)
    opt = r.build_optimizer(_model())
    assert opt.param_groups[0]["nesterov"] is True
    rates = _rates(r, steps=30, steps_per_epoch=10)
    assert rates[0] == pytest.approx(0.04) and max(rates) == pytest.approx(0.4)
    assert rates.index(max(rates)) == 20 and rates[-1] == pytest.approx(0.04)
    assert "ours" in r.source and r.label_smoothing == 0.1


def test_fast_warms_up_within_the_first_epoch_so_a_two_epoch_run_decays() -> None:
    r = get_recipe("fast", epochs=2)
    rates = _rates(r, steps=20, steps_per_epoch=10)
    peak = r.lr
    assert rates[0] == pytest.approx(0.1 * peak) and max(rates) == pytest.approx(peak)
    assert rates.index(peak) == 5 and rates[-1] < 0.1 * peak
    assert r.lookahead_every and r.alternating_flip and r.test_views == "flip_shift"
    assert r.clip_grad_norm is not None and r.eval_every > 1
    old = get_recipe("fast-v1")  # version 1 as it was, so its figures can be reproduced
    assert (old.lr, old.batch_size, old.ema_decay, old.eval_every) == (0.4, 512, None, 1)
    v2 = get_recipe("fast-v2")  # version 2 as it was
    assert (v2.lr, v2.batch_size, v2.ema_decay, v2.eval_every) == (0.2, 256, 0.99, 5)
    assert v2.lookahead_every is None and not v2.alternating_flip and v2.test_views is None
    assert [name for name, _ in v2.augment] == ["RandomHorizontalFlip", "RandomCrop"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ema_decay": 1.0}, "ema_decay"),
        ({"ema_decay": -0.1}, "ema_decay"),
        ({"clip_grad_norm": 0}, "clip_grad_norm"),
        ({"clip_grad_norm": float("nan")}, "clip_grad_norm"),
        ({"eval_every": 0}, "eval_every"),
    ],
)
def test_bad_averaging_clipping_and_evaluation_settings_name_the_field(
    overrides: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        get_recipe("as1", **overrides)


def test_a_plateau_on_test_accuracy_needs_an_evaluation_every_epoch() -> None:
    with pytest.raises(ValueError, match="eval_every must be 1"):
        get_recipe("as2", eval_every=2)
    assert get_recipe("as2", monitor="train_loss", eval_every=2).eval_every == 2


def test_new_fields_stay_out_of_the_stored_form_while_off() -> None:
    """Checkpoints written before these fields existed hold recipes without them."""
    plain = get_recipe("as1").to_dict()
    assert not {"ema_decay", "clip_grad_norm", "eval_every"} & set(plain)
    assert Recipe.from_dict(plain) == get_recipe("as1")
    on = get_recipe("as1", ema_decay=0.9, clip_grad_norm=1.0, eval_every=3)
    stored = on.to_dict()
    assert (stored["ema_decay"], stored["clip_grad_norm"], stored["eval_every"]) == (0.9, 1.0, 3)
    assert Recipe.from_dict(stored) == on
    assert "ema_decay 0.9" in on.summary() and "ema_decay" not in get_recipe("as1").summary()


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
        unregister_recipe("_test_short", missing_ok=True)
    assert "_test_short" not in list_recipes()


def test_recipes_are_values_that_no_caller_can_change() -> None:
    as1 = get_recipe("as1")
    with pytest.raises(TypeError):
        as1.optimizer_kwargs["lr"] = 5  # type: ignore[index]
    with pytest.raises(TypeError):
        as1.augment[1][1]["padding"] = 40  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        as1.epochs = 3  # type: ignore[misc]
    # A mutable mapping handed in is copied, not kept.
    kwargs = {"lr": 0.1, "momentum": 0.9}
    recipe = Recipe(name="x", optimizer="sgd", optimizer_kwargs=kwargs, scheduler="constant")
    kwargs["lr"] = 9.0
    assert recipe.lr == 0.1
    for name in list_recipes():
        crop = next(kwargs for aug, kwargs in get_recipe(name).augment if aug == "RandomCrop")
        assert crop["padding"] == (
            2 if name in {"airbench94", "airbench94-muon", "fast", "speedrun"} else 4
        )
    assert get_recipe("as1").lr == 0.1


def test_changing_a_component_starts_from_its_defaults() -> None:
    adam = get_recipe("as1", optimizer="adam")
    assert dict(adam.optimizer_kwargs) == {"lr": 0.1}
    assert isinstance(adam.build_optimizer(_model()), torch.optim.Adam)
    assert dict(get_recipe("as1", optimizer="adam", weight_decay=0.01).optimizer_kwargs) == {
        "lr": 0.1, "weight_decay": 0.01,
    }  # fmt: skip
    cosine = get_recipe("as2", scheduler="cosine", monitor=None)
    assert dict(cosine.scheduler_kwargs) == {}
    assert dict(get_recipe("resnet40-ft", mixing="mixup").mixing_kwargs) == {}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"optimizer": "adam", "momentum": 0.9}, "'momentum', which adam"),
        ({"monitor": "test_acc"}, "monitor must be one of"),
        ({"lr": math.inf}, "finite, positive lr"),
        ({"lr": -0.1}, "finite, positive lr"),
        ({"lr": math.nan}, "finite, positive lr"),
        ({"momentum": -1.0}, "optimizer_kwargs: Invalid momentum"),
        ({"scheduler_kwargs": {"T_max": 5}}, "'T_max', which the 'cosine' schedule"),
        ({"augment": (("RandomCrop", {"size": None, "paddin": 4}),)}, "'paddin', which RandomCrop"),
        ({"augment": (("RandomCrop", {"size": None, "padding": -1}),)}, "padding must be"),
        ({"mixing": "cutmix", "mixing_kwargs": {"alph": 1.0}}, "'alph', which cutmix"),
        ({"mixing": "cutmix", "mixing_kwargs": {"num_classes": 3}}, "'num_classes'"),
        ({"mixing_kwargs": {"alpha": 1.0}}, "mixing_kwargs given without mixing"),
        ({"scheduler": "cosine", "scheduler_interval": "step"}, "scheduler_interval"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
        ({"std": (0.2, 0.0, 0.2)}, "std finite and positive"),
    ],
)
def test_a_recipe_is_checked_when_it_is_made(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        get_recipe("as1", **overrides)


def test_a_warm_up_longer_than_the_run_is_refused() -> None:
    with pytest.raises(ValueError, match="warm-up"):
        get_recipe("fast-v1", epochs=2)
    with pytest.raises(ValueError, match="warm-up"):
        WarmupLinearDecay(10, 10)
    rates = _rates(get_recipe("fast-v1", epochs=3), steps=12, steps_per_epoch=4)
    assert max(rates) == pytest.approx(0.4) and rates[-1] == pytest.approx(0.1)  # decays


def test_to_dict_and_from_dict_round_trip() -> None:
    for name in list_recipes():
        recipe = get_recipe(name)
        data = recipe.to_dict()
        assert Recipe.from_dict(data) == recipe
        # Only plain containers: what torch.load(weights_only=True) reads back.
        buffer = io.BytesIO()
        torch.save(data, buffer)
        buffer.seek(0)
        assert torch.load(buffer, weights_only=True) == data
    with pytest.raises(ValueError, match="unknown recipe field"):
        Recipe.from_dict({**get_recipe("as1").to_dict(), "speed": 3})


def test_components_are_registries_users_can_extend() -> None:
    assert {"sgd", "adam", "adamw"} <= set(list_optimizers())
    assert {"cosine", "linear", "plateau", "warmup_linear", "constant"} <= set(list_schedules())
    assert {"RandomCrop", "RandomHorizontalFlip", "RandomAffine"} <= set(list_augmentations())
    assert {"cutmix", "mixup"} <= set(list_mixings())
    with pytest.raises(ValueError, match="already registered"):
        register_optimizer("sgd", torch.optim.SGD)
    with pytest.raises(TypeError, match="Optimizer subclass"):
        register_optimizer("_test_not_an_optimizer", dict)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="did you mean 'sgd'"):
        get_recipe("as1", optimizer="sgdd")
    name = "_test_rmsprop"
    try:
        register_optimizer(name, torch.optim.RMSprop)
        recipe = get_recipe("as1", optimizer=name, optimizer_kwargs={"lr": 0.01, "alpha": 0.9})
        assert isinstance(recipe.build_optimizer(_model()), torch.optim.RMSprop)
    finally:
        unregister_optimizer(name, missing_ok=True)
    assert name not in list_optimizers()


def test_every_component_kind_has_the_same_verbs() -> None:
    from resdepth import recipes

    def exponential(optimizer, length, gamma=0.9):  # noqa: ANN001, ANN202
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=gamma)

    entries = {
        "optimizer": torch.optim.RMSprop,
        "schedule": exponential,
        "augmentation": T.RandomInvert,
        "mixing": T.MixUp,
    }
    for kind, entry in entries.items():
        register = getattr(recipes, f"register_{kind}")
        unregister = getattr(recipes, f"unregister_{kind}")
        get = getattr(recipes, f"get_{kind}")
        listed = getattr(recipes, "list_" + ("mixings" if kind == "mixing" else f"{kind}s"))
        register("_test_entry", entry)
        assert listed(["_test_*", "no-such-*"]) == ["_test_entry"]
        got = get("_test_entry")
        assert (got.build if kind == "schedule" else got) is entry
        assert unregister("_test_entry") is got
        assert listed("_test_*") == [] and unregister("_test_entry", missing_ok=True) is None
        with pytest.raises(ValueError, match=f"unknown {kind} '_test_entry'"):
            unregister("_test_entry")
        register("_test_entry", entry)  # the name is free again
        unregister("_test_entry")


def test_unregister_recipe_and_list_several_patterns() -> None:
    assert list_recipes(["as2", "fast*"]) == ["as2", "fast", "fast-v1", "fast-v2"]
    register_recipe(get_recipe("as1", epochs=4), name="_test_again")
    assert unregister_recipe("_test_again").epochs == 4
    register_recipe(get_recipe("as1", epochs=5), name="_test_again")
    assert get_recipe("_test_again").epochs == 5
    assert unregister_recipe("_test_again").epochs == 5
    assert unregister_recipe("_test_again", missing_ok=True) is None
    with pytest.raises(ValueError, match="did you mean .*'as1'"):
        unregister_recipe("as3")
    assert "as1" in list_recipes()


def test_the_monitorable_metrics_are_history_columns() -> None:
    from resdepth.artifacts import COLUMNS

    assert set(METRICS) <= set(COLUMNS)


def test_every_registered_recipe_builds_its_optimizer_and_schedule() -> None:
    """The built-in recipes skip the dry build at import (it would import torch._dynamo);
    this builds each, so a bad value in one still fails."""
    for name in list_recipes():
        recipe = get_recipe(name)
        optimizer = recipe.build_optimizer(_model())
        recipe.build_scheduler(optimizer, 10)
    with pytest.raises(ValueError, match="momentum"):
        get_recipe("as1", momentum=-1.0)  # a recipe made after import is still dry-built


@pytest.mark.parametrize(
    ("lookup", "name", "suggested"),
    [
        (get_recipe, "asl", "did you mean 'as1', 'as2'"),
        (get_recipe, "fats", "did you mean 'fast'"),
        (get_augmentation, "RandomCorp", "did you mean 'RandomCrop'"),
    ],
)
def test_unknown_names_suggest_the_nearest_by_edits_ties_alphabetically(
    lookup: object, name: str, suggested: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(suggested)):
        lookup(name)  # type: ignore[operator]
