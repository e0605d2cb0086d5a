"""The workloads every SDK runs, and what each must return (standard library only)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BIG_ROWS",
    "PARALLEL_BRANCHES",
    "SDKS",
    "WORKLOADS",
    "Workload",
    "big_object",
    "expected_result",
]

SDKS = ("aiodurable", "official", "community")

#: W4: branches of one step each.
PARALLEL_BRANCHES = 100
#: W5: steps, each returning an object of about 200 KB of JSON.
BIG_STEPS = 50
BIG_ROWS = 2150


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    sizes: tuple[int, ...]
    quick_sizes: tuple[int, ...]
    #: The operation an adapter needs; a build without it reports "not available".
    needs: str = "step"
    #: Recorded history the invocation replays (W2).
    replay: bool = False


WORKLOADS: dict[str, Workload] = {
    w.key: w
    for w in (
        Workload("W0", "empty workflow (fixed cost of an invocation)", (0,), (0,), needs="none"),
        Workload("W1", "N sequential trivial steps", (100, 1_000, 5_000), (20, 100)),
        Workload(
            "W2",
            "replay N succeeded steps, then one new step",
            (1_000, 10_000),
            (100, 500),
            replay=True,
        ),
        Workload(
            "W3",
            "map over N items, one trivial step each",
            (100, 1_000, 10_000),
            (20, 100),
            needs="map",
        ),
        Workload(
            "W4",
            f"parallel, {PARALLEL_BRANCHES} branches of one step",
            (PARALLEL_BRANCHES,),
            (PARALLEL_BRANCHES,),
            needs="parallel",
        ),
        Workload("W5", f"{BIG_STEPS} steps returning ~200 KB of JSON each", (BIG_STEPS,), (5,)),
        Workload("W6", "cold import (fresh process)", (0,), (0,), needs="none"),
    )
}


def _page() -> dict[str, object]:
    return {
        "page": 0,
        "rows": [
            {
                "id": k,
                "sku": f"SKU-{k:05d}",
                "price": k * 1.25,
                "in_stock": k % 3 != 0,
                "tags": ["alpha", "beta", "gamma"][: k % 4],
                "note": "lorem ipsum dolor sit amet",
            }
            for k in range(BIG_ROWS)
        ],
    }


_PAGE = _page()


def big_object(seed: int) -> dict[str, object]:
    """About 200 KB of JSON: a page of records of mixed scalar types.

    Built once; each step returns a new top-level dict over the same rows, so what a run
    measures is the SDK serializing and checkpointing the result, not the step body."""
    return {**_PAGE, "page": seed}


def expected_result(workload: str, n: int) -> object:
    """What the workflow returns, so a run that did the wrong thing is caught."""
    if workload == "W0":
        return "ok"
    if workload in ("W1", "W3"):
        return sum(range(n))
    if workload == "W2":
        return sum(range(n + 1))
    if workload == "W4":
        return sum(range(n))
    if workload == "W5":
        return n * BIG_ROWS
    raise KeyError(workload)
