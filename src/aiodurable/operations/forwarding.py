"""How operations forward arguments to user functions: positional arguments only.

``ctx.step(fn, *args, name=…, retry=…)`` shares its keyword namespace with nothing: a
keyword is always one of the operation's own options, so a function with a parameter
called ``name`` or ``timeout`` is called with ``functools.partial`` (as anyio's
``to_thread.run_sync`` and Temporal's ``execute_activity`` ask), and a new option can
never change what an existing call passes to its function.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["reject_keywords"]


def reject_keywords(operation: str, unknown: dict[str, Any], options: Iterable[str]) -> None:
    """Raise ``TypeError`` naming the keywords of ``unknown`` that are not options."""
    if not unknown:
        return
    given = ", ".join(repr(key) for key in unknown)
    first = next(iter(unknown))
    raise TypeError(
        f"{operation}() got unexpected keyword argument(s) {given}: its keywords are its own "
        f"options ({', '.join(options)}) and it forwards positional arguments only. To pass "
        f"keywords to the function, bind them with functools.partial: "
        f"{operation}(functools.partial(fn, {first}=...), ...)"
    )
