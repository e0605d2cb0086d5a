"""A per-callable memo that does not keep user code alive.

``functools.cache`` on a function of user callables would hold every lambda and closure
a workflow ever passed (a leak per invocation in a warm Lambda or a long-lived service).
This memo holds its keys weakly: an entry goes when the callable does. Callables that
cannot be weakly referenced are computed every time, never stored.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["weak_memo"]

V = TypeVar("V")


def weak_memo(compute: Callable[[Any], V]) -> Callable[[Any], V]:
    """``compute`` memoised by its argument's identity, the argument held weakly."""
    memo: weakref.WeakKeyDictionary[Any, V] = weakref.WeakKeyDictionary()

    def lookup(key: Any) -> V:
        try:
            return memo[key]
        except KeyError:
            pass
        except TypeError:  # not weakly referenceable (or not hashable)
            return compute(key)
        value = compute(key)
        with contextlib.suppress(TypeError):
            memo[key] = value
        return value

    lookup.__doc__ = compute.__doc__
    lookup.__name__ = compute.__name__
    return lookup
