"""The package's shape: which modules import which, and who touches the Trainer's
private state (``docs/architecture.rst``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import resdepth

PACKAGE = Path(resdepth.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The resdepth modules ``path`` imports, ``TYPE_CHECKING`` imports included: for
    ``from .x import y`` the module ``x.y`` where that is a module, else ``x``."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in MODULES
                          else target)  # fmt: skip
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in MODULES and m != name}


FILES = sorted(PACKAGE.rglob("*.py"))
MODULES = {_module_name(f) for f in FILES}
GRAPH = {_module_name(f): _imports(f) for f in FILES}


def _cycle_through(start: str) -> list[str] | None:
    """A chain of imports from ``start`` back to itself, if there is one."""
    stack, seen = [(start, [start])], set()
    while stack:
        node, chain = stack.pop()
        for nxt in GRAPH[node]:
            if nxt == start:
                return [*chain, start]
            if nxt not in seen and not nxt.endswith("__init__"):
                seen.add(nxt)
                stack.append((nxt, [*chain, nxt]))
    return None


def test_no_module_imports_itself_through_others() -> None:
    # A package's __init__ imports its modules; a module importing its own package's
    # __init__ would close a circle, and so would two modules importing each other.
    cycles = [c for m in sorted(MODULES) if (c := _cycle_through(m)) is not None]
    assert not cycles, "import circles:\n" + "\n".join(" -> ".join(c) for c in cycles[:5])


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()) else ""


@pytest.mark.parametrize(
    ("part", "never"),
    [
        ("artifacts", {"training", "tracking", "study", "cli"}),
        ("tracking", {"study", "cli"}),
        ("training", {"tracking", "study", "cli"}),
        ("models", {"transforms", "data", "recipes", "artifacts", "training"}),
    ],
)
def test_parts_import_only_down_the_table(part: str, never: set[str]) -> None:
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if _part(module) == part
        for target in targets
        if _part(target) in never
    )
    assert not wrong, wrong


def _trainer_private_attributes() -> set[str]:
    tree = ast.parse((PACKAGE / "training" / "trainer.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id == "self" and node.attr.startswith("_")
                and not node.attr.startswith("__")):  # fmt: skip
            names.add(node.attr)
    return names


def test_no_module_but_the_trainers_own_touches_its_private_state() -> None:
    private = _trainer_private_attributes()
    assert {"_prepared", "_schedule", "_budget"} <= private  # the check sees them
    touching = sorted(
        f"{f.relative_to(PACKAGE)}:{node.lineno} .{node.attr}"
        for f in FILES
        if f.name != "trainer.py"
        for node in ast.walk(ast.parse(f.read_text()))
        if isinstance(node, ast.Attribute) and node.attr in private
        and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
    )  # fmt: skip
    assert not touching, touching


@pytest.mark.parametrize(
    ("name", "home"),
    [
        ("RunDir", "artifacts"),
        ("load_model", "artifacts"),
        ("MlflowLogger", "tracking"),
        ("JsonLinesLogger", "tracking"),
        ("StudyDir", "study"),
    ],  # fmt: skip
)
def test_a_moved_name_still_imports_from_training_with_a_warning(name: str, home: str) -> None:
    import importlib

    import resdepth.training as training

    with pytest.warns(DeprecationWarning, match=f"resdepth.{home}.{name}"):
        old = getattr(training, name)
    assert old is getattr(importlib.import_module(f"resdepth.{home}"), name)


def test_an_unknown_name_of_training_is_still_an_attribute_error() -> None:
    import resdepth.training as training

    with pytest.raises(AttributeError, match="no_such_name"):
        training.no_such_name  # noqa: B018
