"""Loading handlers named on the command line as ``MODULE:ATTRIBUTE``."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import re
import sys
from pathlib import Path
from typing import Any

from aiodurable.handler import DurableHandler, durable_execution

__all__ = ["CliError", "load_attribute", "load_durable", "parse_function_spec"]


class CliError(Exception):
    """A usage error: printed without a traceback, exit status 2."""


def load_attribute(spec: str) -> Any:
    """``package.module:attr`` or ``path/to/file.py:attr`` (the module is imported)."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise CliError(f"{spec!r} is not MODULE:ATTRIBUTE (e.g. app.workflows:order)")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            loader_spec = importlib.util.spec_from_file_location(path.stem, path)
            if loader_spec is None or loader_spec.loader is None:
                raise CliError(f"cannot load {module_name}")
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[path.stem] = module
            loader_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except (ImportError, FileNotFoundError) as exc:
        raise CliError(f"cannot import {module_name}: {exc}") from exc
    try:
        value = module
        for part in attribute.split("."):
            value = getattr(value, part)
    except AttributeError as exc:
        raise CliError(f"{module_name} has no attribute {attribute!r}") from exc
    return value


def load_durable(spec: str) -> DurableHandler[Any, Any]:
    """A durable handler; a bare ``async def workflow(event, ctx)`` is wrapped."""
    value = load_attribute(spec)
    if isinstance(value, DurableHandler):
        return value
    if inspect.iscoroutinefunction(value):
        return durable_execution(value)
    raise CliError(
        f"{spec} is not a durable handler: decorate 'async def workflow(event, ctx)' with "
        "@durable_execution"
    )


def parse_function_spec(spec: str) -> tuple[str, Any]:
    """``[NAME=]MODULE:ATTRIBUTE`` → (function name, durable handler or plain function)."""
    name, sep, target = spec.partition("=")
    if not sep:
        name, target = spec.rsplit(":", 1)[-1], spec
    value = load_attribute(target)
    if not isinstance(value, DurableHandler) and inspect.iscoroutinefunction(value):
        parameters = inspect.signature(value).parameters
        if len(parameters) == 2:  # (event, ctx): a workflow without the decorator
            value = durable_execution(value)
    name = re.sub(r"[^a-zA-Z0-9_-]", "-", name)[:64]
    return name, value
