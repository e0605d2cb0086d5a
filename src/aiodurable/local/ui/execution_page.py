"""One execution: its timeline, input, result or error, and each operation's details."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlencode

from aiodurable.local.history import Event
from aiodurable.local.records import ExecutionInfo
from aiodurable.local.ui.layout import (
    error_block,
    esc,
    format_duration,
    payload_block,
    status_badge,
    timestamp,
)
from aiodurable.local.ui.list_page import execution_url
from aiodurable.local.ui.timeline import Row, Timeline
from aiodurable.wire import Operation, OperationStatus, OperationType
from aiodurable.wire.callback_names import display_name

__all__ = ["execution_fragment", "execution_page_body"]

#: A context with more children than this starts collapsed (a map of 200 items).
COLLAPSE_ABOVE = 12

_TYPE_LABELS = {
    OperationType.STEP: "step",
    OperationType.WAIT: "wait",
    OperationType.CALLBACK: "callback",
    OperationType.CHAINED_INVOKE: "invoke",
    OperationType.CONTEXT: "context",
}


def _kind_label(op: Operation) -> str:
    if op.type is OperationType.CONTEXT and op.sub_type:
        return op.sub_type
    return _TYPE_LABELS.get(op.type, op.type.value.lower())


def _pending_callback(op: Operation) -> str | None:
    if op.type is OperationType.CALLBACK and op.status is OperationStatus.STARTED:
        return op.callback_details.callback_id if op.callback_details else None
    return None


def _callback_forms(callback_id: str) -> str:
    cid = esc(callback_id)
    return (
        '<div class="callback-actions"><h4>Answer this callback</h4>'
        f'<form class="action" data-action="callback/succeed" data-callback-id="{cid}">'
        '<label class="wide">Result (JSON, sent verbatim)'
        '<textarea name="payload" class="callback-result" rows="3" spellcheck="false">'
        '"approved"</textarea></label><div class="buttons">'
        '<button type="submit" class="succeed">Succeed</button>'
        '<span class="form-error" role="alert"></span></div></form>'
        f'<form class="action" data-action="callback/fail" data-callback-id="{cid}">'
        '<label>Error type <input name="error_type" value="Rejected" autocomplete="off">'
        '</label><label>Message <input name="error_message" autocomplete="off"></label>'
        '<div class="buttons"><button type="submit" class="fail">Fail</button>'
        '<span class="form-error" role="alert"></span></div></form>'
        f'<form class="action" data-action="callback/heartbeat" data-callback-id="{cid}">'
        '<div class="buttons"><button type="submit">Send heartbeat</button>'
        '<span class="form-error" role="alert"></span></div></form></div>'
    )


def _history_list(events: list[Event], start: datetime) -> str:
    if not events:
        return ""
    items = "".join(
        f"<li><code>{esc(e.event_type.value)}</code> "
        f'<span class="muted">+{esc(format_duration(e.event_timestamp - start))}</span></li>'
        for e in events
    )
    return f'<h4>History</h4><ul class="events">{items}</ul>'


def _details(row: Row, timeline: Timeline, running: bool, now: datetime) -> str:
    op = row.operation
    facts = [
        ("Type", f"{op.type.value}" + (f" · {op.sub_type}" if op.sub_type else "")),
        ("Status", status_badge(op.status.value)),
        ("Id", f"<code>{esc(op.id)}</code>"),
    ]
    if op.parent_id:
        facts.append(
            (
                "Parent",
                f'<code class="op-ref" data-op="{esc(op.parent_id)}">'
                f"{esc(op.parent_id[:16])}…</code>",
            )
        )
    facts.append(("Started", timestamp(op.start_timestamp)))
    facts.append(("Ended", timestamp(op.end_timestamp)))
    if op.start_timestamp is not None:
        took = format_duration((op.end_timestamp or now) - op.start_timestamp)
        facts.append(("Duration", esc(took + ("" if op.end_timestamp else " so far"))))
    if op.step_details is not None:
        if op.step_details.attempt is not None:
            facts.append(("Attempt", esc(op.step_details.attempt)))
        if op.step_details.next_attempt_timestamp is not None:
            facts.append(("Next attempt", timestamp(op.step_details.next_attempt_timestamp)))
    if op.wait_details is not None and op.wait_details.scheduled_end_timestamp is not None:
        facts.append(("Scheduled end", timestamp(op.wait_details.scheduled_end_timestamp)))
    callback_id = op.callback_details.callback_id if op.callback_details else None
    if callback_id:
        facts.append(("Callback id", f'<code class="callback-id">{esc(callback_id)}</code>'))
    table = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in facts)
    result = op.recorded_result
    pending = _pending_callback(op)
    return (
        f'<section class="op-detail" data-op="{esc(op.id)}" hidden>'
        f"<h3>{esc(display_name(op, width=16))} <small>{esc(_kind_label(op))}</small></h3>"
        f'<table class="facts">{table}</table>'
        + (_callback_forms(pending) if pending and running else "")
        + (f"<h4>Result</h4>{payload_block(result)}" if result is not None else "")
        + error_block(op.recorded_error)
        + _history_list(row.events, timeline.start)
        + "</section>"
    )


def _tick(delta: timedelta, span: timedelta) -> str:
    """A tick's label; under 10 ms the chart needs fractions of a millisecond."""
    if not delta:
        return "0"
    if span < timedelta(milliseconds=10):
        return f"+{delta.total_seconds() * 1000:.2g} ms"
    return "+" + format_duration(delta)


