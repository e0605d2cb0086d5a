"""Validation of operation names and sub-types (docs/protocol.md §2.2)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from aiodurable.errors import ValidationError

__all__ = ["check_name", "check_sub_type", "default_name"]

_SUB_TYPE = re.compile(r"[A-Za-z0-9_-]{1,32}")
_NAME = re.compile(r"[\x20-\x7e]{1,256}")

_valid_names: set[str] = set()


def check_name(name: str | None) -> str | None:
    """``name`` when it is valid, ``None`` for no name; raises ``ValidationError``."""
    if not name:
        return None
    if name in _valid_names:
        return name
    if not _NAME.fullmatch(name):
        raise ValidationError(
            f"operation name {name!r} is invalid: use 1 to 256 printable ASCII characters"
        )
    if len(_valid_names) < 10_000:  # names come from code: a small, fixed set
        _valid_names.add(name)
    return name


def check_sub_type(sub_type: str | None, default: str) -> str:
    """``sub_type`` when it is valid, ``default`` when none is given."""
    if not sub_type:
        return default
    if not _SUB_TYPE.fullmatch(sub_type):
        raise ValidationError(
            f"sub_type {sub_type!r} is invalid: use 1 to 32 characters of [A-Za-z0-9_-]"
        )
    return sub_type


def default_name(fn: Callable[..., Any]) -> str | None:
    """The name of an operation run by ``fn`` when none is given: its ``__name__`` (that
    of the wrapped function for a ``functools.partial``, the way to pass keywords)."""
    name = getattr(fn.func if isinstance(fn, functools.partial) else fn, "__name__", None)
    if name.__class__ is str and (name in _valid_names or name.isidentifier()):
        return name
    return None
