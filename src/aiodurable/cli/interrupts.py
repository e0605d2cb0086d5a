"""Ctrl-C for commands that run the backend in this process: stop promptly, say what next.

The first SIGINT (or SIGTERM) prints the message set for it (how to resume), stops the
live view and cancels the command. Cancellation normally ends the backend cleanly; but
a sync step body runs in a worker thread that nothing can interrupt, and waiting for it
could take forever. So if the command has not ended after a short grace period — or at
a second Ctrl-C — the process exits at once. That is what a crash is to a durable
execution: everything checkpointed is in the store, and the interrupted step runs again
when the execution resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator

__all__ = ["Interrupts"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupts:
    """Signal handling around one command's task."""

    def __init__(self, *, exit_status: int = 130, grace: float = 1.0) -> None:
        self.exit_status = exit_status
        self.grace = grace
        #: Printed to stderr at the first signal (e.g. the command that resumes).
        self.message = ""
        #: Called at the first signal, before the message (e.g. stop redrawing).
        self.on_signal: list[Callable[[], None]] = []
        self.interrupted = False
        self._timer: asyncio.TimerHandle | None = None

    @contextlib.contextmanager
    def installed(self, task: asyncio.Task[object]) -> Iterator[None]:
        """Handle SIGINT and SIGTERM by cancelling ``task`` for the block's duration."""
        loop = asyncio.get_running_loop()
        for sig in _SIGNALS:
            loop.add_signal_handler(sig, self._signalled, task)
        try:
            yield
        finally:
            for sig in _SIGNALS:
                loop.remove_signal_handler(sig)
            if self._timer is not None:
                self._timer.cancel()

    def _signalled(self, task: asyncio.Task[object]) -> None:
        if self.interrupted:
            self._exit_now()
        self.interrupted = True
        for callback in self.on_signal:
            with contextlib.suppress(Exception):
                callback()
        if self.message:
            with contextlib.suppress(OSError):
                sys.stderr.write(self.message + "\n")
                sys.stderr.flush()
        task.cancel()
        self._timer = asyncio.get_running_loop().call_later(self.grace, self._exit_now)

    def exit_if_interrupted(self) -> None:
        """After the loop ended: exit without joining a worker thread that may still run
        a sync step (the interpreter would wait for it at exit)."""
        if self.interrupted:
            self._exit_now()

    def _exit_now(self) -> None:
        # A worker thread still runs a sync step: do not wait for it (see the module doc).
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(self.exit_status)
