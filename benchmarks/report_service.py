"""The report's sections for :mod:`benchmarks.service_bench`, and the README's table.

Both come from the same results JSON as ``docs/benchmarks.md``, so one ``make bench``
run refreshes every number a reader sees.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

__all__ = ["readme_block", "service_sections", "update_readme"]

_LABELS = {"aiodurable": "aiodurable", "official": "official", "community": "community"}
_PEERS = ("official", "community")
#: Updates one checkpoint call carries at most (aiodurable's batch limit).
BATCH_UPDATES = 250


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def _time(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def _ratio(peer: float | None, ours: float | None) -> str:
    if peer is None or not ours:
        return ""
    return f" ({peer / ours:.1f}×)" if peer / ours < 10 else f" ({peer / ours:.0f}×)"


def _cold_start(results: dict[str, Any]) -> list[str]:
    rows = {r["sdk"]: r for r in results.get("cold_start", [])}
    if not rows:
        return []
    ours = rows.get("aiodurable")
    lines = [
        "## Cold start: the first invocation in a fresh process, over HTTPS",
        "",
        "Each sample is a fresh interpreter that imports a handler module, creates the SDK's "
        "real default Lambda client and runs one invocation whose one step is checkpointed "
        "over HTTPS to aiodurable's local backend, as on Lambda: the backend serves TLS with "
        "a self-signed certificate, each SDK reaches it through `AWS_ENDPOINT_URL_LAMBDA` and "
        "trusts it through `AWS_CA_BUNDLE` (botocore's CA bundle plus that certificate, so "
        "every SDK loads a full bundle). aiodurable runs from the package `make lambda-zip` "
        "builds (for this machine's Python), unpacked and alone on `sys.path` (`-I -S`), as "
        "Lambda runs `/var/task`; the official and community SDKs from their virtualenvs; no "
        "process writes bytecode (`-B`). Each handler's one step is the SDK's usual kind: "
        "`async def` for aiodurable and the community SDK, a plain function for the official "
        "SDK. Timed from before the import to the handler's return "
        "(`benchmarks/cold_start.py`); the interpreter's own start-up, the same for all, is "
        "not included. The SDKs take turns, one process each per round. *CPU* is the "
        "process's CPU time over the same span (all threads); the official SDK's wall time "
        "also holds waits of its checkpointing thread. Ratio: aiodurable ÷ SDK (below 1× "
        "means aiodurable starts faster).",
        "",
        "| SDK | median | of which handler import | CPU | fastest | processes "
        "| aiodurable ÷ SDK | CPU: aiodurable ÷ SDK |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for sdk, row in rows.items():
        cpu = row.get("median_cpu")
        ratio = cpu_ratio = "—"
        if ours and sdk != "aiodurable":
            ratio = f"{ours['median'] / row['median']:.2f}×"
            if cpu and ours.get("median_cpu"):
                cpu_ratio = f"{ours['median_cpu'] / cpu:.2f}×"
        lines.append(
            f"| {_LABELS.get(sdk, sdk)} | {_ms(row['median'])} | {_ms(row['median_import'])} "
            f"| {_ms(cpu) if cpu else '—'} | {_ms(row['min'])} | {len(row['samples'])} "
            f"| {ratio} | {cpu_ratio} |"
        )
    lines.append("")
    load = (ours or {}).get("load")
    if load:
        lines += [
            f"1-minute load average {load[0]:.1f} before and {load[1]:.1f} after these "
            "processes (2 cores, shared with other work).",
            "",
        ]
    if ours and "official" in rows:
        official, community = rows["official"], rows.get("community")
        met = ours["median"] <= 0.8 * official["median"]
        ahead = community is None or ours["median"] < community["median"]
        lines += [
            f"Targets: aiodurable ≤ 0.8× the official SDK — **{'met' if met else 'missed'}** "
            f"({ours['median'] / official['median']:.2f}×, CPU "
            f"{ours['median_cpu'] / official['median_cpu']:.2f}×); ahead of the community SDK "
            f"— **{'met' if ahead else 'missed'}**"
            + (
                f" ({ours['median'] / community['median']:.2f}×, CPU "
                f"{ours['median_cpu'] / community['median_cpu']:.2f}×)."
                if community
                else "."
            ),
            "",
        ]
    profiled = [
        (sdk, row["import_profile"]) for sdk, row in rows.items() if row.get("import_profile")
    ]
    if profiled:
        lines += [
            "Where a cold first invocation's import time goes (`python -X importtime`, one more "
            "process per SDK; modules at the top two levels of the import tree, cumulative):",
            "",
        ]
        for sdk, profile in profiled:
            shown = ", ".join(f"`{name}` {seconds * 1000:.0f} ms" for name, seconds in profile[:8])
            lines.append(f"- {_LABELS.get(sdk, sdk)}: {shown}")
        lines.append("")
    package = (ours or {}).get("package")
    if package:
        lines += _package(package)
    tls = (ours or {}).get("tls_profile")
    if tls and ours and "official" in rows:
        lines += _cold_start_limits(tls, ours["median"] - 0.8 * rows["official"]["median"])
    return lines


def _package(package: dict[str, Any]) -> list[str]:
    rows = package["breakdown"]
    unpacked = sum(r[1] for r in rows)
    lines = [
        f"The package aiodurable ran from: **{package['zipped'] / 1e6:.2f} MB zipped**, "
        f"{unpacked / 1e6:.1f} MB unpacked (`make lambda-zip` for this machine's Python, with "
        "bytecode; docs/deploying.md has the Lambda build). Largest parts, zipped:",
        "",
        "| part | unpacked | zipped |",
        "|---|---:|---:|",
    ]
    for name, size, zipped in rows[:10]:
        lines.append(f"| {name} | {size / 1e6:.2f} MB | {zipped / 1e6:.2f} MB |")
    rest = rows[10:]
    if rest:
        lines.append(
            f"| {len(rest)} others | {sum(r[1] for r in rest) / 1e6:.2f} MB "
            f"| {sum(r[2] for r in rest) / 1e6:.2f} MB |"
        )
    return [*lines, ""]


def _cold_start_limits(tls: dict[str, float], gap: float) -> list[str]:
    """What bounds aiodurable's cold start: measured in this run where it is a time."""
    deferred = tls.get("deferred")
    saved = (
        f"; imported that way, aiohttp takes {_ms(deferred)} instead of {_ms(tls['aiohttp'])}"
        if deferred is not None
        else ""
    )
    remaining = (
        f"What still separates aiodurable from the 0.8× target ({_ms(gap)}) is mostly the "
        "aiohttp stack itself (aiohttp, attrs, yarl, multidict, aiobotocore: modules the "
        "official SDK, on boto3 and urllib3, does not import)."
        if gap > 0
        else "The target is met."
    )
    return [
        "What limits it. aiodurable's default client is aiobotocore, which imports aiohttp "
        f"(`import aiohttp` alone: {_ms(tls['aiohttp'])} in a fresh interpreter that has "
        "asyncio and ssl already). At import, aiohttp builds its two default TLS contexts, "
        "each loading the system CA bundle (`ssl.create_default_context()`: "
        f"{_ms(tls['context'])} here), which aiobotocore never uses: it builds its own from "
        "botocore's bundle or `AWS_CA_BUNDLE`. aiodurable imports aiohttp with those two "
        "loads deferred to the contexts' first use "
        f"(`aiodurable/service/aiohttp_import.py`){saved}. The sessions it creates read "
        "botocore's data with msgspec and without listing every service, and use a cut "
        "Lambda model (the two operations it calls) while that matches botocore's "
        f"(`aiodurable/service/models.py`). {remaining}",
        "",
    ]


