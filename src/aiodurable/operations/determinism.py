"""Replay checks beyond type, name and parent (docs/protocol.md §4.6).

- **Call order** (needs a replay trace, :mod:`aiodurable.runtime.replay_trace`): the
  operation at an id must be reached by the same task, after the same previous operation
  of that task, and a step with the same function, arguments and captured values.
  Otherwise concurrent tasks reached same-named operations in a timing-dependent order,
  a loop runs over items in another order, or workflow code feeds a step values that
  change between runs — and stored results would be handed to the wrong calls.
- **Batch items** (needs a replay trace): the items of a map (the branches of a parallel)
  must be the ones recorded, index by index.
- **Unreached operations** (always): a context whose code completes must have reached
  every operation recorded in it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from aiodurable.runtime.invocation_state import InvocationState
from aiodurable.runtime.replay_trace import call_digest, digest
from aiodurable.wire import Operation, OperationType

__all__ = [
    "branch_digests",
    "check_batch_items",
    "check_call_order",
    "item_digests",
    "step_call",
    "unvisited_error",
]

_ORDER_ADVICE = (
    "Concurrent tasks that await something non-durable (asyncio.sleep, an HTTP call, a "
    "queue) before a durable call get operation ids in a timing-dependent order, and "
    "stored results would go to the wrong calls. Run such work with ctx.map / ctx.parallel "
    "(each branch is identified by its index), make the durable calls before the "
    "non-durable awaits, or give every call a distinct name."
)


def step_call(fn: Callable[..., Any], args: tuple[Any, ...]) -> Callable[[], str]:
    """The digest of a step call, computed only if a trace asks for it (a
    ``functools.partial`` is digested as the call it makes, keywords included)."""
    if isinstance(fn, functools.partial):
        inner: functools.partial[Any] = fn
        return lambda: call_digest(inner.func, (*inner.args, *args), inner.keywords)
    return lambda: call_digest(fn, args, {})


def _what(type_: OperationType, name: str | None) -> str:
    return f"{type_.value.lower()} {name!r}" if name else type_.value.lower()


def check_call_order(
    execution: InvocationState,
    op_id: str,
    type_: OperationType,
    name: str | None,
    parent_id: str | None,
    previous: str,
    call: Callable[[], str] | None,
) -> None:
    """Compare (or record) the signature of the call that takes ``op_id``."""
    trace = execution.trace
    assert trace is not None
    recorded_op = execution.operations.get(op_id)
    if recorded_op is None:
        trace.new[op_id] = f"{previous[:16]}|{call() if call is not None else ''}"
        return
    recorded = trace.recorded.get(op_id)
    if recorded is None or recorded_op.type is not type_ or (recorded_op.name or None) != name:
        return  # nothing recorded, or the identity check reports the difference
    was_previous, _, was_call = recorded.partition("|")
    what = f"{_what(type_, name)} (operation {op_id})"
    if was_previous != previous[:16]:
        execution.nondeterminism(
            f"{what} was reached in a different order than when it was recorded: the task "
            f"calling it now came from {_previous(execution, previous)}, the recorded call "
            f"from {_previous(execution, was_previous)}. {_ORDER_ADVICE}"
        )
    if not was_call or call is None:
        return
    now = call()
    if now == was_call:
        return
    same_arguments = now.partition(".")[0] == was_call.partition(".")[0]
    if execution.recorded_names.get((parent_id, name), 0) > 1:
        execution.nondeterminism(
            f"{what} is one of several operations named {name!r} in its context, and it "
            "is now called with other arguments (or captured values) than the call it "
            f"recorded: its stored result belongs to another call. {_ORDER_ADVICE} A loop "
            "over a set or another unordered collection must sort it first."
        )
    if same_arguments:
        return  # a closure over state outside the workflow (a cache, a counter) may change
    execution.nondeterminism(
        f"{what} is now called with another function or other arguments than when it was "
        "recorded, so its stored result was computed from other inputs. Workflow code must "
        "pass the same values on every replay: take times, random numbers and ids from "
        "ctx.now() / ctx.random() / ctx.uuid4() or compute them inside the step, and read "
        "changing data in a step. If concurrent tasks call it, see: " + _ORDER_ADVICE
    )


def _previous(execution: InvocationState, prefix: str) -> str:
    if not prefix:
        return "no earlier operation of its own in this context"
    for op_id, op in execution.operations.items():
        if op_id.startswith(prefix):
            return f"{_what(op.type, op.name)} (operation {op_id})"
    return f"operation {prefix}…"


def unvisited_error(execution: InvocationState, parent_id: str | None, unreached: list[str]) -> str:
    """The message for a context that completed without reaching recorded operations."""
    missing = [execution.operations[op_id] for op_id in unreached]
    shown = ", ".join(_describe(op) for op in missing[:5])
    if len(missing) > 5:
        shown += f" and {len(missing) - 5} more"
    where = f"context {parent_id}" if parent_id else "the workflow"
    return (
        f"{where} completed without reaching {len(missing)} operation(s) that earlier "
        f"invocations recorded: {shown}. The code now skips operations it ran before; "
        "workflow code must make the same durable calls on every replay. Deploy changed "
        "code as a new function version, or keep the old operations for executions "
        "already running."
    )


def _describe(op: Operation) -> str:
    return f"{_what(op.type, op.name)} (operation {op.id}, {op.status.value})"


# -- map and parallel items -------------------------------------------------------------
def item_digests(items: Sequence[Any]) -> list[str]:
    """One digest per map item (its JSON form; its type when it has none)."""
    return [digest(item) for item in items]


def branch_digests(branches: Sequence[tuple[str, Callable[..., Any]]]) -> list[str]:
    """One digest per parallel branch: its name and function (not what a closure captured,
    which may be state outside the workflow)."""
    return [call_digest(fn, (name,), {}).partition(".")[0] for name, fn in branches]


def check_batch_items(
    execution: InvocationState,
    op_id: str,
    kind: str,
    name: str | None,
    digests: Callable[[], list[str]],
) -> None:
    """Compare (or record) the items of the map/parallel at ``op_id``, index by index."""
    trace = execution.trace
    if trace is None:
        return
    now = digests()
    key = f"{op_id}#items"
    if op_id not in execution.operations:
        trace.new[key] = ",".join(now)
        return
    recorded = trace.recorded.get(key)
    if recorded is None:
        return
    before = recorded.split(",") if recorded else []
    if before == now:
        return
    what = f"{kind.lower()} {name!r}" if name else kind.lower()
    noun = "item" if kind == "Map" else "branch"
    if len(before) != len(now):
        change = f"it was recorded with {len(before)} {noun}s and now has {len(now)}"
    else:
        index = next(i for i, (a, b) in enumerate(zip(before, now, strict=True)) if a != b)
        change = f"{noun} {index} is not the {noun} recorded at index {index}"
    execution.nondeterminism(
        f"{what} (operation {op_id}) runs over different {noun}s than when it was "
        f"recorded: {change}. Stored results are paired with {noun}s by index, so they "
        f"would go to the wrong {noun}s. Build the {noun} list deterministically (sort a "
        "set or dict view; fetch changing data inside a step and pass its result)."
    )
