"""``resdepth models``, ``summary`` and ``recipes``: what the registries hold."""

from __future__ import annotations

import argparse

import torch

from ..errors import CommandError
from ..models import count_parameters, depth, get_model, list_models, summary
from ..recipes import get_recipe, list_recipes, recipe_measurements

__all__ = ["models_command", "recipes_command", "summary_command"]


def models_command(args: argparse.Namespace) -> int:
    names = list_models(args.pattern)
    if not names:
        raise CommandError(f"no model matches {args.pattern!r}")
    rows = []
    for name in names:
        # The meta device sizes a network without allocating or initialising weights.
        with torch.device("meta"):
            net = get_model(name)
        rows.append((name, depth(net), count_parameters(net)))
    width = max(len(r[0]) for r in rows)
    print(f"{'model':<{width}}  {'depth':>5}  {'parameters':>12}")
    for name, d, n in rows:
        print(f"{name:<{width}}  {d:>5}  {n:>12,}")
    return 0


def summary_command(args: argparse.Namespace) -> int:
    try:
        net = get_model(args.name, num_classes=args.num_classes)
        table = summary(net, input_size=tuple(args.input_size))
    except ValueError as err:
        raise CommandError(str(err)) from None
    print(table)
    return 0


def recipes_command(args: argparse.Namespace) -> int:
    names = list_recipes(args.pattern)
    if not names:
        raise CommandError(f"no recipe matches {args.pattern!r}")
    width = max(map(len, names))
    for name in names:
        r = get_recipe(name)
        print(f"{name:<{width}}  {r.description}")
        if args.verbose:
            print(f"{'':<{width}}  {r.summary()}\n{'':<{width}}  source: {r.source}")
            for line in recipe_measurements(name):
                print(f"{'':<{width}}  measured: {line}")
            if not recipe_measurements(name):
                print(f"{'':<{width}}  unmeasured")
    return 0
