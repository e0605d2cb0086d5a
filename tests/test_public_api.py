"""Every public name, and every public method and property of a public class, says what it
is for: a docstring is part of the API."""

from __future__ import annotations

import importlib
import inspect

import pytest

PUBLIC_MODULES = [
    "aiodurable",
    "aiodurable.testing",
    "aiodurable.local",
    "aiodurable.service",
    "aiodurable.plugins",
    "aiodurable.otel",
]


def undocumented(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    missing = []
    for name in module.__all__:
        obj = getattr(module, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        if obj.__doc__ is None or not obj.__doc__.strip():
            missing.append(name)
        if not inspect.isclass(obj):
            continue
        for attr, value in vars(obj).items():
            if attr.startswith("_"):
                continue
            if isinstance(value, property):
                value = value.fget
            elif isinstance(value, (classmethod, staticmethod)):
                value = value.__func__
            if inspect.isfunction(value) and not value.__doc__:
                missing.append(f"{name}.{attr}")
    return missing


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_public_names_have_docstrings(module_name: str) -> None:
    assert undocumented(module_name) == []


def test_importing_aiodurable_stays_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, aiodurable; "
        "print(','.join(m for m in ('structlog', 'aiobotocore', 'aiohttp', 'botocore', 'anyio',"
        " 'opentelemetry')"
        " if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""
