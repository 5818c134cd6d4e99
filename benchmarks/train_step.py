"""Images/s of a training step (forward, backward, SGD) per preset, beside a plain reference.

The reference is the paper's network written plainly in a few dozen lines below (the
structure its code used), so the comparison shows what resdepth's model code costs.
Both run in the same process, interleaved round by round; the median round counts.

    python benchmarks/train_step.py --models resnet40 --variants fp32 channels_last --json out.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_common_options, machine_info, print_table, setup, synchronize, write_json  # noqa: E402

from resdepth import count_parameters, get_model  # noqa: E402


class PlainBlock(nn.Module):
    """The paper's BasicBlock, as such code is usually written."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class PlainResNet(nn.Module):
    def __init__(self, layers: Sequence[int], widths: Sequence[int], num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        blocks, cin = [], widths[0]
        for i, (n, w) in enumerate(zip(layers, widths, strict=True)):
            for j in range(n):
                blocks.append(PlainBlock(cin, w, 2 if (i > 0 and j == 0) else 1))
                cin = w
        self.blocks = nn.Sequential(*blocks)
        self.linear = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.blocks(F.relu(self.bn1(self.conv1(x))))
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


def make_step(model: nn.Module, variant: str, batch: int, device: torch.device):  # noqa: ANN201
    # A variant names its parts: "fp32", "channels_last", "bf16_channels_last",
    # "bf16_channels_last_compile", ...
    channels_last = "channels_last" in variant
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device=device, memory_format=fmt).train()
    net = torch.compile(model) if variant.endswith("compile") else model
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, 3, 32, 32, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (batch,), device=device)
    bf16 = variant.startswith("bf16")

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def time_steps(step, steps: int, device: torch.device) -> float:  # noqa: ANN001
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_options(parser)
    parser.add_argument("--models", nargs="+", default=["resnet10", "resnet40", "resnet102"])
    parser.add_argument("--variants", nargs="+", default=None,
                        help="fp32, channels_last, bf16_channels_last, bf16_channels_last_compile "
                             "(default: all on CUDA; fp32 and channels_last on CPU)")  # fmt: skip
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=None, help="steps per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    device = setup(args)
    variants = args.variants or (
        ["fp32", "channels_last", "bf16_channels_last", "bf16_channels_last_compile"]
        if device.type == "cuda"
        else ["fp32", "channels_last"]
    )  # fmt: skip
    steps = args.steps or (20 if device.type == "cuda" else 2)
    rows, results = [], []
    for name in args.models:
        ours_model = get_model(name)
        ref_model = PlainResNet(ours_model.layers, ours_model.widths)
        assert count_parameters(ref_model) == count_parameters(ours_model)
        for variant in variants:
            ours = make_step(ours_model, variant, args.batch, device)
            ref = make_step(ref_model, variant, args.batch, device)
            for _ in range(3 if variant.endswith("compile") else 1):  # warm-up, compilation
                ours(), ref()
            t_ours, t_ref = [], []
            for _ in range(args.rounds):  # interleaved, so drifts hit both alike
                t_ours.append(time_steps(ours, steps, device))
                t_ref.append(time_steps(ref, steps, device))
            ips_ours = args.batch * steps / statistics.median(t_ours)
            ips_ref = args.batch * steps / statistics.median(t_ref)
            ratio = ips_ours / ips_ref
            results.append({"model": name, "variant": variant, "batch": args.batch,
                            "resdepth_images_per_s": ips_ours, "reference_images_per_s": ips_ref,
                            "ratio": ratio, "meets_0.97": ratio >= 0.97})  # fmt: skip
            rows.append([name, variant, ips_ours, ips_ref, f"{ratio:.3f}"])
            print(f"{name} {variant}: resdepth {ips_ours:,.0f} img/s, "
                  f"reference {ips_ref:,.0f} img/s", flush=True)  # fmt: skip
    print(f"device={device} threads={torch.get_num_threads()} batch={args.batch}")
    print_table(["model", "variant", "resdepth img/s", "reference img/s", "ratio"], rows)
    payload = {"benchmark": "train_step", "machine": machine_info(device), "batch": args.batch,
               "results": results}  # fmt: skip
    write_json(args.json, payload)
    return payload


if __name__ == "__main__":
    main()
