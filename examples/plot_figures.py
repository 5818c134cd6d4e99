"""The paper's Figures 1 to 7 from history CSVs, ours beside the paper's own logs.

    python examples/plot_figures.py --runs runs/control_models --paper-dir paper/experiments
    python examples/plot_figures.py --data cifar10-jpeg.tar.gz --smoke   # trains a tiny run first

Looks for our runs as RUNS/<model>-<recipe>/history.csv (what control_models.py and
resnet40_ft.py write) and draws each figure with the paper's run dashed beside it.
"""

from __future__ import annotations

from pathlib import Path

from _shared import load_splits, parse, parser, train_model

from resdepth.study import plot_history

# figure: (our run folder, the paper's experiment folder, metric, title)
FIGURES = {
    1: (
        "resnet40-as2",
        "experiment_v5",
        "accuracy",
        "Figure 1: ResNet40, Adam + ReduceLROnPlateau (AS2)",
    ),
    2: ("resnet40-as1", "experiment_v3", "accuracy", "Figure 2: ResNet40, SGD + cosine (AS1)"),
    3: ("resnet10-as1", "experiment_v1", "accuracy", "Figure 3: ResNet10 (AS1)"),
    4: ("resnet40-as1", "experiment_v3", "accuracy", "Figure 4: ResNet40 (AS1)"),
    5: ("resnet102-as1", "experiment_v6", "accuracy", "Figure 5: ResNet102 (AS1)"),
    6: ("resnet40-resnet40-ft", "experiment_v7", "loss", "Figure 6: ResNet40-FT, loss"),
    7: ("resnet40-resnet40-ft", "experiment_v7", "accuracy", "Figure 7: ResNet40-FT, accuracy"),
}


def main() -> None:
    p = parser(__doc__.splitlines()[0], "runs/figures")
    p.add_argument("--runs", default=None, help="folder holding our runs (default: --out)")
    p.add_argument("--paper-dir", default=None, help="the paper's experiments/ folder")
    args = parse(p)
    runs = Path(args.runs or args.out)
    if args.smoke:  # one tiny run so that there is something of ours to draw
        args.out = str(runs)
        train_model("resnet40", "as1", args, *load_splits(args))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    drawn = 0
    for number, (ours_name, paper_name, metric, title) in FIGURES.items():
        ours = runs / ours_name / "history.csv"
        paper = (
            next(Path(args.paper_dir).glob(f"{paper_name}/*.csv"), None) if args.paper_dir else None
        )
        if not ours.exists() and paper is None:
            print(f"figure {number}: no run at {ours} and no paper log; skipped")
            continue
        main_run, reference = (ours, paper) if ours.exists() else (paper, None)
        label = "resdepth" if ours.exists() else "paper"
        path = out / f"figure{number}.png"
        plot_history(
            main_run, reference=reference, path=path, metric=metric, title=title, label=label
        )
        drawn += 1
        print(f"figure {number}: {path}")
    print(f"{drawn} figures in {out}")


if __name__ == "__main__":
    main()
