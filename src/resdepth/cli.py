"""The ``resdepth`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import torch

from .models import count_parameters, depth, get_model, get_model_builder, list_models, summary

__all__ = ["main", "build_parser"]


class CommandError(Exception):
    """A user error: printed as one line, exit status 2, no traceback."""


def _cmd_models(args: argparse.Namespace) -> int:
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


def _cmd_summary(args: argparse.Namespace) -> int:
    try:
        get_model_builder(args.name)
        net = get_model(args.name, num_classes=args.num_classes)
        print(summary(net, input_size=tuple(args.input_size)))
    except ValueError as err:
        raise CommandError(str(err)) from None
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``resdepth`` command."""
    parser = argparse.ArgumentParser(
        prog="resdepth", description="Residual networks for small images."
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"resdepth {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("models", help="list registered models with depth and parameters")
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern (default: *)")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("summary", help="print a layer-by-layer summary of a model")
    p.add_argument("name", help="a registered model name (see `resdepth models`)")
    p.add_argument("--input-size", type=int, nargs=3, default=(3, 32, 32), metavar=("C", "H", "W"))
    p.add_argument("--num-classes", type=int, default=10)
    p.set_defaults(func=_cmd_summary)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except CommandError as err:
        print(f"resdepth: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("resdepth: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
