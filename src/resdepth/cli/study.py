"""``resdepth study``: train a family of shapes under one budget, and report them."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from ..errors import CommandError, ResumeMismatchError, RunFailed, RunInterrupted
from ..recipes import get_recipe
from ..study import StudyDir, plan_study, plot_study, run_study, study_report
from .common import build_loggers, describe_os_error, load_data, parse_device, user_input

__all__ = ["parse_shapes", "study_command"]

_LAYERS = re.compile(r"^\d+(,\d+)+$")


def parse_shapes(tokens: list[str]) -> list[str | int | tuple[int, ...]]:
    """``resnet40`` (a preset), ``26`` (a depth), ``5,7,4,3`` (blocks per stage), or
    ``preact:26`` / ``wide:16`` (another block family, kept as text)."""
    shapes: list[str | int | tuple[int, ...]] = []
    for token in tokens:
        if token.isdigit():
            shapes.append(int(token))
        elif _LAYERS.match(token):
            shapes.append(tuple(int(t) for t in token.split(",")))
        else:
            shapes.append(token)
    return shapes


def _shard(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)/(\d+)", text)
    if match is None or not int(match[1]) < int(match[2]):
        raise CommandError(f"--shard {text}: give I/N with 0 <= I < N, such as 0/4")
    return int(match[1]), int(match[2])


def _report(folder: Path) -> None:
    study = StudyDir(folder)
    with user_input(f"study report {folder}"):
        rows = study_report(folder)
    print(study.summary.read_text(), end="")
    if not rows:
        return
    try:
        plot_study(rows, path=study.figure)
    except ImportError:  # pragma: no cover - matplotlib missing
        print('(pip install "resdepth[plot]" for the figure)')
        return
    print(f"wrote {study.table}, {study.summary} and {study.figure}")


def study_command(args: argparse.Namespace) -> int:
    if args.action == "report":
        if args.folder is None:
            raise CommandError("study report: give the study's folder")
        _report(Path(args.folder))
        return 0
    if args.action is not None or args.folder is not None:
        raise CommandError("study: the only action is 'report FOLDER'")
    if args.out is None or args.data is None:
        raise CommandError("study: --data and --out are required (or: study report FOLDER)")
    shard = _shard(args.shard)
    # One MLflow run per shape (each shape's folder keeps its run id), in one experiment.
    loggers = build_loggers(args, Path(args.out), Path(args.out).resolve().name)
    device = parse_device(args.device)
    with user_input("--recipe"):
        recipe = get_recipe(args.recipe)
    seed = 0 if args.seed is None else args.seed
    train = load_data(args, True, args.subset, seed)
    test = load_data(args, False, args.subset, seed, train.classes)
    with user_input("--shapes / --budget / --max-macs"):
        plan = plan_study(parse_shapes(args.shapes), args.budget, args.base_widths,
                          args.max_macs, len(train.classes))  # fmt: skip
    settings = {"data": str(args.data), "subset": args.subset, "budget": args.budget,
                "max_macs": args.max_macs}  # fmt: skip
    try:
        run_study(args.out, plan, train, test, recipe=recipe, epochs=args.epochs,
                  shard=shard, seed=seed, device=device, settings=settings,
                  progress=not args.quiet, checkpoint_every=args.checkpoint_every,
                  callbacks=loggers)  # fmt: skip
    except ResumeMismatchError as err:
        raise CommandError(str(err)) from None
    except RunInterrupted as stopped:
        # A study resumes by running the same command again (it has no --resume).
        raise RunInterrupted(
            f"stopped by {stopped.signal_name} {stopped.where}; {stopped.held}: run the same "
            "command again to resume the study",
            stopped.signal, stopped.where, stopped.held,
        ) from None  # fmt: skip
    except OSError as err:
        raise RunFailed(f"the study stopped: {describe_os_error(err)}") from None
    _report(Path(args.out))
    return 0
