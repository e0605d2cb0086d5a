"""JSON shapes of wire Structs with the timestamps each channel uses (docs/protocol.md §1.3).

The Lambda event carries integer epoch **milliseconds**; API responses carry epoch
**seconds** (a JSON number, possibly fractional).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

__all__ = ["to_api_json", "to_event_json"]


def _convert(value: Any, stamp: Any) -> Any:
    if isinstance(value, datetime):
        return stamp(value)
    if isinstance(value, dict):
        return {k: _convert(v, stamp) for k, v in value.items()}
    if isinstance(value, list):
        return [_convert(v, stamp) for v in value]
    return value


def _millis(when: datetime) -> int:
    return round(when.timestamp() * 1000)


def _seconds(when: datetime) -> float:
    return round(when.timestamp(), 3)


def to_event_json(obj: Any) -> Any:
    """Builtins for the Lambda event: timestamps as integer epoch milliseconds."""
    return _convert(msgspec.to_builtins(obj, builtin_types=(datetime,)), _millis)


def to_api_json(obj: Any) -> Any:
    """Builtins for API responses: timestamps as epoch seconds."""
    return _convert(msgspec.to_builtins(obj, builtin_types=(datetime,)), _seconds)
