"""The Lambda model the CLI's botocore client uses: the service as it is today.

``aiodurable pause / resume / delete`` call operations that botocore models from 1.44
on, while aiobotocore pins an older botocore into the same environment. botocore also
loads models from extra data paths, searched first; ``data/`` here holds the part of
botocore 1.44's Lambda model the CLI calls (:data:`OPERATIONS`, every shape they reach,
no documentation). :func:`lambda_session` puts it first only while the installed
botocore is older than the one it was cut from, so a newer botocore is used as it is.

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

__all__ = ["DATA", "OPERATIONS", "lambda_session"]

#: What the CLI calls on a served backend.
OPERATIONS = (
    "ListFunctions",
    "ListDurableExecutionsByFunction",
    "GetDurableExecution",
    "GetDurableExecutionHistory",
    "StopDurableExecution",
    "PauseDurableExecution",
    "ResumeDurableExecution",
    "DeleteDurableExecution",
    "SendDurableExecutionCallbackSuccess",
    "SendDurableExecutionCallbackFailure",
    "SendDurableExecutionCallbackHeartbeat",
)
DATA = Path(__file__).parent / "data"
_MODEL = DATA / "lambda" / "2015-03-31" / "service-2.json"
#: The botocore version the cut came from.
_SOURCE = _MODEL.with_name("service-2.source")


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
    cut = trim_model(model, OPERATIONS)
    _MODEL.write_bytes(msgspec.json.format(msgspec.json.encode(cut), indent=1))
    _SOURCE.write_text(found.split("=", 1)[1].strip().strip("'\"") + "\n")
    print(f"wrote {_MODEL} from {source}")


if __name__ == "__main__":
    _write_cut(Path(sys.argv[1]))
