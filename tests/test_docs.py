"""Every Python example in README.md and docs/ compiles, imports and type-checks.

A ```` ```python ```` block is a complete module: it is compiled, imported in a fresh
interpreter (so it must not do work at import time beyond defining things) and checked
with ``mypy --strict`` under the project's configuration. A block preceded by the line
``<!-- fragment -->`` is an excerpt (it may use names defined elsewhere, or ``await`` at
the top level): it is only compiled.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from .test_examples import ROOT, mypy_errors

FRAGMENT_MARK = "<!-- fragment -->"
#: Contributor notes in signature shorthand, not user documentation.
NOT_USER_DOCS = {"docs/api-contract.md"}
_FENCE = re.compile(r"^```python\s*$")


@dataclass(frozen=True)
class Block:
    document: str
    line: int
    code: str
    fragment: bool

    @property
    def module(self) -> str:
        stem = re.sub(r"\W", "_", Path(self.document).with_suffix("").as_posix())
        return f"doc_{stem}_line{self.line}"


def documents() -> list[str]:
    paths = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    names = [path.relative_to(ROOT).as_posix() for path in paths]
    return [name for name in names if name not in NOT_USER_DOCS]


def blocks(document: str) -> list[Block]:
    lines = (ROOT / document).read_text().splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        if not _FENCE.match(lines[index]):
            index += 1
            continue
        start = index
        previous = next((line.strip() for line in reversed(lines[:start]) if line.strip()), "")
        index += 1
        body: list[str] = []
        while index < len(lines) and lines[index].rstrip() != "```":
            body.append(lines[index])
            index += 1
        assert index < len(lines), f"{document}:{start + 1}: unclosed ```python block"
        found.append(Block(document, start + 1, "\n".join(body) + "\n", previous == FRAGMENT_MARK))
        index += 1
    return found


ALL_BLOCKS = [block for document in documents() for block in blocks(document)]
MODULES = [block for block in ALL_BLOCKS if not block.fragment]


def test_the_docs_have_python_examples_to_check() -> None:
    assert len(MODULES) >= 15
    assert {block.document for block in MODULES} >= {"README.md", "docs/getting-started.md"}


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=lambda b: f"{b.document}:{b.line}")
def test_the_block_compiles(block: Block) -> None:
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT if block.fragment else 0
    compile(block.code, f"{block.document}:{block.line}", "exec", flags=flags)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("doc_blocks")
    for block in MODULES:
        (folder / f"{block.module}.py").write_text(block.code)
    return folder


_IMPORT_ALL = """
import importlib, sys, traceback
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except BaseException:
        print(f"--- {name}\\n{traceback.format_exc()}")
"""


def test_every_complete_block_imports(written: Path) -> None:
    imported = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL, *(block.module for block in MODULES)],
        cwd=written,
        capture_output=True,
        text=True,
    )
    assert imported.returncode == 0, imported.stderr
    by_module = {block.module: f"{block.document}:{block.line}" for block in MODULES}
    report = imported.stdout
    for module, where in by_module.items():
        report = report.replace(f"--- {module}\n", f"--- {where}\n")
    assert report == ""


@pytest.mark.slow
def test_every_complete_block_type_checks(written: Path) -> None:
    errors = mypy_errors(*(str(written / f"{block.module}.py") for block in MODULES))
    by_block = {f"{block.module}.py": f"{block.document}:{block.line}" for block in MODULES}
    located = []
    for error in errors:
        file_name = Path(error.split(":", 1)[0]).name
        located.append(f"{by_block.get(file_name, file_name)}: {error}")
    assert located == []


_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {
        _slug(line.lstrip("#"))
        for line in path.read_text().splitlines()
        if line.startswith("#") and not line.startswith("#!")
    }


@pytest.mark.parametrize("document", documents())
def test_relative_links_point_at_files_and_headings_that_exist(document: str) -> None:
    source = ROOT / document
    broken = []
    for target in _LINK.findall(source.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # an external URL
        path_part, _, anchor = target.partition("#")
        path = (source.parent / path_part).resolve() if path_part else source
        if not path.exists() or (anchor and path.suffix == ".md" and anchor not in _anchors(path)):
            broken.append(target)
    assert broken == []


@pytest.mark.parametrize("package", ["aiodurable", "aiodurable.testing", "aiodurable.local"])
def test_every_exported_name_is_in_the_api_reference(package: str) -> None:
    reference = (ROOT / "docs" / "api-reference.md").read_text()
    exported = importlib.import_module(package).__all__
    assert [name for name in exported if f"`{name}`" not in reference] == []
