"""A per-callable memo that does not keep user code alive.

``functools.cache`` on a function of user callables would hold every lambda and closure
a workflow ever passed (a leak per invocation in a warm Lambda or a long-lived service).
This memo holds its keys weakly: an entry goes when the callable does. Callables that
cannot be weakly referenced are computed every time, never stored.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["weak_memo"]

V = TypeVar("V")


def weak_memo(compute: Callable[[Any], V]) -> Callable[[Any], V]:
    """``compute`` memoised by its argument's identity, the argument held weakly."""
    # By ``id()``, each entry with a weak reference that tells a live key from a dead
    # one whose id was reused: a hit is one dict lookup and one dereference, where a
    # WeakKeyDictionary builds a new weak reference per lookup (it is asked on every
    # ``ctx.step`` call, replays included).
    memo: dict[int, tuple[weakref.ref[Any], V]] = {}

    def lookup(key: Any) -> V:
        entry = memo.get(id(key))
        if entry is not None and entry[0]() is key:
            return entry[1]
        value = compute(key)
        ident = id(key)
        try:
            held = weakref.ref(key, lambda dead: _forget(ident, dead))
        except TypeError:  # not weakly referenceable: computed every time, never stored
            return value
        memo[ident] = (held, value)
        return value

    def _forget(ident: int, dead: weakref.ref[Any]) -> None:
        entry = memo.get(ident)
        if entry is not None and entry[0] is dead:  # not a newer key with the same id
            del memo[ident]

    lookup.__doc__ = compute.__doc__
    lookup.__name__ = compute.__name__
    return lookup
