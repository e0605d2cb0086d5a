"""The traceback recorded with an exception that escaped user code.

It leaves the process: the checkpoint sends it to the service, which keeps it with the
operation (``GetDurableExecutionHistory``, the web UI and ``aiodurable history`` show
it). It holds the exception chain's frames with their source lines, as
``traceback.format_exception`` writes them, with each file named relative to the
``sys.path`` entry (or working directory) it was imported from: ``app/orders.py``, not
``/home/ana/src/app/orders.py`` — where the code was checked out or unpacked is no
business of the history, and the names read the same in every environment.
"""

from __future__ import annotations

import os
import re
import sys
import traceback

__all__ = ["stack_lines"]

_FILE = re.compile(r'^(  File ")([^"]+)(", line )', re.M)


def _roots() -> list[str]:
    """Directories code is imported from, longest first (the most specific wins)."""
    roots = {os.path.abspath(entry or os.curdir) for entry in sys.path}
    roots.add(os.getcwd())
    return sorted((root.rstrip(os.sep) + os.sep for root in roots), key=len, reverse=True)


def _relative(path: str, roots: list[str]) -> str:
    for root in roots:
        if path.startswith(root):
            return path[len(root) :]
    return path


def stack_lines(error: BaseException) -> list[str] | None:
    """The traceback of ``error``, one line an entry (newest frame last), files named
    relative to their import root; ``None`` when it was never raised."""
    if error.__traceback__ is None:
        return None
    roots = _roots()
    text = "".join(traceback.format_exception(error)).rstrip("\n")
    text = _FILE.sub(lambda m: m[1] + _relative(m[2], roots) + m[3], text)
    return text.split("\n")
