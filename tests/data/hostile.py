"""A worker process that loads files under a memory limit and reports how each load
ended, so that a segfault, a memory blow-up or a hang fails a test, not pytest."""

from __future__ import annotations

import os
import resource
import select
import subprocess
import sys
from pathlib import Path

# After its imports (torch alone maps a few GB of address space) the child allows
# itself LIMIT more bytes of address space, then loads one file per line of stdin.
CHILD = r"""
import resource, sys
from resdepth.data import load_unlabeled
from resdepth.models import load_paper_checkpoint
status = open("/proc/self/status").read().split("VmSize:")[1].split()[0]
limit = int(status) * 1024 + int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
print("ready", flush=True)
for line in sys.stdin:
    kind, _, path = line.rstrip("\n").partition(" ")
    if kind == "peak":  # the most memory this process has held so far, in KiB
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True)
        continue
    try:
        (load_unlabeled if kind == "unlabeled" else load_paper_checkpoint)(path)
        print("ok", flush=True)
    except BaseException as err:
        print(type(err).__name__, path in str(err), flush=True)
"""
LIMIT = 1 << 30


def _no_core_dumps() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class Worker:
    """Loads files one at a time in a child process; restarts it after a crash."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.limit = limit  # bytes of address space the child may add after its imports

    def _start(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(self.limit)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0,
            preexec_fn=_no_core_dumps, env={**os.environ, "OMP_NUM_THREADS": "1"},
        )  # fmt: skip
        assert self._line(proc, 300) == "ready"
        return proc

    @staticmethod
    def _line(proc: subprocess.Popen[bytes], timeout: float) -> str | None:
        assert proc.stdout is not None
        out = b""
        while not out.endswith(b"\n"):
            if not select.select([proc.stdout], [], [], timeout)[0]:
                return None
            byte = proc.stdout.read(1)
            if not byte:
                return None
            out += byte
        return out.decode().strip()

    def load(self, kind: str, path: Path, timeout: float = 60) -> str:
        """``ok``, ``<exception name> <whether the message names the file>``,
        ``timeout``, or ``died <exit status>`` (a negative one: the signal)."""
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self._start()
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{kind} {path}\n".encode())
        line = self._line(self.proc, timeout)
        if line is not None:
            return line
        status = self.close()
        return "timeout" if status == -9 else f"died {status}"

    def peak(self) -> int:
        """The most resident memory the child has held so far, in bytes."""
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self._start()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"peak -\n")
        line = self._line(self.proc, 60)
        assert line is not None and line.isdigit(), line
        return int(line) * 1024

    def close(self) -> int | None:
        """Stop the child; its exit status."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        proc.kill()
        status = proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()
        return status


# Mutations of a valid file, as hypothesis draws them: (kind, offset, payload).
def mutations() -> object:
    from hypothesis import strategies as st

    offset = st.integers(0, 2**31)
    return st.lists(
        st.one_of(
            st.tuples(st.just("flip"), offset, st.integers(0, 7)),
            st.tuples(st.just("truncate"), offset, st.just(0)),
            st.tuples(st.just("insert"), offset, st.binary(min_size=1, max_size=16)),
        ),
        min_size=1,
        max_size=3,
    )


def mutate(data: bytes, changes: list[tuple[str, int, object]]) -> bytes:
    """``data`` with bits flipped, cut short or bytes inserted at the drawn offsets."""
    out = bytearray(data)
    for kind, offset, payload in changes:
        at = offset % max(len(out), 1)
        if kind == "flip" and out:
            out[at] ^= 1 << int(payload)  # type: ignore[call-overload]
        elif kind == "truncate":
            del out[at:]
        elif kind == "insert":
            out[at:at] = payload  # type: ignore[assignment]
    return bytes(out)
