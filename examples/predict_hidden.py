"""Predictions for an unlabeled pickle (the paper's hidden test set) or an image folder.

    python examples/predict_hidden.py --checkpoint runs/resnet40_ft/resnet40-resnet40-ft/best.pt \
        --input hidden.pkl --out runs/predictions
    python examples/predict_hidden.py --data cifar10-jpeg.tar.gz --smoke

Writes predictions.csv (ID,Label) under --out.  With --smoke and no --checkpoint it
first trains a tiny run and predicts the --data test split.
"""

from __future__ import annotations

from pathlib import Path

from _shared import load_splits, parse, parser, train_model

from resdepth import Trainer
from resdepth.data import load_image_folder, load_unlabeled_pickle, write_predictions_csv


def main() -> None:
    p = parser(__doc__.splitlines()[0], "runs/predictions")
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--input", default=None, help="an unlabeled .pkl, or a folder/archive")
    p.add_argument("--split", default=None, help="split folder inside --input")
    p.add_argument("--tta", action="store_true", help="average with flipped images")
    args = parse(p)
    checkpoint = args.checkpoint
    images = None
    if checkpoint is None:
        if not args.smoke:
            p.error("--checkpoint is required (or --smoke)")
        train, test = load_splits(args)
        train_model("resnet10", "as1", args, train, test)
        checkpoint = str(Path(args.out) / "resnet10-as1" / "best.pt")
        images = test.images
    # The checkpoint records its model, class names and the whole recipe it was trained with.
    trainer = Trainer.from_checkpoint(checkpoint, device=args.device)
    classes = trainer.metadata.classes or ()
    if images is None:
        if args.input is None:
            p.error("--input is required")
        source = Path(args.input)
        if source.suffix in (".pkl", ".pickle"):
            images = load_unlabeled_pickle(source)
        else:
            images = load_image_folder(source, split=args.split)[0]
    labels = trainer.predict(images, tta=args.tta)
    out = write_predictions_csv(Path(args.out) / "predictions.csv", labels)
    counts = labels.bincount(minlength=len(classes)).tolist()
    print(f"wrote {len(labels)} predictions to {out}")
    print(", ".join(f"{c}: {n}" for c, n in zip(classes, counts, strict=True)))


if __name__ == "__main__":
    main()