def _store(results: dict[str, Any]) -> list[str]:
    rows = results.get("store_scaling", [])
    if not rows:
        return []
    by = {(r["store"], r["n"]): r for r in rows}
    sizes = sorted({r["n"] for r in rows})
    lines = [
        "## Local backend: memory store against SQLite store",
        "",
        "A map of N one-step items run by aiodurable's local backend, start to completion, on "
        "the memory store and on a SQLite file (WAL, `synchronous=FULL`).",
        "",
        "| N | memory | SQLite | SQLite ÷ memory | SQLite per item |",
        "|---:|---:|---:|---:|---:|",
    ]
    for n in sizes:
        mem, sql = by.get(("memory", n)), by.get(("sqlite", n))

        def shown(row: dict[str, Any] | None) -> str:
            if row is None:
                return "—"
            return _ms(row["wall"]) if row["status"] == "ok" else row["status"]

        ok = mem and sql and mem["status"] == sql["status"] == "ok"
        ratio = f"{sql['wall'] / mem['wall']:.1f}×" if ok and mem and sql else "—"
        per = f"{sql['wall'] / n * 1e6:.0f} µs" if sql and sql["status"] == "ok" else "—"
        lines.append(f"| {n:,} | {shown(mem)} | {shown(sql)} | {ratio} | {per} |")
    return [*lines, ""]


