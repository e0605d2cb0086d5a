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

Only sessions that :meth:`LambdaServiceClient.create` makes itself get this loader; a
session passed in is used as it is.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import IO, Any

import msgspec
from botocore.exceptions import DataNotFoundError  # type: ignore[import-untyped]
from botocore.loaders import (  # type: ignore[import-untyped]
    JSONFileLoader,
    Loader,
    create_loader,
    instance_cache,
)

__all__ = ["FastJSONFileLoader", "FastLoader", "use_fast_loader"]


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

    @instance_cache  # type: ignore[misc]
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
    the paths its own loader would (``AWS_DATA_PATH``, ``~/.aws/models``, botocore's data)."""
    stock = create_loader(session.get_config_variable("data_path"))
    session.register_component("data_loader", FastLoader(stock.search_paths))
