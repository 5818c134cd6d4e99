"""Each transform's apply traces into a single graph (no graph breaks) under torch.compile."""

from __future__ import annotations

import pytest
import torch

from resdepth import transforms as T

CASES = {
    "RandomHorizontalFlip": T.RandomHorizontalFlip(),
    "RandomCrop": T.RandomCrop(32, padding=4),
    "RandomAffine": T.RandomAffine(10, (0.1, 0.1), (0.9, 1.1), 10),
    "ToFloat": T.ToFloat(),
    "Normalize": T.Normalize(T.CIFAR10_MEAN, T.CIFAR10_STD),
    "Compose": T.Compose(
        [T.RandomHorizontalFlip(), T.RandomCrop(32, padding=4), T.RandomAffine(10)]
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_apply_has_no_graph_breaks(name: str) -> None:
    t = CASES[name]
    x = torch.rand(4, 3, 32, 32)
    params = t.generate_parameters(x.shape)
    explanation = torch._dynamo.explain(t.apply_transform)(x, params)
    assert explanation.graph_break_count == 0, explanation.break_reasons


@pytest.mark.parametrize("mix", [T.CutMix(num_classes=10), T.MixUp(num_classes=10)])
def test_mixing_apply_has_no_graph_breaks(mix: T.CutMix | T.MixUp) -> None:
    x, y = torch.rand(4, 3, 32, 32), torch.randint(0, 10, (4,))
    params = mix.generate_parameters(x.shape)
    explanation = torch._dynamo.explain(mix.apply_transform)(x, y, params)
    assert explanation.graph_break_count == 0, explanation.break_reasons


def test_compiled_apply_matches_eager() -> None:
    from resdepth.recipes import get_recipe

    recipe = get_recipe("resnet40-ft")
    eager, compiled = recipe.build_train_transform(), recipe.build_train_transform(compile=True)
    x = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    params = eager.generate_parameters(x.shape)
    torch.testing.assert_close(
        compiled(x, params=params), eager(x, params=params), atol=1e-4, rtol=0
    )
    mix = recipe.build_mixing(10, compile=True)
    plain = recipe.build_mixing(10)
    assert mix is not None and plain is not None
    xf, y = eager(x, params=params), torch.randint(0, 10, (16,))
    mix_params = plain.generate_parameters(xf.shape)
    for a, b in zip(mix(xf, y, params=mix_params), plain(xf, y, params=mix_params), strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize(
    "make",
    [T.TrivialAugmentWide, T.AutoAugment, lambda: T.ColorJitter(0.4, 0.4, 0.4, 0.1)],
)
def test_per_sample_choice_by_masks_has_no_graph_breaks(make) -> None:  # noqa: ANN001
    # Masks are the GPU path: static shapes, one graph.  (On a CPU the index groups
    # run eagerly, outside the graph, on purpose.)
    t = make()
    x = torch.rand(4, 3, 16, 16)
    params = t.generate_parameters(x.shape)
    with T.per_sample_strategy("masks"):
        explanation = torch._dynamo.explain(t.apply_transform)(x, params)
    assert explanation.graph_break_count == 0, explanation.break_reasons


def test_compiled_strong_recipe_matches_eager() -> None:
    from resdepth.recipes import get_recipe

    recipe = get_recipe("cifar-strong")
    eager, compiled = recipe.build_train_transform(), recipe.build_train_transform(compile=True)
    x = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    params = eager.generate_parameters(x.shape, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(
        compiled(x, params=params), eager(x, params=params), atol=1e-4, rtol=0
    )
