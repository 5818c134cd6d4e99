"""CPU latency of one forward pass per deployment route: eager, torch.compile, TorchScript,
torch.export and onnxruntime.

Every route runs the same eval-mode preset on the same random batch. After warm-up
(and compilation), the routes are timed round by round, interleaved so that drifts of
a shared machine hit all alike; a round times enough calls to last about 0.2 s, and
the median round counts (milliseconds per call). TorchScript is ``torch.jit.script``,
else ``torch.jit.trace``, then frozen; onnxruntime runs the dynamo exporter's file
(the TorchScript-based exporter's when that fails) with as many threads as torch. A
route that is unavailable is skipped with a printed note.

    python benchmarks/deploy.py --threads 2 --models resnet10 resnet40 --batch-sizes 1 64
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_common_options, machine_info, print_table, setup, write_json  # noqa: E402

from resdepth import get_model  # noqa: E402

ROUTES = ("eager", "compile", "torchscript", "export", "onnxruntime")
Forward = Callable[[torch.Tensor], torch.Tensor]


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for package in ("onnx", "onnxruntime", "onnxscript"):
        try:
            found[package] = __import__(package).__version__
        except ImportError:
            found[package] = None
    return found


def _torchscript(model: nn.Module, x: torch.Tensor) -> tuple[Forward, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript's deprecation and tracer warnings
        try:
            module, how = torch.jit.script(model), "script"
        except Exception:  # any scripting failure: trace instead
            module, how = torch.jit.trace(model, x), "trace"
        return torch.jit.freeze(module), how


def _onnx_session(model: nn.Module, x: torch.Tensor, folder: str) -> tuple[Forward, str]:
    import onnxruntime as ort  # ImportError: the route is skipped

    path = os.path.join(folder, "model.onnx")
    names = {"input_names": ["images"], "output_names": ["logits"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation warning
        try:
            program = torch.onnx.export(
                model, (x,), dynamo=True, verbose=False, **names,
                dynamic_shapes={"x": {0: torch.export.Dim("batch")}},
            )  # fmt: skip
            assert program is not None
            program.save(path)
            how = "dynamo exporter"
        except Exception:  # e.g. no onnxscript: the older exporter
            axes = {"images": {0: "batch"}, "logits": {0: "batch"}}
            torch.onnx.export(model, (x,), path, dynamo=False, dynamic_axes=axes, **names)
            how = "TorchScript-based exporter"
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    def run(batch: torch.Tensor) -> torch.Tensor:
        (logits,) = session.run(["logits"], {"images": batch.numpy()})
        return torch.from_numpy(logits)

    return run, how


def prepare(route: str, model: nn.Module, x: torch.Tensor, folder: str) -> tuple[Forward, str]:
    """The forward function of ``route`` and a word on how it was built."""
    if route == "eager":
        return model, ""
    if route == "compile":
        return torch.compile(model, fullgraph=True, dynamic=False), "fullgraph=True"
    if route == "torchscript":
        return _torchscript(model, x)
    if route == "export":
        program = torch.export.export(model, (x,))
        return program.module(), ""
    if route == "onnxruntime":
        return _onnx_session(model, x, folder)
    raise ValueError(f"unknown route {route!r}; choose from {', '.join(ROUTES)}")


def time_calls(fn: Forward, x: torch.Tensor, calls: int) -> float:
    """Milliseconds per call over ``calls`` calls."""
    start = time.perf_counter()
    for _ in range(calls):
        fn(x)
    return 1000.0 * (time.perf_counter() - start) / calls


def measure(
    name: str, batch: int, routes: Sequence[str], rounds: int, folder: str
) -> list[dict[str, Any]]:
    torch.manual_seed(0)
    model = get_model(name).eval()
    x = torch.randn(batch, 3, 32, 32)
    ready: dict[str, tuple[Forward, int]] = {}
    results: dict[str, dict[str, Any]] = {}
    with torch.inference_mode():
        expected = model(x)
    for route in routes:
        entry: dict[str, Any] = {"model": name, "batch": batch, "route": route, "how": "",
                                 "median_ms": None, "rounds_ms": [], "prepare_seconds": None,
                                 "max_abs_difference": None, "note": None}  # fmt: skip
        results[route] = entry
        start = time.perf_counter()
        try:
            fn, entry["how"] = prepare(route, model, x, folder)
            with torch.inference_mode():
                out = fn(x)  # the first call compiles where a route compiles lazily
                entry["prepare_seconds"] = time.perf_counter() - start
                for _ in range(2):
                    fn(x)
                one = time_calls(fn, x, 1)
        except Exception as error:  # an unavailable route is skipped
            entry["note"] = f"{type(error).__name__}: {str(error).splitlines()[0][:120]}"
            print(f"skipped {route} for {name} at batch {batch}: {entry['note']}", flush=True)
            continue
        entry["max_abs_difference"] = (out - expected).abs().max().item()
        ready[route] = (fn, max(1, round(200.0 / max(one, 1e-3))))
    with torch.inference_mode():
        for _ in range(rounds):  # interleaved, so drifts hit every route alike
            for route, (fn, calls) in ready.items():
                results[route]["rounds_ms"].append(time_calls(fn, x, calls))
    for route in ready:
        results[route]["median_ms"] = statistics.median(results[route]["rounds_ms"])
    return list(results.values())


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_options(parser)
    parser.set_defaults(device="cpu")
    parser.add_argument("--models", nargs="+", default=["resnet10", "resnet40"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 64])
    parser.add_argument("--routes", nargs="+", default=list(ROUTES), choices=ROUTES)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    device = setup(args)
    if device.type != "cpu":
        parser.error("deploy.py measures CPU latency: use --device cpu")
    load_before = os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            for batch in args.batch_sizes:
                for entry in measure(name, batch, args.routes, args.rounds, folder):
                    results.append(entry)
                    if entry["median_ms"] is not None:
                        print(f"{name} batch {batch} {entry['route']}: "
                              f"{entry['median_ms']:.2f} ms", flush=True)  # fmt: skip
    load_after = os.getloadavg()
    machine = {**machine_info(device), **versions()}
    eager = {(r["model"], r["batch"]): r["median_ms"] for r in results if r["route"] == "eager"}
    rows = []
    for r in results:
        ms, base = r["median_ms"], eager.get((r["model"], r["batch"]))
        rows.append([r["model"], r["batch"], r["route"] + (f" ({r['how']})" if r["how"] else ""),
                     "-" if ms is None else f"{ms:.2f}",
                     "-" if ms is None else f"{1000.0 * r['batch'] / ms:,.0f}",
                     "-" if ms is None or base is None else f"{base / ms:.2f}x"])  # fmt: skip
    print(f"{machine['cpu_model']}, {machine['cpu_count']} cores, threads={torch.get_num_threads()}"
          f", torch {machine['torch']}, onnxruntime {machine['onnxruntime']}, rounds={args.rounds}"
          f"; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")  # fmt: skip
    print_table(["model", "batch", "route", "median ms", "images/s", "vs eager"], rows)
    payload = {"benchmark": "deploy", "machine": machine, "threads": torch.get_num_threads(),
               "rounds": args.rounds, "load_average_before": list(load_before),
               "load_average_after": list(load_after), "results": results}  # fmt: skip
    write_json(args.json, payload)
    return payload


if __name__ == "__main__":
    main()
