"""Depth against width under a parameter budget: the widest ResNet of each depth under 5M.

    python examples/budget_search.py --out runs/budget
    python examples/budget_search.py --budget 2000000 --base-widths 16 32 64 128

For each depth, blocks are spread evenly over four stages (depth = 2 + 2 * blocks for
BasicBlocks); fit_widths scales the base widths to the largest that fits.  The paper's
three networks are listed as its presets build them.  Writes budget.md; nothing is
trained.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _shared import markdown_table

from resdepth import ResNet, count_macs, count_parameters, fit_widths, get_model

#: The paper's three networks, as the presets build them (their widths are the paper's).
PAPER_PRESETS = {"ResNet10": "resnet10", "ResNet40": "resnet40", "ResNet102": "resnet102"}


def _row(name: str, net: ResNet) -> list[object]:
    layers = list(net.layers)
    return [name, 2 + 2 * sum(layers), layers, list(net.widths), f"{count_parameters(net):,}",
            f"{count_macs(net) / 1e6:,.0f}M"]  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=None, help="output folder (default: runs/budget)")
    p.add_argument("--budget", type=int, default=5_000_000)
    p.add_argument("--base-widths", type=int, nargs=4, default=(16, 32, 64, 128))
    p.add_argument("--max-blocks", type=int, default=12, help="blocks per stage, at most")
    p.add_argument("--smoke", action="store_true", help="three depths only")
    args = p.parse_args()
    out = Path(args.out or ("runs/smoke/budget" if args.smoke else "runs/budget"))
    rows = [_row(name, get_model(preset)) for name, preset in PAPER_PRESETS.items()]
    for n in range(1, (3 if args.smoke else args.max_blocks) + 1):
        layers = (n, n, n, n)
        fit = fit_widths(layers, args.budget, base_widths=args.base_widths)
        rows.append(_row(f"even x{n}", ResNet(layers=layers, widths=fit.widths)))
    table = markdown_table(["shape", "depth", "blocks per stage", "widths", "parameters",
                            "forward MACs (32x32)"], rows)  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    (out / "budget.md").write_text(f"Budget: {args.budget:,} parameters.\n\n" + table)
    print(table + f"wrote {out / 'budget.md'}")


if __name__ == "__main__":
    main()
