"""The names ``wait_for_callback`` gives the operations inside its context, and the
user's name read back from them.

``ctx.wait_for_callback(notify, name="manager")`` records a ``WaitForCallback`` context
named ``manager`` holding a callback named ``manager create callback id`` and a step
named ``manager submitter``: the official SDK writes those names, and histories written
by either SDK must read the same, so they stay on the wire. Everything a person reads or
matches against (test lookups and responders, the web UI, the live view, CLI output)
uses :func:`user_name` instead, so ``"manager"`` finds the callback the user named.
"""

from __future__ import annotations

from aiodurable.wire.models import Operation, OperationType

__all__ = [
    "WAIT_FOR_CALLBACK",
    "callback_wire_name",
    "display_name",
    "event_user_name",
    "matches_name",
    "submitter_wire_name",
    "user_name",
]

#: The sub-type of the context a ``wait_for_callback`` runs in.
WAIT_FOR_CALLBACK = "WaitForCallback"

_CALLBACK = "create callback id"
_SUBMITTER = "submitter"


def callback_wire_name(name: str | None) -> str:
    """The recorded name of the callback inside ``wait_for_callback(name=name)``."""
    return f"{name} {_CALLBACK}" if name else _CALLBACK


def submitter_wire_name(name: str | None) -> str:
    """The recorded name of the submitter step inside ``wait_for_callback(name=name)``."""
    return f"{name} {_SUBMITTER}" if name else _SUBMITTER


def _strip(name: str, suffix: str) -> str | None:
    if name == suffix:
        return None
    if name.endswith(" " + suffix):
        return name[: -len(suffix) - 1]
    return name


def user_name(type_: OperationType | None, name: str | None) -> str | None:
    """The name the user gave: ``manager`` for the ``manager create callback id``
    callback and the ``manager submitter`` step, ``None`` for those of an anonymous
    ``wait_for_callback``; any other operation's name unchanged.

    The suffixes are reserved by the wire format, so no parent lookup is needed: a
    callback the user named ``x create callback id`` reads as ``x``, which is what the
    SDKs would have written for ``wait_for_callback(name="x")`` anyway.
    """
    if name is None:
        return None
    if type_ is OperationType.CALLBACK:
        return _strip(name, _CALLBACK)
    if type_ is OperationType.STEP:
        return _strip(name, _SUBMITTER)
    return name


def event_user_name(event_type: str, name: str | None) -> str | None:
    """:func:`user_name` for a history event (``CallbackStarted``, ``StepFailed`` …)."""
    if event_type.startswith("Callback"):
        return user_name(OperationType.CALLBACK, name)
    if event_type.startswith("Step"):
        return user_name(OperationType.STEP, name)
    return name


def display_name(op: Operation, *, width: int = 12) -> str:
    """What to show for ``op``: the user's name, else the start of its id."""
    return user_name(op.type, op.name) or op.id[:width]


def matches_name(op: Operation, name: str) -> bool:
    """Whether ``name`` names ``op``: the user's name or the recorded one."""
    return name == op.name or (op.name is not None and name == user_name(op.type, op.name))
