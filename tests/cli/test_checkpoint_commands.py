"""``resdepth eval`` and ``predict`` start quickly: they read a checkpoint and its data,
and never build the recipe's optimizer (the first one built imports torch._dynamo,
over a second on a small CPU machine)."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np

from resdepth import ResNet, Trainer
from resdepth.data import make_synthetic


def test_eval_and_predict_do_not_import_dynamo(tmp_path: Path) -> None:
    net = ResNet(layers=(1,), widths=(8,), num_classes=10)
    trainer = Trainer(net, device="cpu", progress=False, out_dir=tmp_path / "run")
    trainer.fit(trainer.build_loaders(make_synthetic(16, 10, 16))[0], epochs=1)
    hidden = tmp_path / "hidden.pkl"
    images = np.random.default_rng(1).integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    hidden.write_bytes(pickle.dumps({b"data": images}))
    checkpoint, csv = str(tmp_path / "run" / "last.pt"), str(tmp_path / "pred.csv")
    code = (
        "import json, sys\n"
        "from resdepth.cli import main\n"
        f"codes = [main(['eval', {checkpoint!r}, '--data', 'synthetic', '--subset', '20']),\n"
        f"         main(['predict', {checkpoint!r}, '--input', {str(hidden)!r},\n"
        f"               '--output', {csv!r}, '--tta'])]\n"
        "print(json.dumps([codes, 'torch._dynamo' in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("synthetic test") and "accuracy" in line for line in lines)
    assert json.loads(lines[-1]) == [[0, 0], False], done.stdout
    assert len(Path(csv).read_text().splitlines()) == 6
