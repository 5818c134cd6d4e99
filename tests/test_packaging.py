"""Packaging: what ``import resdepth`` costs, and what the sdist carries."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import torch

from resdepth import transforms as T

ROOT = Path(__file__).resolve().parents[1]

# Run in a fresh interpreter: prints, as JSON, the source files on the stack at the
# moment something first imports torch._dynamo (null when nothing does).
WHO_IMPORTS_DYNAMO = """
import json, sys, traceback

class Watch:
    stack = None

    def find_spec(self, name, path=None, target=None):
        if name == "torch._dynamo" and Watch.stack is None:
            Watch.stack = [frame.filename for frame in traceback.extract_stack()]
        return None

sys.meta_path.insert(0, Watch())
import resdepth
print(json.dumps(Watch.stack))
"""


def _python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_import_does_not_load_dynamo() -> None:
    code = "import resdepth, sys; print('torch._dynamo' in sys.modules)"
    assert _python(code) == "False"


def test_transforms_do_not_load_dynamo_at_import() -> None:
    # The per-sample choice applies torch.compiler.disable on first use, not at import.
    stack = json.loads(_python(WHO_IMPORTS_DYNAMO))
    ours = [name for name in stack or [] if "resdepth" in Path(name).parts]
    assert not [name for name in ours if Path(name).parent.name == "transforms"], ours


def test_grouped_choice_still_runs_eagerly_under_compile() -> None:
    # The index groups have data-dependent sizes: torch.compile breaks the graph around
    # them, as it did when the disable was a decorator, and the results stay the same.
    augment = T.TrivialAugmentWide()
    x = torch.randint(0, 256, (8, 3, 16, 16), dtype=torch.uint8)
    params = augment.generate_parameters(x.shape, generator=torch.Generator().manual_seed(0))
    with T.per_sample_strategy("groups"):
        explanation = torch._dynamo.explain(augment.apply_transform)(x, params)
        assert explanation.graph_break_count >= 1
        assert any("disable" in r.reason for r in explanation.break_reasons)
        compiled = torch.compile(augment.apply_transform)(x, params)
    torch.testing.assert_close(compiled, augment.apply_transform(x, params), atol=1, rtol=0)


def _pyproject() -> dict[str, Any]:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    with (ROOT / "pyproject.toml").open("rb") as f:
        return dict(tomllib.load(f))


def _python_versions(classifiers: list[str]) -> list[str]:
    prefix = "Programming Language :: Python :: 3."
    return [c.removeprefix("Programming Language :: Python :: ") for c in classifiers
            if c.startswith(prefix)]  # fmt: skip


def test_supported_pythons_are_classified() -> None:
    project = _pyproject()["project"]
    assert project["requires-python"] == ">=3.10"
    assert _python_versions(project["classifiers"]) == ["3.10", "3.11", "3.12", "3.13"]


def _yaml(name: str) -> Any:
    yaml = pytest.importorskip("yaml")
    path = ROOT / name
    if not path.exists():
        pytest.skip(f"{name} is not here (an unpacked sdist?)")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_ci_covers_every_classified_python_and_torch_bounds() -> None:
    matrix = _yaml(".github/workflows/ci.yml")["jobs"]["tests"]["strategy"]["matrix"]
    classified = _python_versions(_pyproject()["project"]["classifiers"])
    assert sorted(matrix["python"]) == classified
    assert matrix["torch"] == ["2.4.0", "2.14.1"]  # the oldest `torch>=2.4` admits, the newest
    vision = {entry["torch"]: entry["torchvision"] for entry in matrix["include"]}
    assert vision == {"2.4.0": "0.19.0", "2.14.1": "0.29.1"}


def test_release_publishes_with_trusted_publishing() -> None:
    release = _yaml(".github/workflows/release.yml")
    # PyYAML reads the key `on` as True (YAML 1.1).
    assert release[True]["push"]["tags"] == ["v*"]
    publish = release["jobs"]["publish"]
    assert publish["environment"]["name"] == "pypi"
    assert publish["permissions"] == {"id-token": "write"}
    steps = [step.get("uses", "") for step in publish["steps"]]
    assert any(s.startswith("pypa/gh-action-pypi-publish@") for s in steps), steps


def test_read_the_docs_config() -> None:
    config = _yaml(".readthedocs.yaml")
    assert config["version"] == 2
    assert config["build"]["os"] == "ubuntu-24.04"
    assert config["build"]["tools"]["python"] == "3.12"
    assert config["sphinx"] == {"configuration": "docs/conf.py", "fail_on_warning": True}
    (install,) = config["python"]["install"]
    assert install["extra_requirements"] == ["docs"]


def _tracked_tests() -> list[str]:
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    top = subprocess.run(
        [git, "-C", str(ROOT), "rev-parse", "--show-toplevel"],
        capture_output=True,
        text=True,
        check=False,
    )
    if top.returncode != 0 or Path(top.stdout.strip()).resolve() != ROOT:
        pytest.skip(f"{ROOT} is not a git checkout (an unpacked sdist?)")
    listed = subprocess.run(
        [git, "-C", str(ROOT), "ls-files", "tests"], capture_output=True, text=True, check=True
    )
    return listed.stdout.split()


@pytest.mark.slow
def test_sdist_carries_every_tracked_test_file(tmp_path: Path) -> None:
    if importlib.util.find_spec("build") is None:
        pytest.skip("the `build` package is not installed")
    tracked = _tracked_tests()
    assert "tests/conftest.py" in tracked
    # --no-isolation: build with the setuptools already installed, without downloading.
    done = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(tmp_path)]
        + [str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (sdist,) = tmp_path.glob("resdepth-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {name.partition("/")[2] for name in tar.getnames()}
    assert not [name for name in tracked if name not in names]
    wanted = ["CHANGELOG.md", "CONTRIBUTING.md", "docs/conf.py", "tools/make_cifar10_sample.py"]
    wanted += [
        f"{folder}/{path.name}"
        for folder in ("examples", "benchmarks")
        for path in (ROOT / folder).glob("*.py")
    ]
    if (ROOT / "hubconf.py").exists():
        wanted.append("hubconf.py")
    assert not [name for name in wanted if name not in names]
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
