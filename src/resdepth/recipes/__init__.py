"""Recipes: immutable, validated descriptions of how to train, with the paper's settings.

Registered: ``as1`` (SGD + cosine), ``as1-linear`` (SGD + true linear decay),
``as2`` (Adam + ReduceLROnPlateau), ``resnet40-ft`` (AS1 + RandomAffine + CutMix,
310 epochs), and ours, unmeasured: ``fast`` and ``cifar-strong`` (TrivialAugmentWide +
RandomErasing + label smoothing).  The optimizers, schedules,
augmentations and mixings a recipe names are registries of their own, so a recipe
can name a component you add.
"""

from .components import (
    Schedule,
    ScheduleLength,
    WarmupLinearDecay,
    list_augmentations,
    list_mixings,
    list_optimizers,
    list_schedules,
    register_augmentation,
    register_mixing,
    register_optimizer,
    register_schedule,
)
from .recipe import METRICS, Recipe, TransformSpec
from .registry import get_recipe, list_recipes, register_recipe

__all__ = [
    "METRICS",
    "Recipe",
    "Schedule",
    "ScheduleLength",
    "TransformSpec",
    "WarmupLinearDecay",
    "get_recipe",
    "list_augmentations",
    "list_mixings",
    "list_optimizers",
    "list_recipes",
    "list_schedules",
    "register_augmentation",
    "register_mixing",
    "register_optimizer",
    "register_recipe",
    "register_schedule",
]
