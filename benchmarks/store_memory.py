"""What the local backend holds in memory, and what opening a store costs.

Two measurements, each in a fresh interpreter so that one does not inherit the other's
heap:

- **growth**: one :class:`~aiodurable.testing.LocalRunner` (virtual time) runs a small
  order workflow (four steps, a one-hour wait, a map over three items) again and again;
  the resident set size (``VmRSS``) is read after a warm-up and then after every
  ``--checkpoint`` finished executions, on the memory store and on a SQLite file.
- **open**: a SQLite file holding N finished executions (built by running the workflow
  once and saving copies of it under new ARNs, so that 100,000 take seconds, not hours)
  is opened by a :class:`~aiodurable.local.LocalBackend` (``async with``); the time to
  enter and the RSS it adds are reported.

    python -m benchmarks.store_memory growth --executions 10000
    python -m benchmarks.store_memory open --executions 2000 100000

Figures depend on the machine; compare runs made on the same one.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec

from aiodurable import DurableContext, durable_execution
from aiodurable.local import LocalBackend, SqliteStore, VirtualClock
from aiodurable.testing import LocalRunner

__all__ = ["main"]


@durable_execution
async def order(event: dict[str, Any], ctx: DurableContext) -> dict[str, Any]:
    """The workload: what a small order workflow records."""
    order_id = event["order_id"]
    stock = await ctx.step(lambda: {"order": order_id, "reserved": True}, name="reserve")
    charge = await ctx.step(lambda: {"order": order_id, "amount": 42.5}, name="charge")
    await ctx.wait(timedelta(hours=1), name="cool-off")
    shipped = await ctx.map(
        ["box-a", "box-b", "box-c"],
        lambda child, box, index: child.step(lambda: f"{box} shipped", name="ship"),
        name="ship-boxes",
    )
    receipt = await ctx.step(lambda: f"receipt for {order_id}", name="receipt")
    return {"stock": stock, "charge": charge, "shipped": shipped.get_results(), "r": receipt}


def _rss_kib() -> int:
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


async def _growth(store: str | None, executions: int, checkpoint: int, warmup: int) -> None:
    runner: LocalRunner[Any] = LocalRunner(order, store=store)
    async with runner:
        for i in range(warmup):
            await runner.run({"order_id": f"warm-{i}"})
        base = _rss_kib()
        points = [(0, base)]
        for i in range(1, executions + 1):
            result = await runner.run({"order_id": f"o-{i}"})
            assert result.status == "SUCCEEDED", result
            if i % checkpoint == 0:
                points.append((i, _rss_kib()))
    print(json.dumps({"store": "sqlite" if store else "memory", "rss_kib": points}))


def _populate(path: Path, executions: int) -> None:
    """A store with ``executions`` finished copies of one real execution."""

    async def one() -> None:
        async with LocalBackend(store=SqliteStore(path), clock=VirtualClock()) as backend:
            backend.register("orders", order)
            info = backend.start_execution("orders", '{"order_id": "o-1"}', name="seed")
            await backend.wait_for_completion(info.arn)

    asyncio.run(one())
    source = SqliteStore(path)
    # The only execution in the file: read it back whichever store API this build has.
    (seed,) = source.load()
    source.close()
    store = SqliteStore(path)
    store._db.execute("PRAGMA synchronous=OFF")  # building the fixture, not measuring it
    prefix = seed.record.arn.rsplit("/", 2)[0]
    for i in range(1, executions):
        name = f"copy-{i}"
        arn = f"{prefix}/{name}/{uuid.uuid4().hex}"
        record = msgspec.structs.replace(seed.record, arn=arn, name=name)
        store.save(record, seed.operations, seed.events)
    store.close()


async def _open(path: Path) -> None:
    before = _rss_kib()
    started = time.perf_counter()
    async with LocalBackend(store=SqliteStore(path), clock=VirtualClock()) as backend:
        opened = time.perf_counter() - started
        after = _rss_kib()
        backend.register("orders", order)
    print(json.dumps({"seconds": round(opened, 4), "rss_added_kib": after - before}))


def _child(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.store_memory", "_child", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.store_memory")
    sub = parser.add_subparsers(dest="command", required=True)
    growth = sub.add_parser("growth", help="RSS while finished executions accumulate")
    growth.add_argument("--executions", type=int, default=10_000)
    growth.add_argument("--checkpoint", type=int, default=1_000)
    growth.add_argument("--warmup", type=int, default=200)
    growth.add_argument("--stores", nargs="+", default=["memory", "sqlite"])
    opening = sub.add_parser("open", help="time to open a SQLite store of N executions")
    opening.add_argument("--executions", type=int, nargs="+", default=[0, 2_000, 100_000])
    child = sub.add_parser("_child")
    child.add_argument("what")
    child.add_argument("rest", nargs="*")
    args = parser.parse_args(argv)

    if args.command == "_child":
        if args.what == "growth":
            store, executions, checkpoint, warmup = args.rest
            asyncio.run(_growth(store or None, int(executions), int(checkpoint), int(warmup)))
        elif args.what == "populate":
            _populate(Path(args.rest[0]), int(args.rest[1]))
            print("{}")
        else:
            asyncio.run(_open(Path(args.rest[0])))
        return

    with tempfile.TemporaryDirectory() as tmp:
        if args.command == "growth":
            for kind in args.stores:
                path = str(Path(tmp, "growth.db")) if kind == "sqlite" else ""
                result = _child(
                    "growth", path, str(args.executions), str(args.checkpoint), str(args.warmup)
                )
                points = result["rss_kib"]
                base = points[0][1]
                print(f"{kind} store, RSS after a warm-up of {args.warmup}: {base / 1024:.1f} MiB")
                for count, rss in points[1:]:
                    per = (rss - base) / count
                    print(
                        f"  +{count:>6} finished: {rss / 1024:7.1f} MiB "
                        f"(+{(rss - base) / 1024:6.1f} MiB, {per:6.2f} KiB per execution)"
                    )
        else:
            for n in args.executions:
                path = Path(tmp, f"open-{n}.db")
                if n:
                    _child("populate", str(path), str(n))
                else:
                    SqliteStore(path).close()  # an empty store that exists already
                size = path.stat().st_size if path.exists() else 0
                result = _child("open", str(path))
                print(
                    f"open a store of {n:>7} executions ({size / 1e6:7.1f} MB): "
                    f"{result['seconds'] * 1000:8.1f} ms, +{result['rss_added_kib'] / 1024:.1f} MiB RSS"
                )


if __name__ == "__main__":
    main()
