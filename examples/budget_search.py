"""Depth against width under a parameter budget: the widest ResNet of each depth under 5M.

    python examples/budget_search.py --out runs/budget
    python examples/budget_search.py --budget 2000000 --base-widths 16 32 64 128

For each depth, blocks are spread evenly over four stages (depth = 2 + 2 * blocks for
BasicBlocks); fit_widths scales the base widths to the largest that fits.  The paper's
three shapes are listed too.  Writes budget.md; --data and --epochs are accepted for
symmetry with the other examples and not used (nothing is trained).
"""

from __future__ import annotations

from pathlib import Path

from _shared import markdown_table, parser

from resdepth import ResNet, count_macs, fit_widths

PAPER_SHAPES = {"ResNet10": (1, 1, 1, 1), "ResNet40": (5, 7, 4, 3), "ResNet102": (8, 13, 17, 12)}
PAPER_BASES = {"ResNet10": (64, 128, 256, 512), "ResNet40": (32, 64, 128, 256),
               "ResNet102": (16, 32, 64, 128)}  # fmt: skip


def main() -> None:
    p = parser(__doc__.splitlines()[0], "runs/budget")
    p.add_argument("--budget", type=int, default=5_000_000)
    p.add_argument("--base-widths", type=int, nargs=4, default=(16, 32, 64, 128))
    p.add_argument("--max-blocks", type=int, default=12, help="blocks per stage, at most")
    args = p.parse_args()
    shapes = {
        f"even x{n}": (n, n, n, n) for n in range(1, (3 if args.smoke else args.max_blocks) + 1)
    }
    rows = []
    for name, layers in {**PAPER_SHAPES, **shapes}.items():
        fit = fit_widths(layers, args.budget, base_widths=PAPER_BASES.get(name, args.base_widths))
        macs = count_macs(ResNet(layers=layers, widths=fit.widths))
        depth = 2 + 2 * sum(layers)
        rows.append([name, depth, list(layers), list(fit.widths), f"{fit.num_parameters:,}",
                     f"{macs / 1e6:,.0f}M"])  # fmt: skip
    table = markdown_table(["shape", "depth", "blocks per stage", "widths", "parameters",
                            "forward MACs (32x32)"], rows)  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "budget.md").write_text(f"Budget: {args.budget:,} parameters.\n\n" + table)
    print(table + f"wrote {out / 'budget.md'}")


if __name__ == "__main__":
    main()
