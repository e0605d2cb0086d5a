"""The log lines our handlers write, kept per execution as CloudWatch would return them.

On Lambda every line a function prints lands in its log group, and AWS's runner fetches
an execution's lines with the filter ``$.durableExecutionArn = ARN || $.executionArn =
ARN``. Handlers here write their lines to :data:`EXECUTION_LOGS`, which prints each line
to stdout as a Lambda function does — so any runner reading the functions' output can
check ``ExpectedLogs`` — and also files it under the ARN the line itself names, because
all requirements run side by side in one process. Lines that name no execution are
printed but not filed: the filter would not find them either.

Handlers log through :data:`LOGS` (``ctx.logger`` and step loggers, silent during
replay) or :data:`LOGS_DURING_REPLAY`; plugins write their JSON lines with
:meth:`ExecutionLogs.write`.
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
from collections import defaultdict
from typing import Any, TextIO

from aiodurable import LoggingConfig

#: The top-level fields CloudWatch's execution filter looks at.
ARN_FIELDS = ("durableExecutionArn", "executionArn")


class ExecutionLogs:
    """Log lines by execution ARN, in the order they were written (thread-safe).

    Every line is also printed to ``stdout`` (the process's current ``sys.stdout`` when
    none is given), one line each, as a Lambda function's output.
    """

    def __init__(self, stdout: TextIO | None = None) -> None:
        self._stdout = stdout
        self._lock = threading.Lock()
        self._sequence = itertools.count()
        self._lines: defaultdict[str, list[tuple[int, str]]] = defaultdict(list)

    def write(self, line: str) -> None:
        """Print ``line`` (one JSON object) and keep it under the execution ARN it carries."""
        arn = _execution_arn(line)
        with self._lock:
            out = self._stdout if self._stdout is not None else sys.stdout
            out.write(line + "\n")
            out.flush()
            if arn is not None:
                self._lines[arn].append((next(self._sequence), line))

    def write_record(self, record: dict[str, Any]) -> None:
        """Write ``record`` as one JSON line, as a plugin printing to stdout would."""
        self.write(json.dumps(record))

    def events(self, arn: str) -> list[dict[str, Any]]:
        """The execution's lines as ``FilterLogEvents`` events, oldest first.

        The write order stands in for the timestamps: every line gets its own, so the
        matcher's before/after checks see the order in which the lines were written.
        """
        with self._lock:
            lines = list(self._lines.get(arn, ()))
        return [
            {"timestamp": sequence, "ingestionTime": sequence, "message": line}
            for sequence, line in lines
        ]

    def logger(self) -> LineLogger:
        """A structlog logger (for :class:`LoggingConfig`) that writes here."""
        return LineLogger(self)


def _execution_arn(line: str) -> str | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    for name in ARN_FIELDS:
        if isinstance(record.get(name), str):
            return str(record[name])
    return None


class LineLogger:
    """What structlog's processors hand the rendered line to, at any level."""

    def __init__(self, logs: ExecutionLogs) -> None:
        self._logs = logs

    def msg(self, message: str) -> None:
        self._logs.write(message)

    log = debug = info = warning = warn = error = err = critical = fatal = exception = msg


EXECUTION_LOGS = ExecutionLogs()
#: How every handler logs: replay-safe, as ``ctx.logger`` does by default.
LOGS = LoggingConfig(logger=EXECUTION_LOGS.logger())
#: For handlers whose requirement observes re-executed code (3-11, 3-17).
LOGS_DURING_REPLAY = LoggingConfig(logger=EXECUTION_LOGS.logger(), log_during_replay=True)
