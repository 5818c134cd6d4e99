"""Depth against width under 5M parameters: the paper's three networks and evenly spread
depths from 10 to 102, trained side by side with one recipe (``resdepth study``).

    python examples/budget_search.py --data cifar10 --out runs/budget --epochs 200
    python examples/budget_search.py --data cifar10 --shard 0/4      # one of four machines
    python examples/budget_search.py --data cifar10-jpeg.tar.gz --smoke

Each shape is fitted to the budget with fit_widths (the paper's three are its presets,
as they are), trained into --out/<shape>/, and study.csv, study.md and study.png
report them.  Running it again skips finished shapes and resumes an interrupted one.
"""

from __future__ import annotations

from pathlib import Path

from _shared import SMOKE, load_splits, parse, parser

from resdepth.recipes import get_recipe
from resdepth.study import plan_study, plot_study, run_study

PAPER = ["resnet10", "resnet40", "resnet102"]
DEPTHS = [10, 22, 34, 50, 62, 74, 86, 102]
SMOKE_DEPTHS = [10, 26, 50]


def main() -> None:
    p = parser(__doc__.splitlines()[0], "runs/budget")
    p.add_argument("--recipe", default="as1")
    p.add_argument("--budget", type=int, default=5_000_000)
    p.add_argument("--shard", default="0/1", help="I/N: train every N-th shape from the I-th")
    args = parse(p)
    index, count = (int(v) for v in args.shard.split("/"))
    train, test = load_splits(args)
    recipe = get_recipe(args.recipe, **({"batch_size": SMOKE["batch_size"]} if args.smoke else {}))
    epochs = SMOKE["epochs"] if args.smoke else args.epochs
    plan = plan_study(PAPER + (SMOKE_DEPTHS if args.smoke else DEPTHS), args.budget,
                      num_classes=len(train.classes))  # fmt: skip
    print(
        f"{len(plan)} shapes under {args.budget:,} parameters on {train.name}; shard {args.shard}"
    )
    rows = run_study(args.out, plan, train, test, recipe=recipe, epochs=epochs,
                     shard=(index, count), device=args.device,
                     settings={"data": str(args.data), "smoke": args.smoke})  # fmt: skip
    print((Path(args.out) / "study.md").read_text())
    if rows:
        plot_study(rows, path=Path(args.out) / "study.png")
        print(f"wrote {Path(args.out) / 'study.png'}")


if __name__ == "__main__":
    main()
