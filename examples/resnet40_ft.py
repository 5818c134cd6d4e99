"""The paper's Table 2: ResNet40-FT, AS1 for 310 epochs with RandomAffine and CutMix.

    python examples/resnet40_ft.py --data cifar10 --out runs/resnet40-ft
    python examples/resnet40_ft.py --data cifar10-jpeg.tar.gz --smoke

Writes the run under --out and table2.md beside the paper's 96.01%.
"""

from __future__ import annotations

from pathlib import Path

from _shared import load_splits, parse, parser, result_row, train_model, write_report

PAPER_RESNET40_FT = 96.01


def main() -> None:
    args = parse(parser(__doc__.splitlines()[0], "runs/resnet40_ft"))
    train, test = load_splits(args)
    history, params = train_model("resnet40", "resnet40-ft", args, train, test)
    row = result_row("ResNet40-FT", history, params, PAPER_RESNET40_FT)
    note = f"Data: {train.name} / {test.name}; recipe resnet40-ft."
    write_report(Path(args.out) / "table2.md", [row], note, args.smoke)


if __name__ == "__main__":
    main()
