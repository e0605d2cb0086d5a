"""The conformance requirements and our manifest of handlers, targets and declared gaps."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from aws_durable_execution_conformance_tests.config import TESTS_DIR  # type: ignore[import-untyped]

from aiodurable import DurableHandler

MANIFEST_PATH = Path(__file__).with_name("manifest.json")
HANDLERS_PACKAGE = "tests.conformance.handlers"


def requirement_key(requirement_id: str) -> tuple[int, ...]:
    """Sort key: ``1-2`` before ``1-10`` before ``2-1``."""
    return tuple(int(part) for part in requirement_id.split("-"))


@dataclass(frozen=True)
class Requirement:
    """One requirement YAML of AWS's suite."""

    id: str
    suite: str
    spec: dict[str, Any]

    @property
    def function_name(self) -> str:
        """The Lambda function name its handler is deployed under."""
        return f"conformance-{self.id}"


#: Requirements of the suite's repository that the wheel does not ship (or ships in an
#: older wording); they take precedence over the wheel's (vendored/README.md).
VENDORED_DIR = Path(__file__).with_name("vendored")


@cache
def all_requirements() -> dict[str, Requirement]:
    """Every requirement in the installed conformance package and the vendored ones, in id
    order; a vendored YAML replaces the wheel's of the same id."""
    found = {
        path.stem: Requirement(path.stem, path.parent.name, yaml.safe_load(path.read_text()))
        for directory in (Path(TESTS_DIR), VENDORED_DIR)
        for path in sorted(directory.rglob("*.yaml"))
    }
    return {rid: found[rid] for rid in sorted(found, key=requirement_key)}


def resolve(reference: str) -> DurableHandler[Any, Any]:
    """``module:attribute`` under the handlers package → the handler object."""
    module_name, _, attribute = reference.partition(":")
    module = importlib.import_module(f"{HANDLERS_PACKAGE}.{module_name}")
    handler = getattr(module, attribute)
    if not isinstance(handler, DurableHandler):
        raise TypeError(f"{reference} is not a @durable_execution handler")
    return handler


@dataclass(frozen=True)
class Manifest:
    """Which handler implements each requirement, the invoke targets, and the gaps."""

    handlers: dict[str, str]
    targets: dict[str, str]
    gaps: dict[str, str]
    backend_gaps: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    @cache
    def load(cls) -> Manifest:
        return cls(**json.loads(MANIFEST_PATH.read_text()))

    def gap(self, requirement_id: str, backend: str) -> str | None:
        """Why ``requirement_id`` is declared unsupported on ``backend``, if it is."""
        return self.gaps.get(requirement_id) or self.backend_gaps.get(backend, {}).get(
            requirement_id
        )

    def functions(self) -> dict[str, DurableHandler[Any, Any]]:
        """Every deployable function by name: one per requirement, plus the targets."""
        requirements = all_requirements()
        functions = {
            requirements[rid].function_name: resolve(ref) for rid, ref in self.handlers.items()
        }
        functions.update({name: resolve(ref) for name, ref in self.targets.items()})
        return functions
