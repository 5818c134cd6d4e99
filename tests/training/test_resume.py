"""Resume as a contract: the same run continues, another length is re-planned, anything
else is refused with each difference named, and kills at any point lose nothing."""

from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from resdepth import ResNet, ResumeMismatchError, Trainer, seed_everything
from resdepth.artifacts import PAPER_COLUMNS, History, load_checkpoint
from resdepth.cli import main
from resdepth.data import Dataset, make_synthetic
from resdepth.recipes import Recipe, WarmupLinearDecay, get_recipe

from ..conftest import TINY_MODEL
from .crashes import Crash, CrashAfterEpoch

CHILD = Path(__file__).with_name("child.py")


def _tiny(classes: int = 4, widths: tuple[int, int] = (8, 16)) -> ResNet:
    torch.manual_seed(0)
    return ResNet(layers=(1, 1), widths=widths, num_classes=classes)


def _datasets(n: int = 64, classes: tuple[str, ...] = ("a", "b", "c", "d")) -> tuple:
    train = make_synthetic(n, 4, 12)
    test = make_synthetic(32, 4, 12, seed=1)
    return Dataset("train", *train, classes), Dataset("test", *test, classes)


def _trainer(recipe: Recipe, out: Path | None, **kwargs: object) -> Trainer:
    model = kwargs.pop("model", None) or _tiny()
    return Trainer(model, recipe=recipe, device="cpu", out_dir=out, progress=False,
                   **kwargs)  # type: ignore[arg-type]  # fmt: skip


def _fit(trainer: Trainer, epochs: int | None = None, resume: bool = False,
         data: tuple | None = None) -> History:  # fmt: skip
    return trainer.fit(*trainer.build_loaders(*(data or _datasets())), epochs=epochs,
                       resume=resume)  # fmt: skip


def _expected_rates(name: str, epochs: int, steps_per_epoch: int) -> list[float]:
    """The learning rate at the start of each epoch of an uninterrupted run, by formula."""
    if name == "as1":
        return [0.1 * (1 + math.cos(math.pi * e / epochs)) / 2 for e in range(epochs)]
    if name == "as1-linear":
        return [0.1 * (1 - e / epochs) for e in range(epochs)]
    factor = WarmupLinearDecay(2 * steps_per_epoch, epochs * steps_per_epoch, start=0.1)
    return [0.4 * factor(e * steps_per_epoch) for e in range(epochs)]


def test_resume_of_a_finished_run_with_more_epochs_replans_the_cosine(tmp_path: Path) -> None:
    # The example of the report: 2 epochs of as1, then 4 in all.
    recipe = get_recipe("as1", batch_size=16)
    _fit(_trainer(recipe, tmp_path), epochs=2)
    history = _fit(_trainer(recipe, tmp_path), epochs=4, resume=True)
    rates = history.column("learning_rate")
    assert rates == pytest.approx([0.1, 0.05, 0.05, 0.1 * (1 + math.cos(3 * math.pi / 4)) / 2])
    assert "length 2 -> 4 epochs" in history[2]["note"]
    assert History.from_csv(tmp_path / "history.csv")[2]["note"] == history[2]["note"]


@pytest.mark.parametrize("name", ["as1", "as1-linear", "fast-v1"])
@pytest.mark.parametrize(("planned", "final"), [(4, 6), (5, 3)], ids=["extended", "shortened"])
def test_resume_with_another_length_follows_that_length_from_then_on(
    tmp_path: Path, name: str, planned: int, final: int
) -> None:
    recipe = get_recipe(name, batch_size=16)  # 64 images: 4 batches an epoch
    with pytest.raises(Crash):
        _fit(_trainer(recipe, tmp_path, callbacks=[CrashAfterEpoch(2)]), epochs=planned)
    resumed = _fit(_trainer(recipe, tmp_path), epochs=final, resume=True)
    uninterrupted = _fit(_trainer(recipe, None), epochs=final)
    rates = resumed.column("learning_rate")
    assert len(rates) == final
    assert rates[:2] == pytest.approx(_expected_rates(name, planned, 4)[:2], abs=1e-12)
    assert rates[2:] == pytest.approx(_expected_rates(name, final, 4)[2:], abs=1e-12)
    # Not only the formula: the very rates of an uninterrupted run of that length.
    assert rates[2:] == uninterrupted.column("learning_rate")[2:]