def _axis(timeline: Timeline) -> str:
    ticks = []
    for i in range(5):
        share = i / 4
        label = _tick(timeline.span * share, timeline.span)
        ticks.append(f'<span class="tick" data-left="{share * 100:.1f}">{esc(label)}</span>')
    return f'<div class="axis">{"".join(ticks)}</div>'


def _bar(timeline: Timeline, start: datetime, end: datetime, css: str, title: str) -> str:
    left = timeline.offset(start)
    width = max(timeline.offset(end) - left, 0.0)
    took = format_duration(end - start)
    return (
        f'<span class="seg {esc(css)}" data-left="{left}" data-width="{width:.3f}" '
        f'title="{esc(title)} · {esc(took)}"></span>'
    )


def _timeline(timeline: Timeline, selected_running: bool, now: datetime) -> tuple[str, str]:
    """The chart, and the hidden details of every operation."""
    rows: list[str] = []
    details: list[str] = []
    child_counts: dict[str, int] = {}
    for row in timeline.rows:
        if row.operation.parent_id:
            child_counts[row.operation.parent_id] = child_counts.get(row.operation.parent_id, 0) + 1
    invocations = "".join(
        _bar(
            timeline,
            inv.start,
            inv.end,
            "invocation" + (" error" if inv.error else ""),
            f"invocation {n}",
        )
        for n, inv in enumerate(timeline.invocations, 1)
    )
    markers = "".join(
        f'<span class="marker" data-left="{timeline.offset(inv.start)}"></span>'
        for inv in timeline.invocations
    )
    rows.append(
        '<div class="row invocations"><div class="label"><span class="kind">λ</span>'
        f"invocations ({len(timeline.invocations)})</div>"
        f'<div class="track">{invocations}</div></div>'
    )
    for row in timeline.rows:
        op = row.operation
        toggle = ""
        collapsed = ""
        inside = ""
        if row.has_children:
            count = child_counts.get(op.id, 0)
            many = count > COLLAPSE_ABOVE
            collapsed = ' data-collapsed="true"' if many else ""
            toggle = (
                '<button class="toggle" type="button" title="show/hide children">'
                f"{'▸' if many else '▾'}</button>"
            )
            if many or op.sub_type in ("Map", "Parallel"):  # how many items or branches
                inside = f'<span class="inside" title="operations directly inside">{count}</span>'
        segs = "".join(_bar(timeline, s.start, s.end, s.kind, s.label) for s in row.segments)
        callback = ' data-pending-callback="true"' if _pending_callback(op) else ""
        rows.append(
            f'<div class="row op" tabindex="0" data-op="{esc(op.id)}" '
            f'data-parent="{esc(op.parent_id or "")}" data-depth="{row.depth}"'
            f"{collapsed}{callback}>"
            f'<div class="label depth-{min(row.depth, 8)}">{toggle}'
            f'<span class="kind {esc(op.type.value.lower())}">{esc(_kind_label(op))}</span>'
            f'<span class="name">{esc(display_name(op))}</span>{inside}'
            f'<span class="dot {esc(op.status.value.lower().replace("_", "-"))}" '
            f'title="{esc(op.status.value)}"></span></div>'
            f'<div class="track">{segs}</div></div>'
        )
        details.append(_details(row, timeline, selected_running, now))
    chart = (
        '<div class="timeline">'
        f'<div class="row head"><div class="label">operation</div>{_axis(timeline)}</div>'
        f'<div class="markers">{markers}</div>{"".join(rows)}</div>'
    )
    return chart, "".join(details)


def _legend() -> str:
    kinds = (
        ("succeeded", "attempt succeeded"),
        ("failed", "attempt failed"),
        ("retry", "retry delay"),
        ("wait", "wait"),
        ("waiting", "waiting for a callback"),
        ("running", "running"),
        ("context", "context"),
        ("invocation", "invocation"),
    )
    return (
        '<div class="legend">'
        + "".join(f'<span><i class="seg {k}"></i>{esc(text)}</span>' for k, text in kinds)
        + "</div>"
    )


