"""The live view of ``aiodurable run``: one line per operation change."""

from __future__ import annotations

from datetime import datetime
from typing import TextIO

from aiodurable.wire import Operation, OperationType

__all__ = ["LiveView"]


class LiveView:
    """Prints an operation's line whenever its status or attempt changes."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._seen: dict[str, tuple[str, int]] = {}

    def update(self, operations: list[Operation], now: datetime) -> None:
        for op in operations:
            if op.type is OperationType.EXECUTION:
                continue
            attempt = (op.step_details.attempt or 0) if op.step_details else 0
            state = (op.status.value, attempt)
            if self._seen.get(op.id) == state:
                continue
            self._seen[op.id] = state
            self.out.write(self.line(op, now) + "\n")
        self.out.flush()

    @staticmethod
    def line(op: Operation, now: datetime) -> str:
        name = op.name or op.id[:12]
        attempt = ""
        if op.type is OperationType.STEP:
            attempt = f"attempt {((op.step_details.attempt or 0) if op.step_details else 0) + 1}"
            if op.status.value in ("SUCCEEDED", "FAILED"):
                attempt = f"attempt {op.step_details.attempt if op.step_details else 1}"
        elapsed = ""
        if op.start_timestamp is not None:
            end = op.end_timestamp or now
            elapsed = _duration((end - op.start_timestamp).total_seconds())
        return f"  {op.type.value:<15} {name:<28} {op.status.value:<10} {attempt:<11} {elapsed}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.3f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d{hours:02d}h{minutes:02d}m"
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s"
