"""Running a depth-vs-width study: every shape an ordinary Trainer run in its own
run folder, so a study resumes, splits over machines and is read with the same tools
as any run.

* running the same study again skips finished shapes and resumes an interrupted one
  exactly;
* ``shard=(i, n)`` runs every n-th shape from the i-th, so n processes, GPUs or
  machines split a study with no coordinator;
* :func:`~resdepth.study.study_report` merges whatever has finished.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import torch

from .._validate import int_in_range, is_int
from ..artifacts import History, RunMetadata
from ..data import Dataset
from ..errors import StudySettingsError
from ..models import BLOCKS, ResNet
from ..recipes import Recipe, get_recipe
from ..seeding import seed_everything
from ..training import ComputeSettings, Trainer, mapping_differences, resolve_settings
from .folder import StudyDir
from .plan import StudyShape
from .report import study_report

__all__ = ["run_study"]


def _check_settings(study: StudyDir, settings: dict[str, Any]) -> None:
    """Record the study's settings, or refuse a folder that holds another study."""
    saved = study.read_settings()
    if saved is None:
        study.write_settings(settings)
        return
    differences = mapping_differences("", saved, settings,
                                      skip=("source", "description", "compute"))  # fmt: skip
    if differences:
        raise StudySettingsError(
            f"{study.path} holds a study with other settings ({'; '.join(differences)}): run "
            "it with its own settings, or choose another folder"
        )


def _study_compute(
    study: StudyDir,
    existed: bool,
    shape: StudyShape,
    train: Dataset,
    recipe: Recipe,
    device: Any,
    trainer_kwargs: dict[str, Any],
) -> dict[str, Any]:
    """The precision and memory format every run of the study trains in: recorded in
    ``study.json``, else resolved once on the study's first shape and recorded, so that
    no comparison mixes precisions (a study recorded before the choice existed trained
    in fp32 in the plain format, and keeps to it)."""
    saved = study.read_settings() or {}
    if isinstance(saved.get("compute"), dict):
        return dict(saved["compute"])
    precision = trainer_kwargs.get("precision", "auto")
    channels_last = trainer_kwargs.get("channels_last", "auto")
    if existed:
        old = "fp32" if precision == "auto" else precision
        settings = ComputeSettings(old, channels_last is True, "as the study trained before")
    else:
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        classes = len(train.classes)
        model = ResNet(BLOCKS[shape.block], shape.layers, shape.widths, num_classes=classes,
                       stem_width=shape.stem_width).to(device)  # fmt: skip
        batch = (min(recipe.batch_size, len(train)), *train.images.shape[1:])
        settings = resolve_settings(model, device, batch, precision, channels_last,
                                    autotune_trial=trainer_kwargs.get("autotune", True),
                                    optimizer=recipe.build_optimizer)  # fmt: skip
    study.write_settings({**saved, "compute": settings.to_dict()})
    return settings.to_dict()


def run_study(
    out_dir: str | os.PathLike[str],
    shapes: Sequence[StudyShape],
    train: Dataset,
    test: Dataset,
    recipe: str | Recipe = "as1",
    epochs: int | None = None,
    shard: tuple[int, int] = (0, 1),
    seed: int = 0,
    device: Any = None,
    settings: dict[str, Any] | None = None,
    **trainer_kwargs: Any,
) -> list[dict[str, Any]]:
    """Train this shard's shapes into ``out_dir/<shape>/``, then report the study.

    Args:
        out_dir: the study's folder.
        shapes: from :func:`plan_study`.
        train, test: the data.
        recipe: a registered name or a :class:`~resdepth.recipes.Recipe`.
        epochs: the recipe's epochs, unless given.
        shard: ``(i, n)``: this process trains shapes ``i, i + n, i + 2n, ...``.
        seed: seeds each shape's initial weights and its loaders.
        device: where to train.
        settings: more settings to record and check (the data's name, say).
        trainer_kwargs: passed to :class:`~resdepth.Trainer` (precision, ...).  A
            precision or memory format left ``"auto"`` is chosen once for the whole
            study, on its first shape, and recorded in ``study.json``.

    Returns:
        The report's rows (:func:`study_report`).

    Raises:
        StudySettingsError: ``out_dir`` holds a study with other settings.
        ValueError: for a bad shard.
    """
    if not (isinstance(shard, Sequence) and len(shard) == 2 and is_int(shard[1])):
        raise ValueError(f"shard must be (i, n) with 0 <= i < n, got {shard!r}")
    count = int(shard[1])
    index = int_in_range("shard[0]", shard[0], 0, max(count, 1))
    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    study = StudyDir(out_dir)
    full = {
        "shapes": [asdict(s) for s in shapes], "recipe": recipe.to_dict(), "epochs": epochs,
        "seed": seed, "classes": list(train.classes), "train_images": len(train),
        "test_images": len(test), **(settings or {}),
    }  # fmt: skip
    existed = study.read_settings() is not None
    _check_settings(study, json.loads(json.dumps(full)))
    if shapes:
        compute = _study_compute(study, existed, list(shapes)[0], train, recipe, device,
                                 trainer_kwargs)  # fmt: skip
        trainer_kwargs = {**trainer_kwargs, "precision": compute["precision"],
                          "channels_last": compute["channels_last"]}  # fmt: skip
    planned = epochs or recipe.epochs
    for shape in list(shapes)[index::count]:
        run_dir = study.run(shape.name)
        if run_dir.history.exists() and len(History.from_csv(run_dir.history)) >= planned:
            continue  # finished
        seed_everything(seed)
        classes = len(train.classes)
        model = ResNet(BLOCKS[shape.block], shape.layers, shape.widths, num_classes=classes,
                       stem_width=shape.stem_width)  # fmt: skip
        kwargs = {"num_classes": classes} if shape.preset else None
        metadata = RunMetadata.for_model(model, shape.preset, kwargs, classes=train.classes,
                                         extra={"study_shape": shape.name})  # fmt: skip
        trainer = Trainer(model, recipe=recipe, device=device, out_dir=run_dir.path, seed=seed,
                          metadata=metadata, **trainer_kwargs)  # fmt: skip
        if trainer.is_main and trainer.progress:
            print(f"== {shape.name}: layers {list(shape.layers)}, widths {list(shape.widths)}, "
                  f"{shape.parameters:,} parameters", flush=True)  # fmt: skip
        loaders = trainer.build_loaders(train, test)
        trainer.fit(*loaders, epochs=epochs, resume=run_dir.has_run())
    return study_report(study.path)