def test_resume_without_epochs_keeps_the_checkpoints_length(tmp_path: Path) -> None:
    recipe = get_recipe("as1", batch_size=16)  # registered with 200 epochs
    with pytest.raises(Crash):
        _fit(_trainer(recipe, tmp_path, callbacks=[CrashAfterEpoch(2)]), epochs=4)
    history = _fit(_trainer(recipe, tmp_path), resume=True)
    assert len(history) == 4
    assert history.column("learning_rate") == pytest.approx(_expected_rates("as1", 4, 4))
    with pytest.raises(ValueError, match="fewer than the 4"):
        _fit(_trainer(recipe, tmp_path), epochs=3, resume=True)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"batch_size": 8}, ["recipe.batch_size: 16 -> 8", "data batch_size: 16 -> 8"]),
        ({"lr": 0.05}, ["recipe.optimizer_kwargs.lr: 0.1 -> 0.05"]),
        (
            {"momentum": 0.8, "weight_decay": 0.0},
            [
                "optimizer_kwargs.momentum: 0.9 -> 0.8",
                "optimizer_kwargs.weight_decay: 0.0005 -> 0.0",
            ],
        ),
        ({"mixing": "cutmix"}, ["recipe.mixing: None -> 'cutmix'"]),
    ],
)
def test_resume_with_another_recipe_is_refused_naming_each_change(
    tmp_path: Path, change: dict, named: list[str]
) -> None:
    recipe = get_recipe("as1", batch_size=16)
    _fit(_trainer(recipe, tmp_path), epochs=1)
    before = (tmp_path / "last.pt").read_bytes()
    with pytest.raises(ResumeMismatchError) as caught:
        _fit(_trainer(recipe.replace(**change), tmp_path), epochs=2, resume=True)
    for text in named:
        assert text in str(caught.value)
    assert (tmp_path / "last.pt").read_bytes() == before  # nothing was written


def test_resume_with_other_data_or_model_is_refused(tmp_path: Path) -> None:
    recipe = get_recipe("as1", batch_size=16)
    _fit(_trainer(recipe, tmp_path, precision="fp32"), epochs=1)
    with pytest.raises(ResumeMismatchError, match=r"data classes.*'d'.*'e'"):
        _fit(_trainer(recipe, tmp_path), resume=True, data=_datasets(classes=("a", "b", "c", "e")))
    with pytest.raises(ResumeMismatchError, match="data size: 64 -> 48"):
        _fit(_trainer(recipe, tmp_path), resume=True, data=_datasets(n=48))
    with pytest.raises(
        ResumeMismatchError, match=r"model layer2\.0\.\S+: shape \(16, 8, 1, 1\) -> \(32, 8, 1, 1\)"
    ):
        _fit(_trainer(recipe, tmp_path, model=_tiny(widths=(8, 32))), resume=True)
    with pytest.raises(ResumeMismatchError, match="precision: 'fp32' -> 'bf16'"):
        _fit(_trainer(recipe, tmp_path, precision="bf16"), resume=True)


def _cli_train(archive: Path, out: Path, *extra: str) -> int:
    return main(["train", "--model", TINY_MODEL, "--data", str(archive), "--out", str(out),
                 "--quiet", *extra])  # fmt: skip


