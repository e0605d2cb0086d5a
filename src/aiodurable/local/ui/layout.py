"""The HTML both UI pages share: the page shell, escaping, and how values read.

Every value that comes from an execution (names, payloads, errors) goes through
:func:`esc`; the pages carry no inline script, and the content security policy would
refuse one anyway.
"""

from __future__ import annotations

import html
import json
from datetime import datetime, timedelta

from aiodurable.local.records import ExecutionStatus
from aiodurable.wire import ErrorObject

__all__ = [
    "MAX_SHOWN_PAYLOAD",
    "esc",
    "format_duration",
    "page",
    "payload_block",
    "error_block",
    "status_badge",
    "timestamp",
]

#: Characters of a payload shown in full; longer ones are cut (the API has them whole).
MAX_SHOWN_PAYLOAD = 20_000


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def page(title: str, body: str, *, token: str, clock_note: str) -> str:
    """A whole HTML document around ``body``."""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="aiodurable-token" content="{esc(token)}">'
        f"<title>{esc(title)} · aiodurable</title>"
        '<link rel="icon" href="data:,">'
        '<link rel="stylesheet" href="/ui/static/ui.css">'
        '<script src="/ui/static/ui.js" defer></script>'
        "</head><body>"
        '<header class="top"><a class="brand" href="/ui/">aiodurable</a>'
        '<span class="sub">local backend</span>'
        f'<span class="clock">{esc(clock_note)}</span>'
        '<span class="live" id="live-state" title="the page refreshes itself">live</span>'
        f"</header><main>{body}</main></body></html>"
    )


def format_duration(delta: timedelta) -> str:
    """``850 ms``, ``2.1 s``, ``3 min 4 s``, ``2 h 5 min``, ``7 d 2 h``."""
    seconds = max(delta.total_seconds(), 0.0)
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    for unit, size, sub_unit, sub_size in (
        ("d", 86400, "h", 3600),
        ("h", 3600, "min", 60),
        ("min", 60, "s", 1),
    ):
        if whole >= size:
            rest = (whole % size) // sub_size
            return f"{whole // size} {unit}" + (f" {rest} {sub_unit}" if rest else "")
    return f"{whole} s"  # pragma: no cover - the loop always returns


def timestamp(when: datetime | None) -> str:
    """A ``<time>`` element (UTC text; the script shows it in local time)."""
    if when is None:
        return '<span class="muted">—</span>'
    text = when.strftime("%Y-%m-%d %H:%M:%S UTC")
    return f'<time datetime="{esc(when.isoformat())}">{esc(text)}</time>'


def status_badge(status: ExecutionStatus | str) -> str:
    value = str(status.value if isinstance(status, ExecutionStatus) else status)
    css = value.lower().replace("_", "-")
    return f'<span class="badge {esc(css)}">{esc(value)}</span>'


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def payload_block(text: str | None, *, empty: str = "none") -> str:
    """A JSON payload, pretty-printed when it parses, cut when it is very long."""
    if text is None:
        return f'<p class="muted">{esc(empty)}</p>'
    shown = _pretty(text)
    note = ""
    if len(shown) > MAX_SHOWN_PAYLOAD:
        note = (
            f'<p class="muted">showing {MAX_SHOWN_PAYLOAD:,} of {len(shown):,} characters; '
            "the API returns it whole</p>"
        )
        shown = shown[:MAX_SHOWN_PAYLOAD] + "…"
    return f'<pre class="payload">{esc(shown)}</pre>{note}'


def error_block(error: ErrorObject | None) -> str:
    """Type, message, data and stack trace of an error object."""
    if error is None:
        return ""
    parts = [
        '<div class="error">',
        f'<p class="error-head"><strong>{esc(error.error_type or "Error")}</strong>',
    ]
    if error.error_message:
        parts.append(f": {esc(error.error_message)}")
    parts.append("</p>")
    if error.error_data:
        parts.append(f"<h4>Error data</h4>{payload_block(error.error_data)}")
    if error.stack_trace:
        trace = "\n".join(line.rstrip("\n") for line in error.stack_trace)
        parts.append(f'<h4>Stack trace</h4><pre class="trace">{esc(trace)}</pre>')
    parts.append("</div>")
    return "".join(parts)
