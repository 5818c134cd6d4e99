"""Recipes: immutable, validated descriptions of how to train, with the paper's settings.

Registered: ``as1`` (SGD + cosine), ``as1-linear`` (SGD + true linear decay),
``as2`` (Adam + ReduceLROnPlateau), ``resnet40-ft`` (AS1 + RandomAffine + CutMix,
310 epochs), and ours: ``fast`` (short runs and time budgets; ``fast-v1`` and
``fast-v2``, its earlier versions), ``airbench94`` (the speedrun) and
``cifar-strong`` (TrivialAugmentWide + RandomErasing + label smoothing, no weight
decay on norms and biases: :func:`weight_decay_groups`).  :func:`recipe_measurements`
says what was measured of each, from the measurements file (:func:`load_measurements`).
The optimizers, schedules, augmentations and mixings a recipe names are registries of
their own, so a recipe can name a component you add; each kind has ``register_X``, ``unregister_X``,
``list_X`` and ``get_X``, as the recipes and the models do.
"""

from .components import (
    Schedule,
    ScheduleLength,
    WarmupLinearDecay,
    get_augmentation,
    get_mixing,
    get_optimizer,
    get_schedule,
    list_augmentations,
    list_mixings,
    list_optimizers,
    list_schedules,
    register_augmentation,
    register_mixing,
    register_optimizer,
    register_schedule,
    unregister_augmentation,
    unregister_mixing,
    unregister_optimizer,
    unregister_schedule,
)
from .measurements import (
    MEASUREMENTS_FILE,
    Machine,
    Measurement,
    Result,
    comparison_table,
    format_measurement,
    load_measurements,
    measurements_table,
)
from .muon import MuonSGD, orthogonalize
from .recipe import METRICS, Recipe, TransformSpec
from .registry import (
    get_recipe,
    list_recipes,
    recipe_measurements,
    register_recipe,
    unregister_recipe,
)
from .weight_decay import NORM_LAYERS, norm_bias_group, weight_decay_groups

__all__ = [
    "MEASUREMENTS_FILE",
    "Machine",
    "Measurement",
    "Result",
    "comparison_table",
    "format_measurement",
    "load_measurements",
    "measurements_table",
    "MuonSGD",
    "orthogonalize",
    "METRICS",
    "NORM_LAYERS",
    "Recipe",
    "Schedule",
    "ScheduleLength",
    "TransformSpec",
    "WarmupLinearDecay",
    "get_augmentation",
    "get_mixing",
    "get_optimizer",
    "get_recipe",
    "get_schedule",
    "list_augmentations",
    "list_mixings",
    "list_optimizers",
    "list_recipes",
    "list_schedules",
    "recipe_measurements",
    "register_augmentation",
    "register_mixing",
    "register_optimizer",
    "register_recipe",
    "register_schedule",
    "unregister_augmentation",
    "unregister_mixing",
    "unregister_optimizer",
    "unregister_recipe",
    "unregister_schedule",
    "norm_bias_group",
    "weight_decay_groups",
]
