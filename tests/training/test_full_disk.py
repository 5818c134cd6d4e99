"""A real full disk, not a simulated one: a small tmpfs mounted in a user and mount
namespace of its own (``unshare -rm``, no privileges needed), filled while a run is
under way and before one resumes. The run stops with one message naming the file it
could not write, and what was saved before stays whole and resumes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest


def _namespaces_allowed() -> bool:
    if sys.platform != "linux" or shutil.which("unshare") is None:
        return False
    with tempfile.TemporaryDirectory() as folder:  # what the test does: mount a tmpfs
        probe = subprocess.run(["unshare", "-rm", "mount", "-t", "tmpfs", "-o", "size=64k",
                                "tmpfs", folder], capture_output=True)  # fmt: skip
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(
    not _namespaces_allowed(), reason="needs Linux user and mount namespaces (unshare -rm)"
)

CHILD = textwrap.dedent(
    """
    import contextlib, io, json, subprocess, sys
    from pathlib import Path
    disk = Path(sys.argv[1])
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], check=True)
    from resdepth import Callback, ResNet, Trainer
    from resdepth.cli import main
    from resdepth.data import make_synthetic
    from resdepth.models import register_model
    from resdepth.artifacts import load_checkpoint

    def fill():
        try:
            with open(disk / "filler", "wb") as f:
                while True:
                    f.write(bytes(4096))
                    f.flush()
        except OSError as err:
            return err.errno

    class FillAfterFirstEpoch(Callback):
        def on_epoch_end(self, trainer, row):
            if row["epoch"] == 1:
                fill()

    def trainer(out, *callbacks):
        net = ResNet(layers=(1, 1), widths=(4, 8), num_classes=4)
        return Trainer(net, device="cpu", progress=False, out_dir=out,
                       checkpoint_every=None, callbacks=callbacks)

    report, data = {}, make_synthetic(32, 4, 12)
    # 1. The disk fills up while the run trains its first epoch.
    t = trainer(disk / "api", FillAfterFirstEpoch())
    try:
        t.fit(t.build_loaders(data)[0], epochs=3)
    except OSError as err:
        report["mid_run"] = [err.errno, str(err)]
    report["mid_run_epoch"] = load_checkpoint(disk / "api" / "last.pt")["epoch"]
    (disk / "filler").unlink()
    t = trainer(disk / "api")
    report["resumed_epochs"] = len(t.fit(t.build_loaders(data)[0], epochs=3, resume=True))
    # 2. The command line, resuming a run on a disk that is already full.
    register_model(name="_full_disk_net")(lambda **kw: ResNet(layers=(1,), widths=(4,), **kw))
    command = ["train", "--model", "_full_disk_net", "--data", "synthetic", "--subset", "32",
               "--quiet", "--batch-size", "16", "--checkpoint-every", "off",
               "--out", str(disk / "cli")]
    def run(*extra):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            return [main([*command, *extra]), err.getvalue()]
    report["first"] = run("--epochs", "1")
    report["filled"] = fill()
    report["full"] = run("--epochs", "2", "--resume")
    (disk / "filler").unlink()
    report["again"] = run("--epochs", "2", "--resume")
    report["cli_epoch"] = load_checkpoint(disk / "cli" / "last.pt")["epoch"]
    print(json.dumps(report))
    """
)


def test_a_real_full_disk_names_the_file_and_loses_nothing(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    proc = subprocess.run(["unshare", "-rm", sys.executable, "-c", CHILD, str(disk)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    errno_full, message = report["mid_run"]
    assert errno_full == 28 and "No space left on device" in message
    assert f"could not write {disk}/api/last.pt" in message
    assert "nothing saved before is lost" in message
    assert report["mid_run_epoch"] == 1  # epoch 1's checkpoint is whole and verifies
    assert report["resumed_epochs"] == 3
    assert report["first"] == [0, ""] and report["filled"] == 28
    code, err = report["full"]
    assert code == 1 and err.count("\n") == 1, err
    assert err.startswith("resdepth train: error: the run stopped: could not write "
                          f"{disk}/cli/.lock (No space left on device)"), err  # fmt: skip
    assert "did not start, and nothing saved before is lost" in err
    assert report["again"] == [0, ""] and report["cli_epoch"] == 2
