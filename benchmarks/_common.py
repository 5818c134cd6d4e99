"""Shared helpers of the benchmark scripts: timing, machine facts, tables, JSON and
``--record`` (an entry appended to the measurements file the README is rendered from)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch


def _cpu_model() -> str:
    """The processor's model name (Linux), else what the platform says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> dict[str, bool]:
    """Whether the CPU has AVX2, AVX-512 BF16 and AMX (Linux's /proc/cpuinfo)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    flags = set(next((ln.split(":", 1)[1].split() for ln in text.splitlines()
                      if ln.startswith("flags")), []))  # fmt: skip
    return {"avx2": "avx2" in flags, "avx512_bf16": "avx512_bf16" in flags,
            "amx_bf16": "amx_bf16" in flags}  # fmt: skip


def machine_info(device: torch.device) -> dict[str, Any]:
    """What a reader needs to compare numbers: CPU or GPU, threads, versions."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    for package in ("torchvision", "kornia"):
        try:
            info[package] = __import__(package).__version__
        except ImportError:
            info[package] = None
    return info


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def throughput(
    fn: Callable[[], object],
    items_per_call: int,
    device: torch.device,
    min_seconds: float = 1.0,
    warmup: int = 3,
    max_calls: int = 10_000,
) -> float:
    """Items per second of ``fn``, timed over at least ``min_seconds`` after warm-up."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    calls = 0
    start = time.perf_counter()
    while True:
        fn()
        calls += 1
        if calls % 5 == 0 or calls >= max_calls:
            synchronize(device)
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds or calls >= max_calls:
                return items_per_call * calls / elapsed


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(h) for h in headers]] + [
        [f"{c:,.0f}" if isinstance(c, float) and c >= 100 else str(c) for c in r] for r in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, r in enumerate(cells):
        print(
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
        if n == 0:
            print("  ".join("-" * w for w in widths))


def write_json(path: str | os.PathLike[str] | None, payload: dict[str, Any]) -> None:
    if path is None:
        return
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {out}")


def add_common_options(
    parser: argparse.ArgumentParser, threads: int | None = None
) -> argparse.ArgumentParser:
    """--device, --threads and --json, which every benchmark takes."""
    parser.add_argument("--device", default="auto", help="cpu, cuda ... (default: CUDA if present)")
    parser.add_argument("--threads", type=int, default=threads, help="torch intra-op threads")
    parser.add_argument("--json", default=None, help="write the results here")
    return parser


def add_run_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """--subset, --device, --out and --json of the benchmarks that run ``resdepth train``."""
    parser.add_argument("--subset", type=int, default=None, help="images per split (a quick check)")
    parser.add_argument("--device", default=None, help="as --device of resdepth train")
    parser.add_argument("--out", default=None, help="the run folder (default: a temporary one)")
    parser.add_argument("--json", default=None, help="write the results here")
    return parser


def setup(args: argparse.Namespace) -> torch.device:
    """Apply --threads (when given) and return the --device to measure on."""
    if args.threads:
        torch.set_num_threads(args.threads)
    return pick_device(args.device)


def pick_device(name: str | None) -> torch.device:
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def add_record_option(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """--record [FILE]: append the result to the measurements file (the package's own,
    which the README, the performance page and ``resdepth recipes -v`` render)."""
    from resdepth.recipes import MEASUREMENTS_FILE

    parser.add_argument("--record", nargs="?", const=str(MEASUREMENTS_FILE), default=None,
                        metavar="FILE", help="append the result to the measurements file "
                        f"(default file: {MEASUREMENTS_FILE.name} in the package)")  # fmt: skip
    return parser


def record(
    path: str | os.PathLike[str] | None,
    payload: dict[str, Any],
    *,
    what: str,
    results: Sequence[tuple[str, float, str]],
    recipe: str | None = None,
    note: str | None = None,
) -> None:
    """Append one entry built from a benchmark's ``payload`` (its ``benchmark``,
    ``command``, ``date``, loads and ``machine``) to the measurements file at ``path``;
    nothing when ``path`` is None.  The entry is checked as the file's reader checks it.

    ``results`` are ``(name, value, unit)``; a list value gives its mean with the
    standard deviation as the spread.
    """
    if path is None:
        return
    from resdepth.recipes import Measurement

    m = payload["machine"]
    flags = {**cpu_flags(), **{k: m[k] for k in ("avx2", "avx512_bf16", "amx_bf16") if k in m}}
    entry: dict[str, Any] = {
        "benchmark": payload["benchmark"],
        "what": what,
        "recipe": recipe,
        "results": [_result(name, value, unit) for name, value, unit in results],
        "command": payload["command"],
        "date": payload["date"][:10],
        "load_before": payload.get("load_average_before"),
        "load_after": payload.get("load_average_after"),
        "machine": {  # fmt: skip
            "cpu": m["cpu_model"],
            "cores": m["cpu_count"],
            "threads": m["torch_threads"],
            "avx2": flags["avx2"],
            "avx512_bf16": flags["avx512_bf16"],
            "amx": flags["amx_bf16"],
            "torch": m["torch"],
            "gpu": m.get("gpu"),
        },
        "note": note,
    }
    entry = Measurement.from_dict(entry).to_dict()  # checked, and None fields left out
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")
    print(f"recorded in {path}")


def _result(name: str, value: float | Sequence[float], unit: str) -> dict[str, Any]:
    if isinstance(value, int | float):
        return {"name": name, "value": round(float(value), 2), "unit": unit}
    values = [float(v) for v in value]
    mean = sum(values) / len(values)
    out = {"name": name, "value": round(mean, 2), "unit": unit}
    if len(values) > 1:
        spread = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
        out["spread"] = round(spread, 2)
    return out
