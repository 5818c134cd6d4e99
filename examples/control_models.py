"""The paper's Table 1: ResNet10, ResNet40 and ResNet102 trained under AS1 (or AS2).

    python examples/control_models.py --data cifar10 --out runs/table1
    python examples/control_models.py --data cifar10-jpeg.tar.gz --recipe as2
    python examples/control_models.py --data cifar10-jpeg.tar.gz --smoke

Writes each run's history.csv and checkpoints under --out, and table1.md with the best
and final test accuracy beside the paper's numbers.
"""

from __future__ import annotations

import math
from pathlib import Path

from _shared import load_splits, markdown_table, parser, train_model

#: Table 1 of the paper: maximum test accuracy (%) under AS1, 200 epochs.
PAPER_TABLE1 = {"resnet10": 94.41, "resnet40": 95.20, "resnet102": 94.23}


def main() -> None:
    p = parser(__doc__.splitlines()[0], "runs/control_models")
    p.add_argument("--recipe", default="as1", choices=("as1", "as2", "as1-linear"))
    p.add_argument("--models", nargs="+", default=list(PAPER_TABLE1))
    args = p.parse_args()
    train, test = load_splits(args)
    rows = []
    for name in args.models:
        history, params = train_model(name, args.recipe, args, train, test)
        best = history.best()
        final = history[-1]["test_accuracy"]
        paper = PAPER_TABLE1.get(name, math.nan) if args.recipe == "as1" else math.nan
        rows.append([name, f"{params:,}", f"{paper:.2f}" if paper == paper else "-",
                     f"{best['test_accuracy']:.2f} (epoch {best['epoch']})" if best else "-",
                     f"{final:.2f}", len(history)])  # fmt: skip
    table = markdown_table(
        ["model", "parameters", "paper best test acc (%)", "ours best (%)", "ours final (%)",
         "epochs"], rows,
    )  # fmt: skip
    note = f"\nData: {train.name} / {test.name}; recipe {args.recipe}.\n"
    if args.smoke:
        note += (
            "Smoke run (small subset, one epoch): a check that the script works, not a result.\n"
        )
    out = Path(args.out) / "table1.md"
    out.write_text(table + note)
    print(table + note + f"wrote {out}")


if __name__ == "__main__":
    main()
