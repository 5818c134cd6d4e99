"""Every Python block of the README and of the quick-start page runs on its own, and
prints what its comments claim.

A comment that reads as a value (a number, a list, a tuple, ``True``, ``torch.Size(...)``)
on a ``print(...)`` line claims what is printed; on a bare expression, the value's
``repr``.  Anything else after ``#`` is prose and is not checked.  A value claimed on
a line this test cannot check (an assignment) fails the test, so no claim goes
unchecked.  Each block runs in a fresh namespace in an empty folder: a block that
needs another block's names imports them itself.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import re
import textwrap
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("README.md", "docs/getting_started.rst")
VALUE = re.compile(r"^(-?\d|\[|\(|'|\"|torch\.Size\(|True\b|False\b|None\b)")


def _markdown_blocks(text: str) -> list[tuple[int, str]]:
    return [
        (text[: m.start()].count("\n") + 2, m.group(1))
        for m in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M)
    ]


def rst_python_blocks(text: str) -> list[tuple[int, str]]:
    """``(line, body)`` of every ``.. code-block:: python`` directive, dedented."""
    lines, blocks = text.splitlines(), []
    for i, line in enumerate(lines):
        if line.strip() != ".. code-block:: python":
            continue
        body: list[str] = []
        for later in lines[i + 1 :]:
            if later.strip() and not later.startswith("   "):
                break
            body.append(later)
        blocks.append((i + 3, textwrap.dedent("\n".join(body)).strip() + "\n"))
    return blocks


def _blocks() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        text = (ROOT / page).read_text(encoding="utf-8")
        parse = _markdown_blocks if page.endswith(".md") else rst_python_blocks
        found += [(f"{page}:{line}", code) for line, code in parse(text)]
    return found


BLOCKS = _blocks()


def _claims(code: str) -> dict[int, str]:
    """Line number -> the value a comment on that line claims."""
    claims = {}
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type == tokenize.COMMENT:
            text = token.string.lstrip("#").strip()
            if VALUE.match(text):
                claims[token.start[0]] = text
    return claims


def _write_history(path: Path) -> None:
    from resdepth import History

    History([{"epoch": e, "train_accuracy": 10.0 * e, "test_accuracy": 9.0 * e,
              "train_loss": 2.0 / e, "test_loss": 2.1 / e, "learning_rate": 0.1}
             for e in (1, 2, 3)]).to_csv(path)  # fmt: skip


# Files a block reads that an earlier command of the page writes.
FILES_A_BLOCK_READS = {"runs/quickstart/history.csv": _write_history}


def test_the_readme_figures_are_the_rendering_of_the_measurements_file() -> None:
    """The README's tables come from the measurements file; after a new entry,
    ``python docs/render_figures.py`` rewrites them, and this fails until it has."""
    from resdepth.recipes import load_measurements

    spec = importlib.util.spec_from_file_location("render_figures", ROOT / "docs/render_figures.py")
    assert spec is not None and spec.loader is not None
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.count("<!-- figures: ") == 2
    assert render.render_readme(text, load_measurements()) == text, (
        "README.md is stale: run python docs/render_figures.py"
    )
    quick_start = text.splitlines().index("## Quick start")
    assert quick_start < 60 and len(text) <= 9_000


def test_the_pages_have_blocks_to_run() -> None:
    pages = {where.split(":")[0] for where, _ in BLOCKS}
    assert pages == set(PAGES) and len(BLOCKS) >= 5


@pytest.mark.parametrize(("where", "code"), BLOCKS, ids=[w for w, _ in BLOCKS])
def test_block_runs_and_prints_what_it_claims(
    where: str, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, write in FILES_A_BLOCK_READS.items():
        if name in code:
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            write(tmp_path / name)
    claims, namespace = _claims(code), {"__name__": "__snippet__"}
    for statement in ast.parse(code).body:
        claim = claims.get(statement.end_lineno or statement.lineno)
        line = f"{where}, statement at line {statement.lineno} of the block"
        is_print = (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)
                    and isinstance(statement.value.func, ast.Name)
                    and statement.value.func.id == "print")  # fmt: skip
        if claim is None:
            exec(compile(ast.Module([statement], []), where, "exec"), namespace)
        elif is_print:
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(ast.Module([statement], []), where, "exec"), namespace)
            assert out.getvalue().strip() == claim, line
        elif isinstance(statement, ast.Expr):
            value = eval(compile(ast.Expression(statement.value), where, "eval"), namespace)
            assert repr(value) == claim, line
        else:
            pytest.fail(f"{line}: claims {claim!r} on a statement that prints nothing")
