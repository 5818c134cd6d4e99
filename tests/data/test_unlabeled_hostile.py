"""Hostile unlabeled-image pickles end in resdepth's own error: never a segfault, a
memory blow-up or another exception's traceback."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from resdepth import RefusedPickleError
from resdepth.data import load_unlabeled, load_unlabeled_pickle

from .hostile import Worker, mutate, mutations

CRASHERS = Path(__file__).parent / "crashers"
REFUSED = "RefusedPickleError True"


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    w = Worker()
    yield w
    w.close()


def _object_ids(path: Path) -> Path:
    """Ids whose int64 dtype is renamed to objects: numpy reads the bytes as pointers."""
    ids = np.full(1, 0x4141414141414141, dtype=np.int64)
    data = pickle.dumps({b"data": np.zeros((1, 32, 32, 3), np.uint8), b"ids": ids}, protocol=2)
    path.write_bytes(data.replace(b"X\x02\x00\x00\x00i8", b"X\x02\x00\x00\x00O8"))
    return path


def _hex_chain(path: Path, rounds: int = 30) -> Path:
    """``_codecs.encode(..., "hex")`` applied ``rounds`` times: each doubles the bytes."""
    text = b"\x80\x02}X\x04\x00\x00\x00data" + b"c_codecs\nencode\nq\x00" + b"0"
    inner = b"C\x08" + b"\xff" * 8
    for _ in range(rounds):
        inner = b"h\x00" + inner + b"X\x03\x00\x00\x00hex\x86R"
    path.write_bytes(text + inner + b"s.")
    return path


def _memo_slot(path: Path) -> Path:
    path.write_bytes(b"\x80\x02K\x01r\xff\xff\xff\x7f.")  # LONG_BINPUT 2**31 - 1
    return path


@pytest.mark.parametrize("make", [_object_ids, _hex_chain, _memo_slot])
def test_hostile_pickles_are_refused_in_a_child(
    worker: Worker, tmp_path: Path, make: object
) -> None:
    assert callable(make)
    assert worker.load("unlabeled", make(tmp_path / "hostile.pkl")) == REFUSED


def test_bool_images_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bool.pkl"
    path.write_bytes(pickle.dumps({b"data": np.ones((2, 32, 32, 3), dtype=bool)}))
    with pytest.raises(ValueError, match="bool"):
        load_unlabeled_pickle(path)


def test_a_pickle_without_images_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "none.pkl"
    path.write_bytes(pickle.dumps({b"data": np.zeros((0, 32, 32, 3), np.uint8)}))
    with pytest.raises(ValueError, match="holds no images"):
        load_unlabeled(path)


def _declaring(length: int) -> bytes:
    """A protocol 3 uint8 array of 3 bytes whose state declares ``length`` of them."""
    real = pickle.dumps(np.zeros(3, np.uint8), protocol=3)
    return real.replace(b"K\x03\x85", b"J" + length.to_bytes(4, "little") + b"\x85")


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (_declaring(10**9), "needs 1,000,000,000 bytes"),
        (pickle.dumps(np.zeros(2, dtype=[("a", "u1")]), protocol=2), "dtype"),
        (pickle.dumps(np.array([None, 1], dtype=object), protocol=2), "builtins.int|dtype"),
        (pickle.dumps({b"data": np.zeros(4)}, protocol=4)[:-7], "readable"),
        (b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x05\x00\x00\x00utf_8\x86R.", "latin"),
        (b"\x80\x02cbuiltins\nbytearray\nJ\x00\x00\x00\x40\x85R.", "allocate"),
    ],  # fmt: skip
)
def test_malformed_pickles_end_in_the_librarys_error(
    tmp_path: Path, payload: bytes, match: str
) -> None:
    path = tmp_path / "bad.pkl"
    path.write_bytes(payload)
    with pytest.raises(RefusedPickleError, match=match) as info:
        load_unlabeled_pickle(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_every_protocol_still_loads(tmp_path: Path, protocol: int) -> None:
    data = np.arange(2 * 32 * 32 * 3, dtype=np.int64).reshape(2, 32, 32, 3) % 256
    path = tmp_path / "ok.pkl"
    path.write_bytes(pickle.dumps({b"data": data, b"ids": np.array(["a", "b"])}, protocol))
    images, ids = load_unlabeled(path)
    assert ids == ["a", "b"] and images.permute(0, 2, 3, 1).numpy().tolist() == data.tolist()


def test_every_committed_crasher_is_refused(worker: Worker) -> None:
    """Pickles the fuzzing found that an earlier reader crashed on (a segfault), ran out
    of memory on, or let through as another exception (SystemError, IndexError,
    LookupError, AttributeError, UnpicklingError) or without naming the file; each is
    one bit flipped in a valid pickle of 4 images (``flip-OFFSET-BIT.pkl``)."""
    crashers = sorted(CRASHERS.glob("*.pkl"))
    assert crashers, f"no crashers under {CRASHERS}"
    for path in crashers:
        assert worker.load("unlabeled", path) in (REFUSED, "ValueError True"), path.name


def _fuzz_unlabeled(worker: Worker, folder: Path, changes: list) -> None:
    valid = pickle.dumps({b"data": np.arange(4 * 32 * 32 * 3, dtype=np.uint8).reshape(4, 32, 32, 3),
                          b"ids": np.arange(4)}, protocol=2)  # fmt: skip
    path = folder / f"fuzz-{abs(hash(repr(changes)))}.pkl"
    path.write_bytes(mutate(valid, changes))
    outcome = worker.load("unlabeled", path)
    # Loads, or the library's own error naming the file: never a crash, a blow-up,
    # a hang or another exception.
    assert outcome == "ok" or outcome in (REFUSED, "ValueError True"), (outcome, changes)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(changes=mutations())
def test_fuzzed_pickles_end_in_the_librarys_error(
    worker: Worker, tmp_path_factory: pytest.TempPathFactory, changes: list
) -> None:
    _fuzz_unlabeled(worker, tmp_path_factory.mktemp("fuzz"), changes)


@pytest.mark.slow
@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(changes=mutations())
def test_fuzzed_pickles_at_length(
    worker: Worker, tmp_path_factory: pytest.TempPathFactory, changes: list
) -> None:
    _fuzz_unlabeled(worker, tmp_path_factory.mktemp("fuzz"), changes)
