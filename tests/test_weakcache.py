"""The per-callable memo: a hit is the same value, a dead key leaves no entry, and a new
callable that reuses a dead one's id is computed afresh."""

from __future__ import annotations

from typing import Any

from aiodurable._weakcache import weak_memo


def test_hits_are_memoised_and_dead_keys_are_forgotten() -> None:
    calls: list[str] = []

    @weak_memo
    def describe(fn: Any) -> str:
        calls.append(fn.__name__)
        return f"described {fn.__name__}"

    def first() -> None: ...

    assert describe(first) == describe(first) == "described first"
    assert calls == ["first"]

    seen: set[int] = set()
    for index in range(200):  # fresh functions, often at a dead one's address

        def fresh() -> None: ...

        fresh.__name__ = f"fresh{index}"
        assert describe(fresh) == f"described fresh{index}"  # never a stale value
        seen.add(id(fresh))
        del fresh  # freed at once: a function without cycles goes by reference count
    assert len(seen) < 200  # ids were reused: the identity check above mattered
    memo_cells = [
        cell.cell_contents
        for cell in describe.__closure__ or ()
        if isinstance(cell.cell_contents, dict)
    ]
    assert [len(memo) for memo in memo_cells] == [1]  # only `first` is still held


def test_keys_without_weak_references_are_computed_every_time() -> None:
    calls: list[object] = []

    @weak_memo
    def size(key: Any) -> int:
        calls.append(key)
        return len(key)

    key = (1, 2, 3)  # a tuple cannot be weakly referenced
    assert size(key) == size(key) == 3
    assert len(calls) == 2
