"""Hostile or malformed paper files end in PaperCheckpointError naming the file: never
a memory blow-up, a segfault or another exception's traceback."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings

from resdepth import PaperCheckpointError
from resdepth.models import load_paper_checkpoint

from ..data.hostile import Worker, mutate, mutations
from . import test_paper

paper_files = test_paper.paper_files
CRASHERS = Path(__file__).parent / "crashers"

HOSTILE = textwrap.dedent(
    """
    import sys, torch
    sys.path.insert(0, sys.argv[1])
    from resnet import ResNetBasicBlock
    def small():
        torch.manual_seed(0)
        return ResNetBasicBlock([2, 1], [8, 16], 5, 3, "small", 10)
    m = small(); m.residual_layers._modules["loop"] = m
    torch.save(m, f"{sys.argv[1]}/cycle.pth")
    m = small(); m.__dict__["_modules"] = list(m._modules.values())
    torch.save(m, f"{sys.argv[1]}/modules-list.pth")
    """
)


@pytest.fixture(scope="module")
def hostile(paper_files: Path) -> Path:
    (paper_files / "resnet.py").write_text(test_paper.PAPER_RESNET)
    proc = subprocess.run([sys.executable, "-c", HOSTILE, str(paper_files)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    (paper_files / "resnet.py").unlink()
    assert proc.returncode == 0, proc.stderr
    return paper_files


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    w = Worker()
    yield w
    w.close()


def _state(paper_files: Path) -> dict[str, torch.Tensor]:
    state = torch.load(paper_files / "small-state.pth")
    assert isinstance(state, dict)
    return state


def _edited(paper_files: Path, path: Path, key: str, value: torch.Tensor | None) -> Path:
    state = _state(paper_files)
    if value is None:
        del state[key]
    else:
        state[key] = value
    torch.save(state, path)
    return path


def test_a_deflate_bomb_is_refused_before_it_is_unpacked(worker: Worker, tmp_path: Path) -> None:
    bomb, small = tmp_path / "bomb.pth", tmp_path / "small.pth"
    torch.save({"w": torch.zeros(1)}, small)
    with zipfile.ZipFile(small) as zin, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        pkl = next(n for n in zin.namelist() if n.endswith("/data.pkl"))
        zf.writestr(pkl, zin.read(pkl))
        with zf.open(pkl.replace("data.pkl", "data/0"), "w", force_zip64=True) as f:
            for _ in range(1024):
                f.write(bytes(1 << 20))
    assert bomb.stat().st_size < 2 << 20
    assert worker.load("paper", bomb) == "PaperCheckpointError True"


def test_a_huge_declared_tensor_is_refused(
    worker: Worker, paper_files: Path, tmp_path: Path
) -> None:
    path = tmp_path / "huge.pth"
    one = torch.zeros(1).expand(2**20, 2**12)  # a stride of 0: 4 GiB from one value
    torch.save({**_state(paper_files), "output_layer.2.bias": one}, path)
    assert worker.load("paper", path) == "PaperCheckpointError True"


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (("cycle.pth", None), "cycle"),
        (("modules-list.pth", None), "not a dict"),
        (("residual_layers.1.0.conv1.0.weight", None), "first block"),
        (("input_layer.0.weight", torch.tensor(1.0)), "dimensions"),
        (("output_layer.2.weight", torch.full((10, 16), float("nan"))), "NaN"),
        (("output_layer.2.weight", torch.ones(10, 16, dtype=torch.int64)), "int64"),
    ],
    ids=["cycle", "modules-list", "no-first-block", "0-d-stem", "nan", "int64"],
)
def test_malformed_files_end_in_paper_checkpoint_error(
    hostile: Path, tmp_path: Path, edit: tuple[str, torch.Tensor | None], match: str
) -> None:
    key, value = edit
    path = hostile / key if key.endswith(".pth") else tmp_path / "edited.pth"
    if not key.endswith(".pth"):
        _edited(hostile, path, key, value)
    with pytest.raises(PaperCheckpointError, match=match) as info:
        load_paper_checkpoint(path)
    assert str(path) in str(info.value)


def test_a_flipped_byte_ends_in_paper_checkpoint_error(paper_files: Path, tmp_path: Path) -> None:
    data = bytearray((paper_files / "small.pth").read_bytes())
    for offset in range(0, len(data), max(1, len(data) // 40)):
        bad = tmp_path / "flipped.pth"
        flipped = bytearray(data)
        flipped[offset] ^= 0x80
        bad.write_bytes(bytes(flipped))
        try:
            load_paper_checkpoint(bad)
        except PaperCheckpointError as err:
            assert str(bad) in str(err)


def test_every_committed_crasher_is_refused(worker: Worker) -> None:
    for path in sorted(CRASHERS.glob("*.pth")):
        assert worker.load("paper", path).split()[0] == "PaperCheckpointError"


def _fuzz_paper(worker: Worker, paper_files: Path, folder: Path, changes: list) -> None:
    path = folder / f"fuzz-{abs(hash(repr(changes)))}.pth"
    path.write_bytes(mutate((paper_files / "small.pth").read_bytes(), changes))
    outcome = worker.load("paper", path)
    # Loads, or PaperCheckpointError naming the file: never a crash, a blow-up, a hang
    # or another exception.
    assert outcome in ("ok", "PaperCheckpointError True"), (outcome, changes)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(changes=mutations())
def test_fuzzed_paper_files_end_in_paper_checkpoint_error(
    worker: Worker, paper_files: Path, tmp_path_factory: pytest.TempPathFactory, changes: list
) -> None:
    _fuzz_paper(worker, paper_files, tmp_path_factory.mktemp("fuzz"), changes)


@pytest.mark.slow
@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(changes=mutations())
def test_fuzzed_paper_files_at_length(
    worker: Worker, paper_files: Path, tmp_path_factory: pytest.TempPathFactory, changes: list
) -> None:
    _fuzz_paper(worker, paper_files, tmp_path_factory.mktemp("fuzz"), changes)
