"""The "Your own training loop" page: its blocks run as printed, and compute what the
page says they compute, so the page cannot drift from the library.

The blocks are read out of ``docs/own_loop.rst`` as a reader would copy them: the
first ``.. code-block:: python`` is the complete loop, the second continues it with a
``DeviceLoader``.  Running them trains ResNet10 for an epoch on a CPU (half a minute on
a busy 2-core machine), so that test is marked slow; the fast tests check, without
training, that every recipe and loader name the blocks use exists.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import math
from pathlib import Path
from typing import Any

import pytest

from resdepth.data import DeviceLoader
from resdepth.recipes import Recipe

from .test_documentation import rst_python_blocks

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGE = DOCS / "own_loop.rst"


BLOCKS = [body for _, body in rst_python_blocks(PAGE.read_text(encoding="utf-8"))]
MAIN, DEVICE_LOADER = BLOCKS


def _attributes_of(code: str, name: str) -> set[str]:
    """Every ``name.attr`` the code reads."""
    return {
        node.attr
        for node in ast.walk(ast.parse(code))
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == name
    }


def test_the_page_is_in_the_guide_after_the_trainer() -> None:
    guide = (DOCS / "index.rst").read_text(encoding="utf-8").split(":caption: Reference")[0]
    entries = [line.strip() for line in guide.splitlines() if line.startswith("   ")]
    assert entries[entries.index("trainer") + 1] == "own_loop"


def test_the_main_block_uses_every_part_the_page_names() -> None:
    used = _attributes_of(MAIN, "recipe")
    for part in ("build_optimizer", "build_scheduler", "build_train_transform",
                 "build_eval_transform", "build_mixing", "scheduler_interval",
                 "steps_on_metric", "monitor", "label_smoothing"):  # fmt: skip
        assert part in used, part
    assert "DataLoader(" in MAIN and "DeviceLoader(" in DEVICE_LOADER


@pytest.mark.parametrize("code", BLOCKS, ids=["main", "device_loader"])
def test_every_recipe_name_a_block_uses_exists(code: str) -> None:
    known = set(dir(Recipe)) | set(Recipe.__dataclass_fields__)
    assert _attributes_of(code, "recipe") <= known


def test_the_device_loader_block_passes_arguments_the_loader_takes() -> None:
    taken = set(inspect.signature(DeviceLoader).parameters)
    calls = [
        node
        for node in ast.walk(ast.parse(DEVICE_LOADER))
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "DeviceLoader"
    ]
    assert len(calls) == 2
    for call in calls:
        assert {k.arg for k in call.keywords} <= taken


@pytest.mark.slow
def test_the_blocks_train_and_report_what_the_page_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "__own_loop__"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(MAIN, f"{PAGE}: main block", "exec"), namespace)

    # One printed row per epoch, with the history's columns.
    row = namespace["row"]
    assert isinstance(row, dict)
    assert out.getvalue().strip().splitlines() == [str(row)]
    assert set(row) == {"epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy"}
    assert row["epoch"] == 1
    assert math.isfinite(row["train_loss"]) and row["train_loss"] > 0
    assert math.isfinite(row["test_loss"]) and row["test_loss"] > 0
    assert 0 <= row["train_accuracy"] <= 100 and 0 <= row["test_accuracy"] <= 100
    assert namespace["seen"] == 256 and len(namespace["test"]) == 200

    # resnet40-ft: CutMix gave soft targets, and the cosine stepped once, to its end.
    recipe, scheduler, optimizer = (
        namespace["recipe"],
        namespace["scheduler"],
        namespace["optimizer"],
    )
    assert recipe.mixing == "cutmix" and recipe.scheduler_interval == "epoch"
    assert namespace["mixing"] is not None
    assert scheduler.last_epoch == 1
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    assert recipe.lr == 0.1

    # The DeviceLoader block continues in the same namespace.
    exec(compile(DEVICE_LOADER, f"{PAGE}: DeviceLoader block", "exec"), namespace)
    loss = namespace["loss"]
    assert math.isfinite(float(loss.item()))
    state = namespace["loader_state"]
    assert state["epoch"] == 1 and state["position"] == 0
    x, targets = next(iter(namespace["test_loader"]))
    assert x.dtype.is_floating_point and targets.dim() == 1