def test_cli_resume_keeps_or_replans_the_length(archive: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert _cli_train(archive, out, "--epochs", "2", "--batch-size", "24") == 0
    assert _cli_train(archive, out, "--resume") == 0  # the run is complete: nothing to do
    assert len(History.from_csv(out / "history.csv")) == 2
    assert _cli_train(archive, out, "--resume", "--epochs", "4") == 0
    rates = History.from_csv(out / "history.csv").column("learning_rate")
    assert rates == pytest.approx([0.1, 0.05, 0.05, 0.1 * (1 + math.cos(3 * math.pi / 4)) / 2])
    assert load_checkpoint(out / "last.pt")["recipe"]["epochs"] == 4


def test_cli_resume_with_another_batch_size_is_one_clear_error(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert _cli_train(archive, out, "--epochs", "1", "--batch-size", "24") == 0
    capsys.readouterr()
    assert _cli_train(archive, out, "--resume", "--epochs", "2", "--batch-size", "12") == 2
    err = capsys.readouterr().err
    assert "batch_size: 24 -> 12" in err and err.count("\n") == 1
    assert _cli_train(archive, out, "--resume", "--epochs", "2", "--recipe", "as2") == 2
    err = capsys.readouterr().err
    assert "recipe.optimizer: 'sgd' -> 'adam'" in err and "recipe.name: 'as1' -> 'as2'" in err
    assert _cli_train(archive, out, "--resume", "--seed", "5") == 2
    assert "used seed 0" in capsys.readouterr().err


def test_cli_runs_with_the_same_seed_are_identical(archive: Path, tmp_path: Path) -> None:
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        assert _cli_train(archive, tmp_path / name, "--epochs", "1", "--seed", seed) == 0
    a, b, c = (load_checkpoint(tmp_path / n / "last.pt")["model"] for n in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def _child(out: Path, epochs: int, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CHILD), str(out), str(epochs), *flags],
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def _same_weights(a: Path, b: Path) -> None:
    first, second = load_checkpoint(a)["model"], load_checkpoint(b)["model"]
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key


def _same_run(a: Path, b: Path) -> None:
    """The same weights, every rank's loader streams, and the same history."""
    _same_weights(a / "last.pt", b / "last.pt")
    first, second = load_checkpoint(a / "last.pt"), load_checkpoint(b / "last.pt")
    for rank in (0, 1):
        assert torch.equal(first["ranks"][rank]["loader"]["augment_state"],
                           second["ranks"][rank]["loader"]["augment_state"]), rank  # fmt: skip
    for row_a, row_b in zip(first["history"]["rows"], second["history"]["rows"], strict=True):
        assert all(row_a[c] == row_b[c] for c in PAPER_COLUMNS), (row_a, row_b)


@pytest.mark.slow
def test_kill_at_random_points_then_resume_is_bit_identical(tmp_path: Path) -> None:
    whole = _child(tmp_path / "whole", 3)
    assert whole.returncode == 0, whole.stderr
    # 160 images in batches of 32: 5 steps an epoch, 15 in all; checkpoints every 2 steps.
    for step in random.Random(2026).sample(range(2, 15), 2):
        out = tmp_path / f"killed-at-{step}"
        killed = _child(out, 3, "--checkpoint-every", "2", "--kill-at-step", str(step))
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        state = load_checkpoint(out / "last.pt")
        assert state["steps_run"] == 2 * ((step - 1) // 2) or state["progress"] is None
        resumed = _child(out, 3, "--resume")
        assert resumed.returncode == 0, resumed.stderr
        _same_weights(tmp_path / "whole" / "last.pt", out / "last.pt")
        rows = History.from_csv(out / "history.csv")
        reference = History.from_csv(tmp_path / "whole" / "history.csv")
        for row, ref in zip(rows, reference, strict=True):
            assert all(row[c] == ref[c] for c in PAPER_COLUMNS)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="torchrun test runs on Linux")
def test_two_ranks_hold_one_weight_average_which_resumes_exactly(tmp_path: Path) -> None:
    whole = _torchrun(tmp_path / "whole", "2", "--ema")
    assert whole.returncode == 0, whole.stderr[-3000:]
    import json

    results = [json.loads((tmp_path / "whole" / f"result-rank{r}.json").read_text())
               for r in (0, 1)]  # fmt: skip
    assert results[0]["averaged"] == results[1]["averaged"]  # BatchNorm buffers included
    assert results[0]["eval"] == results[1]["eval"]
    killed = _torchrun(tmp_path / "killed", "2", "--ema", "--kill-after-epoch", "1")
    assert killed.returncode != 0
    resumed = _torchrun(tmp_path / "killed", "2", "--ema", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    first = load_checkpoint(tmp_path / "whole" / "last.pt")["averaged_model"]["model"]
    second = load_checkpoint(tmp_path / "killed" / "last.pt")["averaged_model"]["model"]
    for key in first:
        assert torch.equal(first[key], second[key]), key


@pytest.mark.slow
def test_sigterm_saves_mid_epoch_and_resume_is_bit_identical(tmp_path: Path) -> None:
    whole = _child(tmp_path / "whole", 2)
    assert whole.returncode == 0, whole.stderr
    out = tmp_path / "term"
    stopped = _child(out, 2, "--term-at-step", "3")  # in the first epoch
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr
    assert "SIGTERM" in stopped.stdout and "resume" in stopped.stdout
    state = load_checkpoint(out / "last.pt")
    assert state["epoch"] == 0 and state["progress"]["step"] == 3
    resumed = _child(out, 2, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    _same_weights(tmp_path / "whole" / "last.pt", out / "last.pt")


def launch(
    commands: list[list[str]], timeout: float = 300
) -> list[subprocess.CompletedProcess[str]]:
    """Run ``commands`` at once, each in a process group of its own, and wait for all
    within ``timeout`` seconds together; the groups (torchrun and its workers) are
    killed on the way out, so a hung run leaves no worker behind."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env, start_new_session=True)
             for command in commands]  # fmt: skip
    deadline, done = time.monotonic() + timeout, []
    try:
        for proc, command in zip(procs, commands, strict=True):
            out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            done.append(subprocess.CompletedProcess(command, proc.returncode, out, err))
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return done


def _torchrun(out: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", str(CHILD), str(out), *flags]  # fmt: skip
    return launch([command])[0]


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="torchrun test runs on Linux")
def test_two_ranks_with_lookahead_and_alternating_flip_resume_mid_epoch_exactly(
    tmp_path: Path,
) -> None:
    # 20 batches a rank an epoch; under DDP the ranks agree on a mid-epoch checkpoint at
    # an epoch's 16th batch, so the last one before the kill (the run's 38th batch) is
    # after epoch 2's 16th.
    flags = ("--lookahead", "--checkpoint-every", "2", "--train-size", "1280")
    whole = _torchrun(tmp_path / "whole", "3", *flags)
    assert whole.returncode == 0, whole.stderr[-3000:]
    killed = _torchrun(tmp_path / "killed", "3", *flags, "--kill-at-step", "38")
    assert killed.returncode != 0
    state = load_checkpoint(tmp_path / "killed" / "last.pt")
    assert state["epoch"] == 1 and state["progress"]["step"] == 16
    # Each rank keeps its own slow copy (its BatchNorm statistics are its own batches').
    slow = [rank["lookahead"]["slow"] for rank in state["ranks"]]
    assert len(slow) == 2 and any(not torch.equal(a, b) for a, b in zip(*slow, strict=True))
    resumed = _torchrun(tmp_path / "killed", "3", *flags, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    _same_weights(tmp_path / "whole" / "last.pt", tmp_path / "killed" / "last.pt")


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="torchrun test runs on Linux")
def test_two_rank_run_killed_and_resumed_equals_the_uninterrupted_run(tmp_path: Path) -> None:
    whole = _torchrun(tmp_path / "whole", "3")
    assert whole.returncode == 0, whole.stderr[-3000:]
    killed = _torchrun(tmp_path / "killed", "3", "--kill-after-epoch", "1")
    assert killed.returncode != 0
    state = load_checkpoint(tmp_path / "killed" / "last.pt")
    assert state["epoch"] == 1 and len(state["ranks"]) == 2
    # Each rank's own random streams are saved, not rank 0's for both.
    loaders = [r["loader"]["augment_state"] for r in state["ranks"]]
    assert not torch.equal(loaders[0], loaders[1])
    resumed = _torchrun(tmp_path / "killed", "3", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    _same_weights(tmp_path / "whole" / "last.pt", tmp_path / "killed" / "last.pt")
    import json

    for rank in (0, 1):
        a = json.loads((tmp_path / "whole" / f"result-rank{rank}.json").read_text())
        b = json.loads((tmp_path / "killed" / f"result-rank{rank}.json").read_text())
        assert a["eval"] == b["eval"]
        for row_a, row_b in zip(a["history"], b["history"], strict=True):
            assert all(row_a[c] == row_b[c] for c in PAPER_COLUMNS)


def test_a_run_is_tied_to_its_data(tmp_path: Path) -> None:
    """Other images of the same size and classes are refused on resume, naming both
    fingerprints, unless allowed; then the history says so."""

    def data(seed: int) -> Dataset:
        return Dataset("d", *make_synthetic(32, 4, 12, seed=seed), classes=("a", "b", "c", "d"))

    def trainer() -> Trainer:
        seed_everything(0)
        net = ResNet(layers=(1,), widths=(4,), num_classes=4)
        return Trainer(net, recipe=get_recipe("as1", batch_size=16), device="cpu",
                       out_dir=tmp_path, progress=False)  # fmt: skip

    first = trainer()
    first.fit(first.build_loaders(data(0))[0], epochs=1)
    own = trainer().build_loaders(data(0))[0].fingerprint()
    other = trainer()
    loader = other.build_loaders(data(1))[0]
    named = f"data fingerprint: '{own}' -> '{loader.fingerprint()}'"
    with pytest.raises(ResumeMismatchError, match=named):
        other.fit(loader, epochs=2, resume=True)
    allowed = trainer()
    history = allowed.fit(allowed.build_loaders(data(1))[0], epochs=2, resume=True,
                          allow_other_data=True)  # fmt: skip
    assert "on other data (data fingerprint" in history[-1]["note"]
    again = trainer()  # from now on the run is tied to the data it switched to
    again.fit(again.build_loaders(data(1))[0], epochs=3, resume=True)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="torchrun test runs on Linux")
def test_two_ranks_stopped_in_and_at_the_end_of_an_epoch_resume_exactly(tmp_path: Path) -> None:
    """SIGTERM to one rank, then a resume: every rank's weights, buffers, states and
    history equal the uninterrupted two-rank run's. The ranks agree to stop every 16th step of an
    epoch and at its end, so with 17 steps an epoch a signal at step 5 or 16 stops after
    step 16 (mid-epoch, where the ranks' BatchNorm statistics differ), and one at step
    17, the epoch's last batch, at the epoch's end."""
    size = ("--train-size", "1088")  # 1,088 images, 2 ranks, batches of 32: 17 steps
    whole = _torchrun(tmp_path / "whole", "2", *size)
    assert whole.returncode == 0, whole.stderr[-3000:]
    for step, stops_at in ((5, 16), (16, 16), (17, None)):
        out = tmp_path / f"stopped-{step}"
        stopped = _torchrun(out, "2", *size, "--term-at-step", str(step), "--only-rank", "1")
        assert stopped.returncode != 0, stopped.stderr[-2000:]
        # Both ranks name the signal one of them got.
        assert stopped.stdout.count("stopped by SIGTERM") == 2, stopped.stdout
        progress = load_checkpoint(out / "last.pt")["progress"]
        assert (progress and progress["step"]) == stops_at
        resumed = _torchrun(out, "2", *size, "--resume")
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        _same_run(tmp_path / "whole", out)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="torchrun test runs on Linux")
def test_ranks_stay_in_step_when_the_images_do_not_divide_evenly(tmp_path: Path) -> None:
    """1,089 images on 2 ranks: each rank gets 545 (one repeated), 18 batches of 32. With
    545 and 544 the second rank ran 17: it skipped an optimizer step each epoch, and
    its momentum drifted from the first rank's."""
    run = _torchrun(tmp_path / "run", "2", "--train-size", "1089")
    assert run.returncode == 0, run.stderr[-3000:]
    import json

    a, b = (json.loads((tmp_path / "run" / f"result-rank{r}.json").read_text()) for r in (0, 1))
    assert a["batches"] == b["batches"] == 18 and a["loader_samples"] == b["loader_samples"]
    assert a["optimizer_sum"] == b["optimizer_sum"]