def execution_fragment(
    info: ExecutionInfo, timeline: Timeline, *, version: int, now: datetime
) -> str:
    """Everything on the execution page that changes (what the page refreshes)."""
    running = not info.done
    duration = format_duration((info.end_timestamp or now) - info.start_timestamp)
    pending = [row for row in timeline.rows if _pending_callback(row.operation)]
    waiting = ""
    if pending and running:
        names = "".join(
            f'<li><button type="button" class="op-ref answer" data-op="{esc(r.operation.id)}">'
            f"Answer {esc(display_name(r.operation))}</button></li>"
            for r in pending
        )
        waiting = (
            '<div class="callout" id="waiting-for-you"><strong>Waiting for you:</strong>'
            f"<ul>{names}</ul></div>"
        )
    stop = _actions(info)
    parent = (
        f'<tr><th>Started by</th><td><a href="{esc(execution_url(info.parent_arn))}">'
        "the parent execution</a></td></tr>"
        if info.parent_arn
        else ""
    )
    chart, details = _timeline(timeline, running, now)
    outcome = ""
    if info.result is not None:
        outcome += (
            f'<section class="panel outcome"><h2>Result</h2>{payload_block(info.result)}</section>'
        )
    if info.error is not None:
        outcome += f'<section class="panel"><h2>Error</h2>{error_block(info.error)}</section>'
    return (
        f'<div class="fragment" data-version="{version}">'
        f'<div class="heading"><h1>{esc(info.name)} {status_badge(info.status)}</h1>{stop}</div>'
        '<table class="facts summary">'
        f"<tr><th>Function</th><td>{esc(info.function_name)}</td></tr>"
        f'<tr><th>ARN</th><td><code id="execution-arn">{esc(info.arn)}</code></td></tr>'
        f"<tr><th>Started</th><td>{timestamp(info.start_timestamp)}</td></tr>"
        f"<tr><th>Ended</th><td>{timestamp(info.end_timestamp)}</td></tr>"
        f"<tr><th>Duration</th><td>{esc(duration)}{'' if info.done else ' so far'}</td></tr>"
        f"{_paused_row(info)}{parent}</table>{waiting}{outcome}"
        f'<section class="panel"><h2>Timeline</h2>{_legend()}'
        f'<div class="chart-and-details">{chart}'
        '<aside class="details" id="details"><p class="muted hint">Click an operation to see '
        f"its details.</p>{details}</aside></div></section>"
        f'<section class="panel"><h2>Input</h2>{payload_block(info.input_payload)}</section>'
        "</div>"
    )


#: The buttons beside the title, by what the execution's status allows: (action, label,
#: question asked first, CSS class).
_ACTIONS = {
    "pause": ("Pause", "", ""),
    "resume": ("Resume", "", ""),
    "stop": ("Stop execution", "Stop this execution?", "danger"),
    "delete": ("Delete", "Delete this execution and everything stored about it?", "danger"),
}


def _actions(info: ExecutionInfo) -> str:
    status = info.status.value
    if info.done:
        allowed = ["delete"]
    elif status in ("PAUSING", "PAUSED"):
        allowed = ["resume", "stop"]
    else:
        allowed = ["pause", "stop"]
    forms = []
    for action in allowed:
        label, question, css = _ACTIONS[action]
        confirm = f' data-confirm="{esc(question)}"' if question else ""
        forms.append(
            f'<form class="action inline" data-action="{action}"{confirm}>'
            f'<input type="hidden" name="arn" value="{esc(info.arn)}">'
            f'<button type="submit" class="{css}" id="{action}-button">{esc(label)}</button>'
            '<span class="form-error" role="alert"></span></form>'
        )
    return f'<div class="actions">{"".join(forms)}</div>'


def _paused_row(info: ExecutionInfo) -> str:
    if info.pause_requested_at is None:
        return ""
    clock = "" if info.execution_timeout_paused else "; its timeout keeps running"
    reason = f" ({esc(info.pause_reason)})" if info.pause_reason else ""
    return (
        f"<tr><th>Paused</th><td>since {timestamp(info.pause_requested_at)}{reason}"
        f"{esc(clock)}</td></tr>"
    )


def execution_page_body(fragment: str, arn: str) -> str:
    query = esc(urlencode({"arn": arn}))
    return (
        '<nav class="crumbs"><a href="/ui/">Executions</a></nav>'
        f'<div id="live" data-src="/ui/fragments/execution?{query}">{fragment}</div>'
    )