def _latency(results: dict[str, Any]) -> list[str]:
    rows = results.get("latency", [])
    if not rows:
        return []
    lines = [
        "## With service latency",
        "",
        "The fake service waits L ms in every call, as a network round trip would (it blocks "
        "the calling thread for the official SDK's synchronous client and is awaited for the "
        "asynchronous ones). *Waiting* is the share of wall time with at least one call in "
        "flight. For W1 the ideal is one round trip per step; for W3 (map) the bound on calls "
        f"is ⌈updates ÷ {BATCH_UPDATES}⌉ (aiodurable's batch limit) plus a small constant.",
        "",
        "| L | workload | N | SDK | wall | per item | calls | updates | ⌈updates ÷ "
        f"{BATCH_UPDATES}⌉ | waiting |",
        "|---:|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        head = f"| {r['latency_ms']} ms | {r['workload']} | {r['n']:,} | {_LABELS.get(r['sdk'], r['sdk'])}"
        if r["status"] != "ok":
            lines.append(f"{head} | {r['status']}: {r.get('reason', '')} | | | | | |")
            continue
        bound = math.ceil(r["updates"] / BATCH_UPDATES)
        lines.append(
            f"{head} | {_time(r['wall'])} | {_time(r['wall'] / r['n'])} | {r['checkpoint_calls']:,} "
            f"| {r['updates']:,} | {bound:,} | {r['waiting'] / r['wall']:.0%} |"
        )
    return [*lines, ""]


def service_sections(results: dict[str, Any]) -> list[str]:
    """The markdown sections of the latency, cold-start and store measurements."""
    return [*_cold_start(results), *_store(results), *_latency(results)]


# -- the README ----------------------------------------------------------------------------
_README_ROWS = (
    ("empty workflow (fixed cost)", "W0", None),
    ("1,000 sequential steps", "W1", 1_000),
    ("replay 10,000 steps, then one new", "W2", 10_000),
    ("map over 10,000 items", "W3", 10_000),
    ("50 steps of ~200 KB results", "W5", 50),
)


def _wall(cells: dict[tuple[str, str], dict[str, Any]], sdk: str, key: str) -> float | None:
    cell = cells.get((sdk, key))
    summary = cell.get("summary") if cell else None
    return summary["wall"] if summary else None


def readme_block(results: dict[str, Any]) -> str:
    """The README's speed table, between its BENCHMARK-NUMBERS markers."""
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for cell in results.get("cells", []):
        for label, workload, n in _README_ROWS:
            if cell["workload"] == workload and (n is None or cell["n"] == n):
                cells[(cell["sdk"], label)] = cell
    versions = results["meta"]["versions"]
    lines = [
        f"<!-- BENCHMARK-NUMBERS: written by benchmarks/report.py from the run of "
        f"{results['meta']['date']}; do not edit by hand. -->",
        "Wall time per invocation, median of 3 runs, on a 2-core machine with CPython 3.11, each",
        "SDK calling an in-process fake of the Lambda API (zero latency: SDK overhead, no",
        "network); ratios are the other SDK's time ÷ aiodurable's:",
        "",
        f"| workload | aiodurable | official SDK {versions.get('official', '?')} "
        f"| community async SDK {versions.get('community', '?')} |",
        "|---|---:|---:|---:|",
    ]
    for label, _, _ in _README_ROWS:
        ours = _wall(cells, "aiodurable", label)
        row = [label, _time(ours)]
        for peer in _PEERS:
            theirs = _wall(cells, peer, label)
            row.append(_time(theirs) + _ratio(theirs, ours))
        lines.append("| " + " | ".join(row) + " |")
    cold = {r["sdk"]: r["median"] for r in results.get("cold_start", [])}
    if cold:
        ours = cold.get("aiodurable")
        row = ["cold start: import, client, one step over HTTPS", _time(ours)]
        row += [_time(cold.get(p)) + _ratio(cold.get(p), ours) for p in _PEERS]
        lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        "Service latency, cold start and the SQLite store have their own tables in",
        "[docs/benchmarks.md](docs/benchmarks.md), with the method and every workload.",
        "<!-- /BENCHMARK-NUMBERS -->",
    ]
    return "\n".join(lines)


def update_readme(readme: Path, results: dict[str, Any]) -> bool:
    """Replace the README's marked block; ``False`` when the markers are missing."""
    text = readme.read_text()
    pattern = re.compile(r"<!-- BENCHMARK-NUMBERS:.*?<!-- /BENCHMARK-NUMBERS -->", re.S)
    if not pattern.search(text):
        return False
    readme.write_text(pattern.sub(lambda _: readme_block(results), text, count=1))
    return True
