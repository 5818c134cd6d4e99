"""Recipes: frozen descriptions of how to train, with the paper's settings registered.

Registered: ``as1`` (SGD + cosine), ``as1-linear`` (SGD + true linear decay),
``as2`` (Adam + ReduceLROnPlateau), ``resnet40-ft`` (AS1 + RandomAffine + CutMix,
310 epochs) and ``fast`` (ours, unmeasured).
"""

from .recipe import Recipe, TransformSpec, WarmupLinearDecay
from .registry import get_recipe, list_recipes, register_recipe

__all__ = [
    "Recipe",
    "TransformSpec",
    "WarmupLinearDecay",
    "get_recipe",
    "list_recipes",
    "register_recipe",
]
