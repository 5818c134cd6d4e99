"""Depth against width: a study trains, resumes, shards and reports on a CPU."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from resdepth import (
    Callback,
    StudySettingsError,
    Trainer,
    count_macs,
    count_parameters,
    get_model,
)
from resdepth.artifacts import load_checkpoint
from resdepth.cli import main
from resdepth.data import Dataset, make_synthetic
from resdepth.recipes import get_recipe
from resdepth.study import (
    plan_study,
    run_study,
    spread_blocks,
    study_report,
)

BUDGET = 30_000
BASE = (8, 16, 32, 64)


def _data() -> tuple[Dataset, Dataset]:
    names = tuple(f"c{i}" for i in range(4))
    return (Dataset("train", *make_synthetic(96, 4, 12), names),
            Dataset("test", *make_synthetic(32, 4, 12, seed=1), names))  # fmt: skip


def _recipe() -> object:
    return get_recipe("as1", batch_size=32, lr=0.05)


def test_one_study_can_set_block_families_side_by_side() -> None:
    plan = plan_study(["preact:26", "wide:16", "bottleneck:26", "wrn_16_8"], 12_000_000)
    assert [s.name for s in plan] == [
        "preact-d26-3.3.3.3", "wide-d16-2.2.2", "bottleneck-d26-2.2.2.2", "wrn_16_8",
    ]  # fmt: skip
    assert [s.block for s in plan] == [
        "PreActBasicBlock", "WideBasicBlock", "Bottleneck", "WideBasicBlock",
    ]  # fmt: skip
    assert [s.depth for s in plan] == [26, 16, 26, 16]
    assert all(s.parameters <= 12_000_000 for s in plan)
    with pytest.raises(ValueError, match="6n \\+ 4"):
        plan_study(["wide:17"], 5_000_000)
    with pytest.raises(ValueError, match="unknown block family 'dense'"):
        plan_study(["dense:26"], 5_000_000)


def test_plan_fits_every_shape_to_the_budget() -> None:
    plan = plan_study(["resnet40", 10, 26, (2, 1, 1, 1)], 5_000_000)
    assert [s.name for s in plan] == ["resnet40", "d10-1.1.1.1", "d26-3.3.3.3", "d12-2.1.1.1"]
    assert plan[0].widths == (32, 64, 128, 256) and plan[0].parameters == 4_994_730
    assert all(s.parameters <= 5_000_000 for s in plan)
    assert [s.depth for s in plan] == [40, 10, 26, 12]
    net = get_model("resnet40")
    assert plan[0].macs == count_macs(net) and plan[0].parameters == count_parameters(net)
    capped = plan_study([26], 5_000_000, max_macs=100_000_000)[0]
    assert capped.macs <= 100_000_000 < plan[2].macs
    with pytest.raises(ValueError, match="2 \\+ 2 x blocks"):
        spread_blocks(11)
    with pytest.raises(ValueError, match="distinct"):
        plan_study([10, 10], 5_000_000)
    with pytest.raises(ValueError, match="over the budget"):
        plan_study(["resnet40"], 1_000_000)


class _CrashAfterEpoch(Callback):
    def on_epoch_end(self, trainer: Trainer, row: dict) -> None:
        if row["epoch"] == 1 and trainer.metadata.extra["study_shape"] == "d10-1.1.1.1":
            raise RuntimeError("the machine went away")


def test_a_study_trains_resumes_and_reports(tmp_path: Path) -> None:
    train, test = _data()
    plan = plan_study([10, (2, 1, 1, 1)], BUDGET, BASE, num_classes=4)
    kwargs = {"epochs": 2, "device": "cpu", "progress": False}
    whole = run_study(tmp_path / "whole", plan, train, test, _recipe(), **kwargs)
    assert [r["shape"] for r in whole] == ["d10-1.1.1.1", "d12-2.1.1.1"]
    for row in whole:
        run_dir = tmp_path / "whole" / row["shape"]
        assert {"history.csv", "last.pt", "best.pt"} <= {p.name for p in run_dir.iterdir()}
        assert row["epochs"] == 2 and row["parameters"] <= BUDGET
    with (tmp_path / "whole" / "study.csv").open() as f:
        assert [r["shape"] for r in csv.DictReader(f)] == ["d10-1.1.1.1", "d12-2.1.1.1"]
    assert "| d12-2.1.1.1 | 12 |" in (tmp_path / "whole" / "study.md").read_text()

    # Interrupted in its first shape, then run again: the shape resumes exactly.
    out = tmp_path / "crashed"
    with pytest.raises(RuntimeError, match="went away"):
        run_study(out, plan, train, test, _recipe(), callbacks=[_CrashAfterEpoch()], **kwargs)
    assert study_report(out) == []  # nothing has finished
    pending = "Pending: d10-1.1.1.1 (1/2 epochs), d12-2.1.1.1 (0/2 epochs)"
    assert pending in (out / "study.md").read_text()
    run_study(out, plan, train, test, _recipe(), **kwargs)
    for shape in ("d10-1.1.1.1", "d12-2.1.1.1"):
        a = load_checkpoint(tmp_path / "whole" / shape / "last.pt")["model"]
        b = load_checkpoint(out / shape / "last.pt")["model"]
        assert all(torch.equal(a[k], b[k]) for k in a), shape
    # Finished shapes are skipped: nothing is written again.
    stamp = (out / "d10-1.1.1.1" / "last.pt").stat().st_mtime_ns
    run_study(out, plan, train, test, _recipe(), **kwargs)
    assert (out / "d10-1.1.1.1" / "last.pt").stat().st_mtime_ns == stamp


def test_shards_split_a_study_and_the_report_merges_them(tmp_path: Path) -> None:
    train, test = _data()
    plan = plan_study([10, 12, (1, 2, 1, 1)], BUDGET, BASE, num_classes=4)
    kwargs = {"epochs": 1, "device": "cpu", "progress": False}
    first = run_study(tmp_path, plan, train, test, _recipe(), shard=(0, 2), **kwargs)
    assert [r["shape"] for r in first] == ["d10-1.1.1.1", "d12-1.2.1.1"]
    second = run_study(tmp_path, plan, train, test, _recipe(), shard=(1, 2), **kwargs)
    assert sorted(r["shape"] for r in second) == sorted(s.name for s in plan)
    with pytest.raises(ValueError, match="shard"):
        run_study(tmp_path, plan, train, test, _recipe(), shard=(2, 2), **kwargs)


def test_other_settings_in_the_same_folder_are_refused(tmp_path: Path) -> None:
    train, test = _data()
    plan = plan_study([10], BUDGET, BASE, num_classes=4)
    run_study(tmp_path, plan, train, test, _recipe(), epochs=1, device="cpu", progress=False)
    with pytest.raises(StudySettingsError, match="epochs: 1 -> 2"):
        run_study(tmp_path, plan, train, test, _recipe(), epochs=2, device="cpu", progress=False)
    with pytest.raises(StudySettingsError, match="optimizer_kwargs.lr: 0.05 -> 0.1"):
        run_study(tmp_path, plan, train, test, get_recipe("as1", batch_size=32), epochs=1,
                  device="cpu", progress=False)  # fmt: skip
    assert json.loads((tmp_path / "study.json").read_text())["epochs"] == 1


def test_the_study_command_trains_reports_and_plots(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "study"
    argv = ["study", "--data", "synthetic", "--subset", "64", "--shapes", "10", "1,2,1,1",
            "--budget", str(BUDGET), "--base-widths", "8", "16", "32", "64", "--epochs", "1",
            "--out", str(out), "--device", "cpu", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| d10-1.1.1.1 | 10 |" in printed and (out / "study.png").stat().st_size > 5_000
    assert main(["study", "report", str(out)]) == 0
    assert "| d12-1.2.1.1 | 12 |" in capsys.readouterr().out
    assert main([*argv[:-3], "--epochs", "2", "--device", "cpu", "--quiet"]) == 2
    assert "other settings" in capsys.readouterr().err
    assert main(["study", "report", str(tmp_path / "none")]) == 2
    assert main(["eval", str(out / "d10-1.1.1.1" / "best.pt"), "--data", "synthetic",
                 "--subset", "20"]) == 0  # fmt: skip


@pytest.mark.parametrize(
    "content", ["{not json", "[1, 2]", '{"shapes": []}', '{"epochs": 1, "recipe": {}}']
)
def test_a_damaged_study_record_is_one_line(
    tmp_path: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "study.json").write_text(content)
    with pytest.raises(StudySettingsError, match="study.json"):
        study_report(tmp_path)
    assert main(["study", "report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "study.json" in err and "Traceback" not in err


@pytest.mark.slow
def test_a_study_resolves_its_precision_once_and_every_shape_trains_in_it(
    tmp_path: Path,
) -> None:
    train, test = _data()
    plan = plan_study([10, 12], BUDGET, BASE, num_classes=4)
    kwargs = {"epochs": 1, "device": "cpu", "progress": False}
    run_study(tmp_path / "auto", plan, train, test, _recipe(), shard=(0, 2), **kwargs)
    compute = json.loads((tmp_path / "auto" / "study.json").read_text())["compute"]
    assert compute["precision"] != "auto" and isinstance(compute["channels_last"], bool)
    run_study(tmp_path / "auto", plan, train, test, _recipe(), shard=(1, 2), **kwargs)
    for shape in plan:
        state = load_checkpoint(tmp_path / "auto" / shape.name / "last.pt")
        assert (state["precision"], state["channels_last"]) == (
            compute["precision"], compute["channels_last"],
        )  # fmt: skip
    # A study folder from before the choice was recorded keeps training in fp32.
    run_study(tmp_path / "old", plan[:1], train, test, _recipe(), precision="fp32",
              channels_last=False, **kwargs)  # fmt: skip
    record = json.loads((tmp_path / "old" / "study.json").read_text())
    del record["compute"]
    (tmp_path / "old" / "study.json").write_text(json.dumps(record))
    run_study(tmp_path / "old", plan[:1], train, test, _recipe(), **kwargs)
    assert (
        json.loads((tmp_path / "old" / "study.json").read_text())["compute"]["precision"] == "fp32"
    )
