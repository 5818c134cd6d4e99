"""The paper's trained models load without the paper's code, give its outputs, and run
nothing from the file."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
import torch

from resdepth import PaperCheckpointError, count_parameters
from resdepth.models import load_paper_checkpoint, read_paper_state_dict

# The structure of the paper's resnet.py, written here for the test: the class and
# attribute names its saved files carry.
PAPER_RESNET = textwrap.dedent(
    """
    import torch.nn as nn
    import torch.nn.functional as F


    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, k, skip_k, stride):
            super().__init__()
            self.conv1 = nn.Sequential(
                nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout))
            self.conv2 = nn.Sequential(
                nn.Conv2d(cout, cout, k, 1, k // 2, bias=False), nn.BatchNorm2d(cout))
            self.shortcut = nn.Sequential()
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(cin, cout, skip_k, stride, skip_k // 2, bias=False),
                    nn.BatchNorm2d(cout))

        def forward(self, x):
            out = self.conv2(F.relu(self.conv1(x)))
            return F.relu(out + self.shortcut(x))


    class ResNetBasicBlock(nn.Module):
        def __init__(self, blocks, widths, k=3, skip_k=1, name="ResNet", classes=10):
            super().__init__()
            self.name, self.in_channels, self.pool_size = name, widths[0], 1
            self.input_layer = nn.Sequential(
                nn.Conv2d(3, widths[0], k, 1, k // 2, bias=False), nn.BatchNorm2d(widths[0]))
            stages = []
            for i, (n, w) in enumerate(zip(blocks, widths)):
                layer = []
                for j in range(n):
                    layer.append(BasicBlock(self.in_channels, w, k, skip_k,
                                            2 if i and not j else 1))
                    self.in_channels = w
                stages.append(nn.Sequential(*layer))
            self.residual_layers = nn.Sequential(*stages)
            self.output_layer = nn.Sequential(
                nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(widths[-1], classes))

        def forward(self, x):
            return self.output_layer(self.residual_layers(F.relu(self.input_layer(x))))
    """
)

SAVE = textwrap.dedent(
    """
    import sys, torch
    sys.path.insert(0, sys.argv[1])
    from resnet import ResNetBasicBlock
    shapes = {
        "ResNet10": ([1, 1, 1, 1], [64, 128, 256, 512], 3, 1, 10),
        "ResNet40": ([5, 7, 4, 3], [32, 64, 128, 256], 3, 1, 10),
        "ResNet102": ([8, 13, 17, 12], [16, 32, 64, 128], 3, 1, 10),
        "small": ([2, 1], [8, 16], 5, 3, 10),
    }
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    for name, (blocks, widths, k, skip_k, classes) in shapes.items():
        torch.manual_seed(0)
        model = ResNetBasicBlock(blocks, widths, k, skip_k, name, classes)
        with torch.no_grad():  # running statistics that are not the defaults
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.1, 0.1)
                    m.running_var.uniform_(0.5, 1.5)
        model.eval()
        torch.save(model, f"{sys.argv[1]}/{name}.pth")
        torch.save(model.state_dict(), f"{sys.argv[1]}/{name}-state.pth")
        torch.save(model(x).detach(), f"{sys.argv[1]}/{name}-out.pt")
    torch.save(x, f"{sys.argv[1]}/input.pt")
    """
)


@pytest.fixture(scope="module")
def paper_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("paper")
    (folder / "resnet.py").write_text(PAPER_RESNET)
    proc = subprocess.run([sys.executable, "-c", SAVE, str(folder)], capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (folder / "resnet.py").unlink()  # this process has no paper code to import
    return folder


@pytest.mark.parametrize(
    ("name", "preset", "parameters"),
    [
        ("ResNet10", "resnet10", 4_903_242),
        ("ResNet40", "resnet40", 4_994_730),
        ("ResNet102", "resnet102", 4_997_658),
        ("small", None, None),
    ],  # fmt: skip
)
@pytest.mark.parametrize("form", ["model", "state"])
def test_outputs_equal_the_paper_models(
    paper_files: Path, name: str, preset: str | None, parameters: int | None, form: str
) -> None:
    assert "resnet" not in sys.modules
    path = paper_files / (f"{name}.pth" if form == "model" else f"{name}-state.pth")
    net = load_paper_checkpoint(path).eval()
    assert net.preset == preset
    if parameters is not None:
        assert count_parameters(net) == parameters
    else:
        assert (net.layers, net.widths, net.kernel_size, net.skip_kernel_size) == (
            (2, 1), (8, 16), 5, 3,
        )  # fmt: skip
    with torch.no_grad():
        out = net(torch.load(paper_files / "input.pt"))
    torch.testing.assert_close(out, torch.load(paper_files / f"{name}-out.pt"), atol=1e-6, rtol=0)
    assert "resnet" not in sys.modules


def _rewrite_pickle(source: Path, target: Path, payload: bytes) -> None:
    """A copy of a saved model whose data.pkl is replaced by ``payload``."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for item in zin.infolist():
            data = payload if item.filename.endswith("/data.pkl") else zin.read(item)
            zout.writestr(item, data)


@pytest.mark.parametrize(
    ("global_", "args", "named"),
    [
        ("os\nsystem", "touch {marker}", "os.system"),
        ("builtins\neval", "open('{marker}', 'w')", "builtins.eval"),
        ("subprocess\ncall", "touch {marker}", "subprocess.call"),
    ],  # fmt: skip
)
def test_a_file_that_asks_for_code_is_refused_and_runs_nothing(
    paper_files: Path, tmp_path: Path, global_: str, args: str, named: str
) -> None:
    marker = tmp_path / "ran"
    argument = args.format(marker=marker).encode()
    # GLOBAL, a one-string tuple, REDUCE: what a pickled __reduce__ of that callable does.
    payload = (b"\x80\x02c" + global_.encode() + b"\nX" + len(argument).to_bytes(4, "little")
               + argument + b"\x85R.")  # fmt: skip
    bad = tmp_path / "bad.pth"
    _rewrite_pickle(paper_files / "small.pth", bad, payload)
    with pytest.raises(PaperCheckpointError, match=f"refusing to load {named}"):
        load_paper_checkpoint(bad)
    assert not marker.exists()


def test_other_files_are_refused(paper_files: Path, tmp_path: Path) -> None:
    (tmp_path / "text.pth").write_text("hello")
    with pytest.raises(PaperCheckpointError, match="not a PyTorch"):
        read_paper_state_dict(tmp_path / "text.pth")
    torch.save({"weights": [1, 2]}, tmp_path / "other.pth")
    with pytest.raises(PaperCheckpointError, match="neither a paper model"):
        read_paper_state_dict(tmp_path / "other.pth")
    torch.save({"conv.weight": torch.zeros(2)}, tmp_path / "foreign.pth")
    with pytest.raises(PaperCheckpointError, match="input_layer"):
        load_paper_checkpoint(tmp_path / "foreign.pth")


def test_convert_eval_and_predict_from_the_command_line(
    paper_files: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pickle

    import numpy as np

    from resdepth.artifacts import load_checkpoint
    from resdepth.cli import main

    named = tmp_path / "ResNet40_v3_epoch305_acc96.pth"  # the paper's name for its FT run
    named.write_bytes((paper_files / "small.pth").read_bytes())
    assert main(["convert", str(named), str(tmp_path / "ft.pt")]) == 0
    assert "recipe resnet40-ft" in capsys.readouterr().out
    state = load_checkpoint(tmp_path / "ft.pt")
    assert (
        state["recipe"]["name"] == "resnet40-ft" and state["metadata"]["classes"][0] == "airplane"
    )
    results = []
    for source in (tmp_path / "ft.pt", named):
        assert main(["eval", str(source), "--data", "cifar10-sample"]) == 0
        results.append(capsys.readouterr().out.split("accuracy")[1])
    assert results[0] == results[1]  # the converted file and the paper's own agree
    hidden = tmp_path / "hidden.pkl"
    hidden.write_bytes(pickle.dumps({b"data": np.zeros((4, 32, 32, 3), dtype=np.uint8)}))
    assert main(["predict", str(named), "--input", str(hidden),
                 "--output", str(tmp_path / "p.csv")]) == 0  # fmt: skip
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 5
    assert main(["convert", str(named), str(tmp_path / "ft.pt")]) == 2  # never overwrites
    assert "exists" in capsys.readouterr().err
    bad = tmp_path / "bad.pth"
    _rewrite_pickle(
        paper_files / "small.pth", bad, b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00true\x85R."
    )
    assert main(["eval", str(bad), "--data", "cifar10-sample"]) == 2
    err = capsys.readouterr().err
    assert "refusing to load os.system" in err and err.count("\n") == 1


def test_a_paper_file_opens_as_a_trainer(paper_files: Path) -> None:
    import torch

    from resdepth import Trainer

    trainer = Trainer.from_checkpoint(paper_files / "small.pth", device="cpu")
    paper = load_paper_checkpoint(paper_files / "small.pth").eval()
    x = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    assert trainer.metadata.source == "the paper's small.pth"
    assert torch.equal(trainer.model.state_dict()["fc.weight"], paper.state_dict()["fc.weight"])
    assert trainer.predict(x).shape == (4,)


def test_load_model_and_load_eval_transform_take_the_same_paper_file(paper_files: Path) -> None:
    import torch

    from resdepth import load_eval_transform, load_model

    path = paper_files / "small.pth"
    model, transform = load_model(path), load_eval_transform(path)
    x = transform(torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8))
    with torch.no_grad():
        assert torch.equal(model(x), load_paper_checkpoint(path).eval()(x))
