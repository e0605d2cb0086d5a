"""botocore's data loader for the sessions aiodurable makes: the same files, read faster.

A cold start creates one Lambda client, and botocore's :class:`~botocore.loaders.Loader`
spends much of that on two things aiodurable does not need (docs/benchmarks.md, "Cold
start"):

* ``json.loads(..., object_pairs_hook=OrderedDict)`` of ``endpoints.json`` (1.2 MB), the
  Lambda model (0.5 MB) and the endpoint rule set; msgspec decodes the same bytes into
  the same values about three times faster (plain dicts keep key order, which is all
  botocore relies on).
* listing every service directory of botocore's data (some 430 ``listdir`` calls per
  model type) to check that the service exists; listing the service's own API versions
  answers the same question.
* the Lambda model describes 88 operations; aiodurable calls two. ``data/`` ships the
  part of botocore's model those two need (their operations, every shape they reach,
  every exception shape; no documentation), which the loader finds first. It is used
  only while the model botocore would load is the one it was cut from: ``data/``
  records that model's CRC-32 and size, which a ``.json.gz`` file carries in its last
  eight bytes. Any other model (a newer botocore, ``~/.aws/models``, ``AWS_DATA_PATH``)
  is loaded whole, as botocore would. ``python -m aiodurable.service.models`` cuts it
  again from the installed botocore; a test fails until it matches.

Only sessions that :meth:`LambdaServiceClient.create` makes itself get this loader; a
session passed in is used as it is.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import msgspec
from botocore.exceptions import DataNotFoundError  # type: ignore[import-untyped]
from botocore.loaders import (  # type: ignore[import-untyped]
    JSONFileLoader,
    Loader,
    create_loader,
    instance_cache,
)

__all__ = [
    "DATA",
    "OPERATIONS",
    "FastJSONFileLoader",
    "FastLoader",
    "fingerprint",
    "trim_model",
    "use_fast_loader",
]

#: The operations aiodurable calls (``lambda_client._METHODS``).
OPERATIONS = ("CheckpointDurableExecution", "GetDurableExecutionState")
#: Search path holding the cut Lambda model.
DATA = Path(__file__).parent / "data"
_MODEL = "lambda/2015-03-31/service-2"
_EXTS = (".json", ".json.gz")  # botocore's order
#: "<crc32> <size> <botocore version>" of the model the cut was made from.
_SOURCE = DATA / "lambda" / "2015-03-31" / "service-2.source"


class FastJSONFileLoader(JSONFileLoader):  # type: ignore[misc]
    """botocore's JSON file loader, decoding with msgspec."""

    def _load_file(self, full_path: str, open_method: Callable[..., IO[bytes]]) -> Any:
        if not os.path.isfile(full_path):
            return None
        with open_method(full_path, "rb") as fp:
            return msgspec.json.decode(fp.read())


class FastLoader(Loader):  # type: ignore[misc]
    """A botocore ``Loader`` with the same search paths and results as the stock one."""

    def __init__(self, search_paths: list[str]) -> None:
        super().__init__(
            extra_search_paths=list(search_paths),
            file_loader=FastJSONFileLoader(),
            include_default_search_paths=False,
        )

    @instance_cache  # type: ignore[untyped-decorator]
    def load_service_model(
        self, service_name: str, type_name: str, api_version: str | None = None
    ) -> Any:
        # The stock method lists every service to see whether ``service_name`` has a
        # ``type_name`` file; a service has one exactly when it has an API version with
        # one, which is a listing of its own directory.
        try:
            latest = self.determine_latest_version(service_name, type_name)
        except DataNotFoundError:
            # Unknown here: the stock method raises the error botocore users expect.
            return super().load_service_model(service_name, type_name, api_version)
        version = latest if api_version is None else api_version
        model = self.load_data(os.path.join(service_name, version, type_name))
        extras = self._find_extras(service_name, type_name, version)
        self._extras_processor.process(model, extras)
        return model


