"""The executions page: the newest executions of the backend, filters, and a start form."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from aiodurable.local.backend import LocalBackend
from aiodurable.local.records import ExecutionInfo, ExecutionStatus
from aiodurable.local.store import ExecutionQuery
from aiodurable.local.ui.layout import esc, format_duration, status_badge, timestamp
from aiodurable.wire import OperationStatus, OperationType
from aiodurable.wire.callback_names import display_name

__all__ = ["LISTED", "execution_url", "executions_fragment", "executions_page_body"]

#: Executions the page lists, newest first (filters narrow them).
LISTED = 200


def execution_url(arn: str) -> str:
    return "/ui/execution?" + urlencode({"arn": arn})


def _note(backend: LocalBackend, info: ExecutionInfo) -> str:
    """What a running execution waits for; how an ended one failed."""
    if info.error is not None:
        text = f"{info.error.error_type or 'Error'}: {info.error.error_message or ''}"
        return f'<span class="note-error">{esc(text[:160])}</span>'
    if info.done:
        return ""
    waiting: list[str] = []
    for op in backend.operations(info.arn):
        if op.status is not OperationStatus.STARTED and op.status is not OperationStatus.PENDING:
            continue
        label = esc(display_name(op))
        if op.type is OperationType.CALLBACK:
            waiting.append(f'<span class="waiting-you">callback {label}</span>')
        elif op.type is OperationType.WAIT:
            waiting.append(f"wait {label}")
        elif op.type is OperationType.CHAINED_INVOKE:
            waiting.append(f"invoke {label}")
        elif op.type is OperationType.STEP and op.status is OperationStatus.PENDING:
            waiting.append(f"retry of {label}")
    if backend.is_invoking(info.arn):
        return "running now"
    return ("waiting for " + ", ".join(waiting[:3])) if waiting else ""


def executions_fragment(
    backend: LocalBackend, *, status: str | None, function: str | None, now: datetime
) -> str:
    """The table of executions, newest first (the part the page refreshes)."""
    query = ExecutionQuery(
        function_name=function or None,
        statuses=frozenset([status]) if status else None,
        reverse=True,
    )
    # The newest page only: the store may hold far more executions than a page can show.
    infos, more = backend.list_executions(query, limit=LISTED)
    if not infos:
        filtered = " matching the filters" if status or function else ""
        return (
            f'<div class="fragment" data-version="{backend.version}">'
            f'<p class="empty">No executions{filtered} yet.</p></div>'
        )
    rows = []
    for info in infos:
        duration = format_duration((info.end_timestamp or now) - info.start_timestamp)
        parent = ' <span class="muted" title="started by a chained invoke">↳ child</span>'
        rows.append(
            f'<tr data-arn="{esc(info.arn)}"><td>{status_badge(info.status)}</td>'
            f'<td><a class="execution-link" href="{esc(execution_url(info.arn))}">'
            f"{esc(info.name)}</a>{parent if info.parent_arn else ''}</td>"
            f"<td>{esc(info.function_name)}</td><td>{timestamp(info.start_timestamp)}</td>"
            f'<td class="num">{esc(duration)}{"" if info.done else " …"}</td>'
            f'<td class="note">{_note(backend, info)}</td></tr>'
        )
    return (
        f'<div class="fragment" data-version="{backend.version}">'
        '<table class="executions"><thead><tr><th>Status</th><th>Name</th><th>Function</th>'
        "<th>Started</th><th>Duration</th><th></th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        f'<p class="muted count">{"the newest " if more else ""}{len(infos)} '
        f"execution{'s' if len(infos) != 1 else ''}</p>"
        "</div>"
    )


def _options(values: list[str], selected: str | None, all_label: str | None) -> str:
    options = [f'<option value="">{esc(all_label)}</option>'] if all_label else []
    for value in values:
        chosen = " selected" if value == selected else ""
        options.append(f'<option value="{esc(value)}"{chosen}>{esc(value)}</option>')
    return "".join(options)


def executions_page_body(
    backend: LocalBackend, *, status: str | None, function: str | None, now: datetime
) -> str:
    registered = backend.function_names()
    seen = sorted(set(backend.stored_function_names()) - set(registered))
    query = urlencode({k: v for k, v in (("status", status), ("function", function)) if v})
    statuses = [s.value for s in ExecutionStatus]
    start_form = (
        '<details class="panel start"><summary>Start an execution</summary>'
        '<form class="action" data-action="start" id="start-form">'
        '<label>Function <select name="function" id="start-function">'
        f"{_options(registered, function, None)}</select></label>"
        '<label>Name <input name="name" id="start-name" placeholder="optional; '
        'idempotent" autocomplete="off"></label>'
        '<label class="wide">Input (JSON)'
        '<textarea name="input" id="start-input" rows="4" spellcheck="false">{}</textarea>'
        '</label><div class="buttons"><button type="submit" id="start-button">Start</button>'
        '<span class="form-error" role="alert"></span></div></form></details>'
        if registered
        else '<p class="muted">No functions are registered, so none can be started here.</p>'
    )
    return (
        '<div class="heading"><h1>Executions</h1>'
        '<form class="filters" method="get" action="/ui/" id="filters">'
        '<label>Status <select name="status" id="filter-status">'
        f"{_options(statuses, status, 'any')}</select></label>"
        '<label>Function <select name="function" id="filter-function">'
        f"{_options(registered + seen, function, 'any')}</select></label>"
        '<noscript><button type="submit">Filter</button></noscript></form></div>'
        f"{start_form}"
        f'<div id="live" data-src="/ui/fragments/executions?{esc(query)}">'
        f"{executions_fragment(backend, status=status, function=function, now=now)}</div>"
    )
