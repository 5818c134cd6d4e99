"""The paper's Table 1: ResNet10, ResNet40 and ResNet102 trained under AS1 (or AS2).

    python examples/control_models.py --data cifar10 --out runs/table1
    python examples/control_models.py --data cifar10-jpeg.tar.gz --recipe as2
    python examples/control_models.py --data cifar10-jpeg.tar.gz --smoke

Writes each run's history.csv and checkpoints under --out, and table1.md with the best
and final test accuracy beside the paper's numbers.
"""

from __future__ import annotations

from pathlib import Path

from _shared import load_splits, parse, parser, result_row, train_model, write_report

#: Table 1 of the paper: maximum test accuracy (%) under AS1, 200 epochs.
PAPER_TABLE1 = {"resnet10": 94.41, "resnet40": 95.20, "resnet102": 94.23}


def main() -> None:
    p = parser(__doc__.splitlines()[0], "runs/control_models")
    p.add_argument("--recipe", default="as1", choices=("as1", "as2", "as1-linear"))
    p.add_argument("--models", nargs="+", default=list(PAPER_TABLE1))
    args = parse(p)
    train, test = load_splits(args)
    rows = []
    for name in args.models:
        history, params = train_model(name, args.recipe, args, train, test)
        paper = PAPER_TABLE1.get(name) if args.recipe == "as1" else None
        rows.append(result_row(name, history, params, paper))
    note = f"Data: {train.name} / {test.name}; recipe {args.recipe}."
    write_report(Path(args.out) / "table1.md", rows, note, args.smoke)


if __name__ == "__main__":
    main()