def use_fast_loader(session: Any) -> None:
    """Give a new botocore (or aiobotocore) ``session`` a :class:`FastLoader` that searches
    the paths its own loader would (``AWS_DATA_PATH``, ``~/.aws/models``, botocore's data),
    after the cut Lambda model when that is a cut of the one botocore would load."""
    paths = list(create_loader(session.get_config_variable("data_path")).search_paths)
    if _shipped_cut_applies(paths):
        paths.insert(0, str(DATA))
    session.register_component("data_loader", FastLoader(paths))


def _shipped_cut_applies(search_paths: Iterable[str]) -> bool:
    try:
        return _is_cut_of_what_botocore_loads(list(search_paths))
    except (OSError, ValueError):  # unreadable data: botocore's own model, as always
        return False


def _is_cut_of_what_botocore_loads(search_paths: list[str]) -> bool:
    crc, size, _ = _SOURCE.read_text().split()
    ours = _MODEL.split("/")[1]
    for path in search_paths:
        service = Path(path, "lambda")
        # A newer API version anywhere would be loaded instead of ours (botocore: max()).
        newer = [v for v in service.iterdir() if v.name > ours] if service.is_dir() else []
        if any(v.joinpath("service-2" + ext).exists() for v in newer for ext in _EXTS):
            return False
    for path in search_paths:
        for ext in _EXTS:
            candidate = Path(path, _MODEL + ext)
            if candidate.is_file():
                return fingerprint(candidate) == (int(crc), int(size))
    return False


def fingerprint(model_file: Path) -> tuple[int, int]:
    """CRC-32 and size of a model's JSON text; from the trailer of a ``.json.gz`` file."""
    if model_file.name.endswith(".gz"):
        with model_file.open("rb") as fp:
            fp.seek(-8, os.SEEK_END)
            crc, size = struct.unpack("<II", fp.read(8))
        return crc, size
    text = model_file.read_bytes()
    return zlib.crc32(text), len(text)


def trim_model(model: dict[str, Any], operations: Iterable[str] = OPERATIONS) -> dict[str, Any]:
    """The part of a botocore service model that ``operations`` use: those operations,
    every shape they reach, every exception shape; documentation left out."""
    shapes: dict[str, Any] = model["shapes"]
    kept: set[str] = set()

    def reach(name: str) -> None:
        if name in kept:
            return
        kept.add(name)
        shape = shapes[name]
        for ref in (shape.get("member"), shape.get("key"), shape.get("value")):
            if ref is not None:
                reach(ref["shape"])
        for member in shape.get("members", {}).values():
            reach(member["shape"])

    chosen = {name: model["operations"][name] for name in operations}
    for operation in chosen.values():
        for ref in (operation.get("input"), operation.get("output"), *operation.get("errors", ())):
            if ref is not None:
                reach(ref["shape"])
    for name, shape in shapes.items():
        if shape.get("exception"):
            reach(name)
    return {
        "version": model["version"],
        "metadata": model["metadata"],
        "operations": _undocumented(chosen),
        "shapes": _undocumented({name: shapes[name] for name in shapes if name in kept}),
    }


def _undocumented(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _undocumented(v) for k, v in value.items() if k != "documentation"}
    if isinstance(value, list):
        return [_undocumented(v) for v in value]
    return value


def _write_cut() -> None:
    """Cut the Lambda model of the installed botocore into ``data/``."""
    import botocore  # type: ignore[import-untyped]

    stock = create_loader()
    full, path = stock.load_data_with_path(_MODEL)
    source = next(Path(path + ext) for ext in (".json", ".json.gz") if Path(path + ext).is_file())
    crc, size = fingerprint(source)
    target = DATA / (_MODEL + ".json")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(msgspec.json.format(msgspec.json.encode(trim_model(full)), indent=1))
    _SOURCE.write_text(f"{crc} {size} {botocore.__version__}\n")
    print(f"wrote {target} from {source} (botocore {botocore.__version__})")


if __name__ == "__main__":
    _write_cut()
