"""The paper's Table 2: ResNet40-FT, AS1 for 310 epochs with RandomAffine and CutMix.

    python examples/resnet40_ft.py --data cifar10 --out runs/resnet40-ft
    python examples/resnet40_ft.py --data cifar10-jpeg.tar.gz --smoke

Writes the run under --out and table2.md beside the paper's 96.01%.
"""

from __future__ import annotations

from pathlib import Path

from _shared import load_splits, markdown_table, parser, train_model

PAPER_RESNET40_FT = 96.01


def main() -> None:
    args = parser(__doc__.splitlines()[0], "runs/resnet40_ft").parse_args()
    train, test = load_splits(args)
    history, params = train_model("resnet40", "resnet40-ft", args, train, test)
    best = history.best()
    assert best is not None
    table = markdown_table(
        ["model", "parameters", "paper best test acc (%)", "ours best (%)", "ours final (%)",
         "epochs"],
        [["ResNet40-FT", f"{params:,}", f"{PAPER_RESNET40_FT:.2f}",
          f"{best['test_accuracy']:.2f} (epoch {best['epoch']})",
          f"{history[-1]['test_accuracy']:.2f}", len(history)]],
    )  # fmt: skip
    note = f"\nData: {train.name} / {test.name}.\n"
    if args.smoke:
        note += (
            "Smoke run (small subset, one epoch): a check that the script works, not a result.\n"
        )
    out = Path(args.out) / "table2.md"
    out.write_text(table + note)
    print(table + note + f"wrote {out}")


if __name__ == "__main__":
    main()
