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

from aiodurable.handler import DurableHandler

__all__ = ["CliError", "load_attribute", "load_durable", "parse_function_spec"]


class CliError(Exception):
    """A usage error: printed without a traceback, exit status :attr:`status`."""

    status = 2


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
    """A handler decorated with ``@durable_execution``; anything else is a usage error."""
    value = load_attribute(spec)
    if isinstance(value, DurableHandler):
        return value
    module_name, _, attribute = spec.partition(":")
    if inspect.isfunction(value) or inspect.ismethod(value):
        kind = "plain async function" if inspect.iscoroutinefunction(value) else "plain function"
        raise CliError(
            f"{spec} is not a durable handler ({attribute} is a {kind}). Decorate it in "
            f"{module_name}: 'from aiodurable import durable_execution' and "
            f"'@durable_execution' above 'async def {attribute}(event, ctx: DurableContext)'"
        )
    if inspect.isclass(value):
        what = f"{attribute} is a class"
    else:
        what = f"{attribute} is {_a(type(value).__name__)} value, not a function"
    found = _durable_handlers(module_name)
    hint = (
        f"durable handlers in {module_name}: {', '.join(found)}"
        if found
        else f"{module_name} has no @durable_execution function"
    )
    raise CliError(
        f"{spec} is not a durable handler ({what}). Name an 'async def' decorated with "
        f"@durable_execution, as MODULE:FUNCTION; {hint}"
    )


def _a(noun: str) -> str:
    return f"an {noun}" if noun[:1].lower() in "aeiou" else f"a {noun}"


def _durable_handlers(module_name: str) -> list[str]:
    """The names of the durable handlers a loaded module defines at its top level."""
    module = sys.modules.get(Path(module_name).stem if module_name.endswith(".py") else module_name)
    found = vars(module).items() if module is not None else ()
    return sorted(name for name, value in found if isinstance(value, DurableHandler))


def parse_function_spec(spec: str, *, durable_only: bool = False) -> tuple[str, Any]:
    """``[NAME=]MODULE:ATTRIBUTE`` → (function name, durable handler or plain function).

    A plain function is an invoke target called as ``fn(event, context)``, like a
    non-durable Lambda function; ``durable_only`` refuses it.
    """
    name, sep, target = spec.partition("=")
    if not sep:
        name, target = spec.rsplit(":", 1)[-1], spec
    value = load_durable(target) if durable_only else load_attribute(target)
    if not callable(value):
        raise CliError(f"{target} is a {type(value).__name__}, not a function")
    name = re.sub(r"[^a-zA-Z0-9_-]", "-", name)[:64]
    return name, value
