"""The programs some tests drive, found where they are installed, or a skip that says
what to install (`make tools` installs them as root on Debian, as CI runs it).

- tmux: the live view of ``aiodurable run`` in a real terminal (tests/cli/test_live_view.py);
- Chromium and chromedriver: the web UI in a real headless browser (tests/ui/test_browser.py).

``AIODURABLE_CHROMIUM`` and ``AIODURABLE_CHROMEDRIVER`` name them where ``PATH`` does not
(a Chrome or Chromium app bundle on macOS is also looked for).
"""

from __future__ import annotations

import os
import shutil

import pytest

__all__ = ["chromedriver", "chromium", "tmux"]

INSTALL = (
    "Debian/Ubuntu: apt-get install tmux chromium chromium-driver; "
    "macOS: brew install tmux chromedriver && brew install --cask chromium"
)
_MAC_BROWSERS = (
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
)


def _find(variable: str | None, names: tuple[str, ...], paths: tuple[str, ...] = ()) -> str | None:
    if variable and os.environ.get(variable):
        return os.environ[variable]
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return next((path for path in paths if os.access(path, os.X_OK)), None)


def _require(found: str | None, what: str) -> str:
    if found is None:
        pytest.skip(f"{what} is not installed ({INSTALL})")
    return found


def tmux() -> str:
    return _require(_find(None, ("tmux",)), "tmux")


def chromium() -> str:
    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
    return _require(_find("AIODURABLE_CHROMIUM", names, _MAC_BROWSERS), "Chromium")


def chromedriver() -> str:
    return _require(_find("AIODURABLE_CHROMEDRIVER", ("chromedriver",)), "chromedriver")
