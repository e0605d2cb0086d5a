"""How many cases each property-based fuzz test runs.

``make test`` runs a few hundred cases per test so the whole suite stays near five minutes on
a two-core machine; ``make fuzz`` sets ``FUZZ_CASES=10000`` for the long campaign that found
the bugs pinned in these files. Any other budget: ``FUZZ_CASES=N pytest tests/reliability``.
"""

from __future__ import annotations

import os

CASES = int(os.environ.get("FUZZ_CASES", "1000"))
