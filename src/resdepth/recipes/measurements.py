"""Measured figures, kept as data rather than as sentences in the source.

``measurements.jsonl`` beside this module holds one JSON object a line: what was
measured (a benchmark of a recipe, a model or a part of the library), its results with
their units, the command, the date, the load average before and after, and the machine
(CPU model, cores, threads, whether the CPU has AVX2 / AVX-512 BF16 / AMX, the GPU, the
torch version).  The benchmark scripts append to it with ``--record``;
:func:`recipe_measurements` (``resdepth recipes -v``), the README's performance table and
the documentation's performance page are rendered from it, so a figure is written once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._validate import finite_float, flag, non_empty_string

__all__ = [
    "MEASUREMENTS_FILE",
    "Machine",
    "Measurement",
    "Result",
    "format_measurement",
    "load_measurements",
    "comparison_table",
    "measurements_table",
]

MEASUREMENTS_FILE = Path(__file__).with_name("measurements.jsonl")
# The largest file read: the figures of a project, not a log.
_MAX_BYTES = 1 << 20


def _text(where: str, value: object, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    return non_empty_string(where, value.strip() if isinstance(value, str) else value) and value


def _number(where: str, value: object, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    try:
        return finite_float(where, value)
    except TypeError as error:  # a file's content is a value error, whatever its type
        raise ValueError(str(error)) from None


def _unit(where: str, value: object) -> str:
    if not isinstance(value, str):  # "" for a count or a ratio without one
        raise ValueError(f"{where} must be a string, got {value!r}")
    return value


def _flag(where: str, value: object) -> bool:
    try:
        return bool(flag(where, value))
    except TypeError as error:
        raise ValueError(str(error)) from None


def _mapping(where: str, value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must be an object, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class Result:
    """One figure: ``value`` in ``unit``, with its spread (a standard deviation over
    runs) where there were several."""

    name: str
    value: float
    unit: str
    spread: float | None = None

    @property
    def figure(self) -> str:
        """The value with its spread and unit: ``90.69 +- 0.12%``, ``18.5 min``."""
        # Accuracies keep two decimals, as the test sets' 1/10,000 resolution gives them.
        number = f"{self.value:,.2f}"
        if self.unit != "%":
            number = number.rstrip("0").rstrip(".")
        spread = f" +- {self.spread:g}" if self.spread is not None else ""
        joiner = "" if self.unit in ("%", "x") else " "
        return f"{number}{spread}{joiner}{self.unit}".rstrip()

    def __str__(self) -> str:
        return f"{self.name} {self.figure}"


@dataclass(frozen=True)
class Machine:
    """The machine a figure was measured on."""

    cpu: str
    cores: int
    threads: int
    avx2: bool
    avx512_bf16: bool
    amx: bool
    torch: str
    gpu: str | None = None

    @property
    def kind(self) -> str:
        """The kind of machine, which decides what a figure can be compared with: the GPU,
        or a CPU by its bf16 instructions."""
        if self.gpu:
            return f"GPU: {self.gpu}"
        if self.amx:
            return f"{self.cores}-core CPU with AMX (native bf16)"
        if self.avx512_bf16:
            return f"{self.cores}-core CPU with AVX-512 BF16, no AMX (native bf16)"
        return f"{self.cores}-core CPU with AVX2, no native bf16"

    @property
    def rank(self) -> int:
        """Where the kind stands in a table: AVX2 only, AVX-512 BF16, AMX, then a GPU."""
        return 3 if self.gpu else 2 if self.amx else 1 if self.avx512_bf16 else 0

    def __str__(self) -> str:
        return f"{self.kind}: {self.cpu}, {self.threads} threads, torch {self.torch}"


@dataclass(frozen=True)
class Measurement:
    """One entry of the measurements file: what ran, its results and where and when.

    Attributes:
        what: what was measured, in a phrase ("ResNet10, fast, --time-budget 45min").
        results: the figures.
        command: the command that printed them.
        date: ISO date of the run.
        machine: the machine.
        load_before: the 1-minute load average when the run started.
        load_after: the same when it ended.
        benchmark: the benchmark's name (the script's, without ``.py``).
        recipe: the registered recipe measured, where one was.
        note: what a reader must know to compare the figure (the data, the precision).
    """

    what: str
    results: tuple[Result, ...]
    command: str
    date: str
    machine: Machine
    load_before: float | None
    load_after: float | None
    benchmark: str
    recipe: str | None = None
    note: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any], where: str = "entry") -> Measurement:
        """Read one entry, checking every field (a ``ValueError`` names the bad one)."""
        entry = _mapping(where, entry)
        m = _mapping(f"{where}.machine", entry.get("machine"))
        machine = Machine(
            cpu=_text(f"{where}.machine.cpu", m.get("cpu")),
            cores=int(_number(f"{where}.machine.cores", m.get("cores"))),
            threads=int(_number(f"{where}.machine.threads", m.get("threads"))),
            avx2=_flag(f"{where}.machine.avx2", m.get("avx2")),
            avx512_bf16=_flag(f"{where}.machine.avx512_bf16", m.get("avx512_bf16")),
            amx=_flag(f"{where}.machine.amx", m.get("amx")),
            torch=_text(f"{where}.machine.torch", m.get("torch")),
            gpu=_text(f"{where}.machine.gpu", m.get("gpu"), optional=True),
        )
        raw_results = entry.get("results")
        if not isinstance(raw_results, list) or not raw_results:
            raise ValueError(f"{where}.results must be a non-empty list, got {raw_results!r}")
        results = []
        for i, r in enumerate(raw_results):
            r = _mapping(f"{where}.results[{i}]", r)
            results.append(
                Result(
                    name=_text(f"{where}.results[{i}].name", r.get("name")),
                    value=_number(f"{where}.results[{i}].value", r.get("value")),
                    unit=_unit(f"{where}.results[{i}].unit", r.get("unit")),
                    spread=_number(f"{where}.results[{i}].spread", r.get("spread"), optional=True),
                )
            )
        date = _text(f"{where}.date", entry.get("date"))
        if len(date) != 10 or date[4] != "-" or date[7] != "-":
            raise ValueError(f"{where}.date must be an ISO date (YYYY-MM-DD), got {date!r}")
        known = {f.name for f in cls.__dataclass_fields__.values()}
        return cls(
            what=_text(f"{where}.what", entry.get("what")),
            results=tuple(results),
            command=_text(f"{where}.command", entry.get("command")),
            date=date,
            machine=machine,
            load_before=_number(f"{where}.load_before", entry.get("load_before"), optional=True),
            load_after=_number(f"{where}.load_after", entry.get("load_after"), optional=True),
            benchmark=_text(f"{where}.benchmark", entry.get("benchmark")),
            recipe=_text(f"{where}.recipe", entry.get("recipe"), optional=True),
            note=_text(f"{where}.note", entry.get("note"), optional=True),
            extra={k: v for k, v in entry.items() if k not in known},
        )

    def to_dict(self) -> dict[str, Any]:
        """The entry as the file holds it (``from_dict`` reads it back)."""
        out = asdict(self)
        out.pop("extra")
        out.update(self.extra)
        out["results"] = [{k: v for k, v in r.items() if v is not None} for r in out["results"]]
        out["machine"] = {k: v for k, v in out["machine"].items() if v is not None}
        return {k: v for k, v in out.items() if v is not None}

    @property
    def load(self) -> str:
        """The load averages, as a phrase."""
        parts = [
            f"{value:g} {when}"
            for value, when in ((self.load_before, "before"), (self.load_after, "after"))
            if value is not None
        ]
        return "load " + ", ".join(parts) if parts else "load not recorded"

    @property
    def headline(self) -> str:
        """The first result, and the wall time where it is another: ``90.69 +- 0.12% in
        18.5 +- 0.2 min``."""
        first = self.results[0]
        wall = next((r for r in self.results[1:] if r.name == "wall time"), None)
        return first.figure + (f" in {wall.figure}" if wall else "")


def load_measurements(path: str | Path | None = None) -> tuple[Measurement, ...]:
    """The entries of a measurements file, oldest first (the package's own by default).

    Raises:
        ValueError: for a file that is too large, a line that is not JSON, or an entry
            with a missing or malformed field (the message names the line and field).

    Examples:
        >>> from resdepth.recipes import load_measurements
        >>> all(m.results for m in load_measurements())
        True
    """
    source = Path(path) if path is not None else MEASUREMENTS_FILE
    if source.stat().st_size > _MAX_BYTES:
        raise ValueError(f"{source} is larger than {_MAX_BYTES} bytes: not a measurements file")
    entries = []
    for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{source}, line {number}: not JSON ({error.msg})") from None
        entries.append(Measurement.from_dict(entry, where=f"{source.name}, line {number}"))
    return tuple(entries)


def format_measurement(measurement: Measurement) -> str:
    """One line: the results, what ran, the machine, the date, the load and the command."""
    results = ", ".join(str(r) for r in measurement.results)
    note = f" ({measurement.note})" if measurement.note else ""
    return (
        f"{results}: {measurement.what}{note}; {measurement.machine}; {measurement.date}, "
        f"{measurement.load}; {measurement.command}"
    )


def measurements_table(
    measurements: Iterable[Measurement],
    style: str = "markdown",
    columns: Sequence[str] = ("what", "machine", "results", "date"),
) -> str:
    """A table of measurements, a row each: Markdown (the README) or reStructuredText
    (the documentation's list-table).

    Raises:
        ValueError: for an unknown ``style`` or column.
    """
    if style not in ("markdown", "rst"):
        raise ValueError(f"style must be 'markdown' or 'rst', got {style!r}")
    cells: dict[str, Callable[[Measurement], str]] = {
        "what": lambda m: m.what + (f" ({m.note})" if m.note else ""),
        "machine": lambda m: str(m.machine),
        "results": lambda m: ", ".join(str(r) for r in m.results),
        "date": lambda m: m.date,
        "command": lambda m: f"``{m.command}``" if style == "rst" else f"`{m.command}`",
        "load": lambda m: m.load,
    }
    unknown = [c for c in columns if c not in cells]
    if unknown:
        raise ValueError(f"columns must be among {sorted(cells)}, got {unknown}")
    return _render(list(columns), [[cells[c](m) for c in columns] for m in measurements], style)


# How many runs a measurement is, where its ``what`` ends with it.
_RUN_COUNT = re.compile(r", (\d+ (?:seeds?|runs?))$")


def comparison_table(measurements: Iterable[Measurement], style: str = "markdown") -> str:
    """One row for each thing measured (its ``what``), one column for each kind of
    machine, each cell the newest entry's :attr:`~Measurement.headline`; "-" where that
    kind was not measured.  A run count closing ``what`` (", 3 seeds", ", 1 run") goes
    into the cell instead, so that runs of one thing share a row whatever their count.

    Raises:
        ValueError: for an unknown ``style``.
    """
    entries = list(measurements)
    machines = sorted({m.machine.kind: m.machine for m in entries}.values(), key=_order)
    kinds = [machine.kind for machine in machines]
    rows: dict[str, dict[str, str]] = {}
    for m in entries:  # oldest first: a newer entry replaces an older one
        count = _RUN_COUNT.search(m.what)
        what = m.what[: count.start()] if count else m.what
        rows.setdefault(what, {})[m.machine.kind] = (
            f"{m.headline} ({count.group(1)})" if count else m.headline
        )
    table = [[what, *(cells.get(kind, "-") for kind in kinds)] for what, cells in rows.items()]
    return _render([" ", *kinds] if style == "rst" else ["", *kinds], table, style)


def _order(machine: Machine) -> tuple[int, str]:
    return machine.rank, machine.kind


def _render(header: Sequence[str], rows: Sequence[Sequence[str]], style: str) -> str:
    if style == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
                  for row in rows]  # fmt: skip
        return "\n".join(lines) + "\n"
    if style != "rst":
        raise ValueError(f"style must be 'markdown' or 'rst', got {style!r}")
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [list(header), *rows]:
        # Outside ``literals`` reStructuredText would print "--" as a dash.
        row = [c if c.startswith("``") else c.replace("--", "-\\-") for c in row]
        lines.append("   * - " + row[0])
        lines += [f"     - {cell}" for cell in row[1:]]
    return "\n".join(lines) + "\n"
