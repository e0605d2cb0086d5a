"""The Lambda model the CLI's botocore client uses: the service as it is today.

``aiodurable pause / resume / delete`` call operations that botocore models from 1.44
on, while aiobotocore pins an older botocore into the same environment. botocore also
loads models from extra data paths, searched first; ``data/`` here holds botocore
1.44's Lambda model without its documentation (every operation, so that a client made
for the CLI can do all a stock one can). :func:`lambda_session` puts it first only while
the installed botocore is older than the one it came from, so a newer botocore is used
as it is.

Cut it again from a newer model with
``python -m aiodurable.cli.lambda_model PATH/botocore/data/lambda/2015-03-31/service-2.json.gz``.
"""

from __future__ import annotations

import gzip
import json
import os
import sys
from pathlib import Path
from typing import Any

import msgspec

from aiodurable.service.models import trim_model

__all__ = ["DATA", "NEEDED", "lambda_session"]

#: Operations the CLI needs that an older botocore lacks (the reason for the copy).
NEEDED = ("PauseDurableExecution", "ResumeDurableExecution", "DeleteDurableExecution")
DATA = Path(__file__).parent / "data"
_MODEL = DATA / "lambda" / "2015-03-31" / "service-2.json.gz"
#: The botocore version the cut came from.
_SOURCE = _MODEL.parent / "service-2.source"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3] if part.isdigit())


def lambda_session() -> Any:
    """A botocore session whose Lambda model has every operation the CLI calls."""
    import botocore  # type: ignore[import-untyped]  # loaded only when needed
    import botocore.session  # type: ignore[import-untyped]

    session = botocore.session.get_session()
    if _version(botocore.__version__) < _version(_SOURCE.read_text().strip()):
        paths = [str(DATA), *filter(None, [session.get_config_variable("data_path")])]
        session.set_config_variable("data_path", os.pathsep.join(paths))
    return session


def _write_cut(source: Path) -> None:
    """Cut ``source`` (a botocore Lambda ``service-2.json[.gz]``) into ``data/``."""
    opener: Any = gzip.open if source.name.endswith(".gz") else open
    with opener(source, "rb") as fp:
        model = json.load(fp)
    version = source.resolve().parents[3].joinpath("__init__.py").read_text()
    found = next(line for line in version.splitlines() if line.startswith("__version__"))
    _MODEL.parent.mkdir(parents=True, exist_ok=True)
    missing = [name for name in NEEDED if name not in model["operations"]]
    if missing:
        raise SystemExit(f"{source} does not model {missing}: take it from botocore >= 1.44")
    cut = trim_model(model, list(model["operations"]))
    # mtime=0: the same model gives the same bytes (no spurious diffs).
    _MODEL.write_bytes(gzip.compress(msgspec.json.encode(cut), mtime=0))
    _SOURCE.write_text(found.split("=", 1)[1].strip().strip("'\"") + "\n")
    print(f"wrote {_MODEL} from {source}")


if __name__ == "__main__":
    _write_cut(Path(sys.argv[1]))
