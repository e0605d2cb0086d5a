"""Random trees of gather / TaskGroup / map / parallel around steps, waits and callbacks
give the same result as the same tree with every operation awaited in turn, and every
step body runs exactly once."""

from __future__ import annotations

import asyncio
import functools
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiodurable import DurableContext, durable_execution
from aiodurable.testing import CallbackRequest, LocalRunner

CASES = max(int(os.environ.get("FUZZ_CASES", "1000")) // 50, 20)
RUNS: dict[int, int] = {}

# A node: ("step" | "wait" | "callback", key) or (construct, [children]).
leaves = st.tuples(st.sampled_from(["step", "wait", "callback"]), st.integers(0, 10**6))
trees = st.recursive(
    leaves,
    lambda children: st.tuples(
        st.sampled_from(["gather", "taskgroup", "map", "parallel"]),
        st.lists(children, min_size=1, max_size=3),
    ),
    max_leaves=7,
)


async def leaf_step(key: int) -> int:
    RUNS[key] = RUNS.get(key, 0) + 1
    await asyncio.sleep(0.001)  # the body yields to the loop, as real I/O does
    return key % 97


async def evaluate(node: Any, c: DurableContext, concurrent: bool) -> Any:
    kind, arg = node
    if kind == "step":
        return await c.step(leaf_step, arg, name="s")
    if kind == "wait":
        await c.wait(1 + arg % 3, name="w")
        return "waited"
    if kind == "callback":
        callback = await c.create_callback(name="approve", result_type=str)
        return await callback.result()
    if kind == "map":
        batch = await c.map(
            [list(child) for child in arg],
            lambda cc, child, index: evaluate(tuple(child), cc, concurrent),
            name="m",
        )
        return batch.get_results()
    if kind == "parallel":
        branches = [functools.partial(_branch, child, concurrent) for child in arg]
        return (await c.parallel(branches, name="p")).get_results()
    if not concurrent:
        return [await evaluate(child, c, concurrent) for child in arg]
    if kind == "gather":
        return list(await asyncio.gather(*(evaluate(child, c, concurrent) for child in arg)))
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(evaluate(child, c, concurrent)) for child in arg]
    return [task.result() for task in tasks]


async def _branch(child: Any, concurrent: bool, c: DurableContext) -> Any:
    return await evaluate(tuple(child), c, concurrent)


def _keys(node: Any, leaf: str = "step") -> list[int]:
    kind, arg = node
    if kind == leaf:
        return [arg]
    if isinstance(arg, list):
        return [key for child in arg for key in _keys(tuple(child), leaf)]
    return []


async def run_tree(tree: Any, concurrent: bool) -> Any:
    @durable_execution
    async def workflow(event: Any, ctx: DurableContext) -> Any:
        return await evaluate(tree, ctx, concurrent)

    RUNS.clear()
    async with LocalRunner(workflow) as runner:
        if _keys(tree, "callback"):
            runner.on_callback(None, _answer)
        result = await runner.run()
    assert result.status == "SUCCEEDED", result.error
    keys = _keys(tree)
    assert {key: RUNS.get(key, 0) for key in keys} == {key: keys.count(key) for key in keys}
    return result.result


def _answer(request: CallbackRequest) -> str:
    return "ok"


@settings(max_examples=CASES, deadline=None, suppress_health_check=list(HealthCheck))
@given(trees)
def test_concurrent_trees_match_the_same_tree_awaited_in_turn(tree: Any) -> None:
    async def both() -> tuple[Any, Any]:
        return await run_tree(tree, concurrent=True), await run_tree(tree, concurrent=False)

    concurrent, sequential = asyncio.run(both())
    assert concurrent == sequential
