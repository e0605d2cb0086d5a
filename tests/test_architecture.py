"""The shape of src/: layers that only look down (a long file is for review to discuss)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "aiodurable"

#: Bottom to top (docs/architecture.md). A module may import its own layer and below.
LAYERS: list[set[str]] = [
    {"wire", "_version", "_weakcache", "lambda_package"},
    {"errors", "limits", "stack_trace"},
    {"serdes", "retry", "plugins", "duration", "lambda_context"},
    {"service", "offload"},
    {"runtime"},
    {"operations", "replay_logging"},
    {"context"},
    {"invocation", "handler"},
    {"local"},
    {"testing"},
    {"cli", "otel"},
    {"__init__", "__main__"},
]
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_of(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(("aiodurable", *parts)).removesuffix(".__init__")


def _imports(path: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return [(line, name) for line, name in found if name.split(".")[0] == "aiodurable"]


SOURCES = sorted(SRC.rglob("*.py"))


def test_every_top_level_unit_has_a_layer() -> None:
    units = {_unit(_module_of(path)) for path in SOURCES}
    assert units - RANK.keys() == set(), "add the new module to LAYERS and docs/architecture.md"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_only_look_down(path: Path) -> None:
    here = _unit(_module_of(path))
    upward = [
        f"line {line}: {name}"
        for line, name in _imports(path)
        if RANK.get(_unit(name), -1) > RANK[here]
    ]
    assert upward == [], f"{path.relative_to(SRC)} imports from a layer above it: {upward}"


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("from aiodurable.context import DurableContext\n")
    assert [name for _, name in _imports(probe)] == ["aiodurable.context"]
    assert RANK[_unit("aiodurable.context")] > RANK["runtime"]
