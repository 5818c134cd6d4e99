"""Render the measured figures into the README and the documentation.

Every figure lives once, in ``src/resdepth/recipes/measurements.jsonl`` (the benchmark
scripts append to it with ``--record``).  This script writes the README's tables between
their ``<!-- figures: NAME -->`` and ``<!-- /figures -->`` markers and the documentation's
``docs/_generated/figures.rst`` (which the performance page includes); the documentation
build runs it, and a test fails when the README differs from its rendering::

    python docs/render_figures.py            # rewrite the README's tables and the page
    python docs/render_figures.py --check    # exit 1 where the README is stale
    python docs/render_figures.py --plot docs/_static/figures.png   # the picture
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Sequence
from pathlib import Path

from resdepth.recipes import Measurement, comparison_table, load_measurements, measurements_table

ROOT = Path(__file__).resolve().parents[1]

README = ROOT / "README.md"
GENERATED = ROOT / "docs" / "_generated" / "figures.rst"
# The README's performance table: the headline benchmarks.
HEADLINE = ("speedrun", "speedrun-peer", "time_budget", "time_to_accuracy")
# The performance page's sections, in order: a benchmark each, and its title.
SECTIONS = {
    "quickstart": "The Quick start",
    "speedrun": "The speedrun",
    "speedrun-peer": "The peer: airbench94's own script",
    "time_budget": "ResNet10 to a time budget",
    "time_to_accuracy": "The Trainer against plain and hand-tuned loops",
    "accuracy_vs_time": "Recipes at a short scale",
}
_BLOCK = re.compile(r"(<!-- figures: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /figures -->)", re.S)


def _of(measurements: Sequence[Measurement], *benchmarks: str) -> list[Measurement]:
    return [m for m in measurements if m.benchmark in benchmarks]


def quickstart_lines(measurements: Sequence[Measurement]) -> str:
    """The Quick start's time on each kind of machine measured, a bullet each."""
    lines = []
    for m in sorted(_of(measurements, "quickstart"), key=lambda m: m.machine.rank):
        lines.append(f"- {m.machine.kind}: {m.headline} ({m.machine.cpu}, {m.date})")
    return "\n".join(lines) + "\n"


def readme_blocks(measurements: Sequence[Measurement]) -> dict[str, str]:
    """The README's rendered blocks, by marker name."""
    return {
        "quickstart": quickstart_lines(measurements),
        "performance": comparison_table(_of(measurements, *HEADLINE)),
    }


def render_readme(text: str, measurements: Sequence[Measurement]) -> str:
    """``text`` with every figures block replaced by its rendering.

    Raises:
        ValueError: for a block whose name has no rendering.
    """
    blocks = readme_blocks(measurements)

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in blocks:
            raise ValueError(f"README block {name!r} has no rendering (known: {sorted(blocks)})")
        return match[1] + blocks[name] + match[4]

    return _BLOCK.sub(replace, text)


def performance_page(measurements: Sequence[Measurement]) -> str:
    """The performance page's current figures: the comparison, then a section a
    benchmark with every entry's machine, load, date and command."""
    out = [
        ".. This file is written by docs/render_figures.py from",
        "   src/resdepth/recipes/measurements.jsonl: edit that file, not this one.",
        "",
        comparison_table(measurements, style="rst"),
    ]
    columns = ("what", "machine", "results", "load", "date", "command")
    for benchmark, title in SECTIONS.items():
        entries = _of(measurements, benchmark)
        if entries:
            out += [title, "~" * len(title), "", measurements_table(entries, "rst", columns)]
    return "\n".join(out)


def plot(measurements: Sequence[Measurement], path: Path) -> None:
    """Test accuracy against wall time, a point an entry, coloured by kind of machine."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    colours: dict[str, str] = {}
    palette = iter(["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"])
    placed: list[tuple[float, float]] = []
    for m in sorted(measurements, key=lambda m: m.machine.rank):
        accuracy = next((r for r in m.results if r.unit == "%"), None)
        minutes = next((r for r in m.results if r.name == "wall time"), None)
        if accuracy is None or minutes is None or m.benchmark == "accuracy_vs_time":
            continue
        scale = {"min": 1.0, "s": 1 / 60, "h": 60.0}.get(minutes.unit)
        if scale is None:
            continue
        kind = m.machine.kind
        first = kind not in colours
        if first:
            colours[kind] = next(palette)
        colour = colours[kind]
        x, y = minutes.value * scale, accuracy.value
        ax.scatter(x, y, color=colour, s=40, label=kind if first else None)
        # Points a few percent of a decade and a point of accuracy apart would print their
        # labels over each other: each such neighbour drawn before moves the label down.
        near = sum(abs(math.log10(x / px)) < 0.08 and abs(y - py) < 1.5 for px, py in placed)
        placed.append((x, y))
        ax.annotate(_label(m), (x, y), fontsize=7, xytext=(4, 3 - 9 * near),
                    textcoords="offset points")  # fmt: skip
    ax.set_xscale("log")
    low, high = ax.get_xlim()
    ax.set_xlim(low, high * 1.4)  # room for the labels of the slowest points
    ticks = matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}")
    ax.xaxis.set_major_formatter(ticks)
    ax.xaxis.set_minor_formatter(ticks)
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel("wall time of the command (minutes, log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Measured runs: accuracy against time, by kind of machine")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="center left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def _label(m: Measurement) -> str:
    """A point's label: a speedrun's recipe ("airbench94"), "Peer" of "Peer: ...", "fast"
    of "ResNet10, fast, ..."."""
    what = m.what
    if m.benchmark == "speedrun" and m.recipe:
        return m.recipe
    if ":" in what:
        return what.split(":")[0]
    parts = what.split(", ")
    return parts[1] if parts[0].startswith("ResNet") and len(parts) > 1 else parts[0]


def write_docs(measurements: Sequence[Measurement] | None = None) -> Path:
    """Write ``docs/_generated/figures.rst`` (the documentation build calls this)."""
    entries = load_measurements() if measurements is None else measurements
    GENERATED.parent.mkdir(exist_ok=True)
    text = performance_page(entries)
    if not GENERATED.exists() or GENERATED.read_text(encoding="utf-8") != text:
        GENERATED.write_text(text, encoding="utf-8")
    return GENERATED


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the README is stale")
    parser.add_argument("--plot", type=Path, default=None, help="write the picture here (PNG)")
    args = parser.parse_args(argv)
    measurements = load_measurements()
    text = README.read_text(encoding="utf-8")
    rendered = render_readme(text, measurements)
    if args.check:
        stale = rendered != text
        print("README.md is stale: run python docs/render_figures.py" if stale else "up to date")
        return int(stale)
    if rendered != text:
        README.write_text(rendered, encoding="utf-8")
        print(f"wrote {README}")
    print(f"wrote {write_docs(measurements)}")
    if args.plot is not None:
        plot(measurements, args.plot)
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
