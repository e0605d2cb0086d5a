"""What LambdaServiceClient.create does to start fast, and that it changes nothing else.

* service/models.py: a botocore loader that reads the same files faster, and the cut
  Lambda model (the two operations aiodurable calls) used only while it is a cut of the
  model botocore would load;
* service/http_session.py: no CA bundle for a plain-HTTP endpoint until a request needs TLS.
"""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.httpsession import AIOHTTPSession
from aiobotocore.session import get_session
from botocore.awsrequest import AWSRequest
from botocore.exceptions import UnknownServiceError
from botocore.loaders import create_loader

from aiodurable.service.http_session import TLSOnDemandSession
from aiodurable.service.lambda_client import LambdaServiceClient
from aiodurable.service.models import (
    DATA,
    OPERATIONS,
    FastLoader,
    fingerprint,
    trim_model,
    use_fast_loader,
)
from aiodurable.wire import OperationAction, OperationType, OperationUpdate

from .http_stub import ServiceStub, isolate_from_aws_configuration

ARN = "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/run/5b1d0c9e"
MODEL = "lambda/2015-03-31/service-2"
REGENERATE = "the Lambda model changed: run `python -m aiodurable.service.models` and commit data/"


@pytest.fixture(autouse=True)
def _no_aws_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_from_aws_configuration(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")


def stock_paths() -> list[str]:
    return list(create_loader().search_paths)


def same(a: Any, b: Any) -> bool:
    """Equal values with keys in the same order (botocore keeps members in file order)."""
    return json.dumps(a) == json.dumps(b)


def without_documentation(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_documentation(v) for k, v in value.items() if k != "documentation"}
    if isinstance(value, list):
        return [without_documentation(v) for v in value]
    return value


# -- the loader ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    ["endpoints", "partitions", "sdk-default-configuration", "_retry"],
)
def test_the_fast_loader_reads_the_data_botocore_reads(name: str) -> None:
    assert same(FastLoader(stock_paths()).load_data(name), create_loader().load_data(name))


@pytest.mark.parametrize("type_name", ["service-2", "endpoint-rule-set-1", "paginators-1"])
def test_the_fast_loader_loads_the_service_models_botocore_loads(type_name: str) -> None:
    fast = FastLoader(stock_paths()).load_service_model("lambda", type_name)
    assert same(fast, create_loader().load_service_model("lambda", type_name))


def test_the_fast_loader_rejects_an_unknown_service_as_botocore_does() -> None:
    with pytest.raises(UnknownServiceError, match="no-such-service"):
        FastLoader(stock_paths()).load_service_model("no-such-service", "service-2")


# -- the cut Lambda model --------------------------------------------------------------------
def test_the_shipped_model_is_the_cut_of_the_installed_botocores() -> None:
    full, path = create_loader().load_data_with_path(MODEL)
    source = next(Path(path + ext) for ext in (".json", ".json.gz") if Path(path + ext).exists())
    recorded = (DATA / "lambda/2015-03-31/service-2.source").read_text().split()
    assert fingerprint(source) == (int(recorded[0]), int(recorded[1])), REGENERATE
    shipped = json.loads((DATA / (MODEL + ".json")).read_text())
    assert same(shipped, trim_model(full)), REGENERATE


def test_the_cut_describes_our_calls_exactly_as_the_full_model() -> None:
    full = create_loader().load_service_model("lambda", "service-2")
    cut = trim_model(full)
    assert sorted(cut["operations"]) == sorted(OPERATIONS)
    for name in OPERATIONS:
        operation = {k: v for k, v in full["operations"][name].items() if k != "documentation"}
        assert same(cut["operations"][name], operation)
    for name, shape in cut["shapes"].items():
        assert same(shape, without_documentation(full["shapes"][name])), name
    exceptions = {n for n, s in full["shapes"].items() if s.get("exception")}
    assert exceptions <= cut["shapes"].keys()


def test_the_cut_reaches_every_member_shape() -> None:
    cut = trim_model(create_loader().load_service_model("lambda", "service-2"))
    for shape in cut["shapes"].values():
        refs = [shape.get(k) for k in ("member", "key", "value")]
        refs += list(shape.get("members", {}).values())
        assert all(ref["shape"] in cut["shapes"] for ref in refs if ref is not None)


async def test_a_client_create_makes_uses_the_cut_and_talks_to_the_service(
    stub: ServiceStub,
) -> None:
    stub.reply(body={"CheckpointToken": "QUFBQUFC", "NewExecutionState": {"Operations": []}})
    async with await LambdaServiceClient.create(
        region_name="us-east-1", endpoint_url=stub.url
    ) as service:
        response = await service.checkpoint(
            ARN,
            "QUFBQUFB",
            [OperationUpdate(id="1", type=OperationType.STEP, action=OperationAction.START)],
        )
        lambda_client: Any = service._client
        assert sorted(lambda_client.meta.service_model.operation_names) == sorted(OPERATIONS)
    assert response.checkpoint_token == "QUFBQUFC"
    assert len(stub.requests) == 1


def test_a_model_botocore_would_load_instead_keeps_the_cut_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A user's own Lambda model (AWS_DATA_PATH) wins over ours, as it wins over botocore's.
    theirs = tmp_path / MODEL
    theirs.parent.mkdir(parents=True)
    full = create_loader().load_data(MODEL)
    full["metadata"]["serviceFullName"] = "Their Lambda"
    theirs.with_suffix(".json").write_text(json.dumps(full))
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    session = get_session()
    use_fast_loader(session)
    loaded = session.get_component("data_loader").load_service_model("lambda", "service-2")
    assert loaded["metadata"]["serviceFullName"] == "Their Lambda"
    assert len(loaded["operations"]) == len(full["operations"])


def test_a_newer_api_version_keeps_the_cut_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    newer = tmp_path / "lambda" / "2099-01-01" / "service-2.json"
    newer.parent.mkdir(parents=True)
    full = create_loader().load_data(MODEL)
    newer.write_text(json.dumps({**full, "metadata": {**full["metadata"], "apiVersion": "2099"}}))
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    session = get_session()
    use_fast_loader(session)
    loaded = session.get_component("data_loader").load_service_model("lambda", "service-2")
    assert loaded["metadata"]["apiVersion"] == "2099"


# -- TLS on demand ---------------------------------------------------------------------------
def ca_count(context: ssl.SSLContext) -> int:
    return context.cert_store_stats()["x509_ca"]


def request(url: str) -> Any:
    prepared = AWSRequest(method="GET", url=url, headers={}).prepare()
    return prepared


def connector_context(session: AIOHTTPSession) -> ssl.SSLContext:
    # aiobotocore keeps one aiohttp session per proxy URL; none here.
    context = session._sessions[None].connector._ssl
    assert isinstance(context, ssl.SSLContext)
    return context


async def test_a_plain_http_endpoint_loads_no_ca_bundle(stub: ServiceStub) -> None:
    stub.reply(status=404, body={})
    async with TLSOnDemandSession(verify=True) as session:
        response = await session.send(request(stub.url + "/plain"))
        assert response.status_code == 404
        context = connector_context(session)
        assert ca_count(context) == 0
        # Still aiobotocore's verifying context, waiting for its bundle.
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname


async def test_an_https_request_loads_the_bundle_before_it_connects(stub: ServiceStub) -> None:
    stub.reply(status=404, body={})
    async with TLSOnDemandSession(verify=True) as session:
        await session.send(request(stub.url + "/plain"))
        context = connector_context(session)
        assert ca_count(context) == 0
        # A TLS handshake with a plain-HTTP server fails; the bundle is loaded before it.
        with pytest.raises(Exception):  # noqa: B017 - botocore's SSL or connection error
            await session.send(request(stub.url.replace("http://", "https://") + "/tls"))
        async with AIOHTTPSession(verify=True) as stock:
            stock_context = stock._build_ssl_contexts(None)[0]
        assert ca_count(context) == ca_count(stock_context) > 0


async def test_the_deferred_context_is_aiobotocores_but_for_the_bundle(stub: ServiceStub) -> None:
    stub.reply(status=404, body={})
    async with (
        TLSOnDemandSession(verify=True) as session,
        AIOHTTPSession(verify=True) as stock,
    ):
        await session.send(request(stub.url + "/plain"))
        ours = connector_context(session)
        theirs = stock._build_ssl_contexts(None)[0]
        for attribute in (
            "options",
            "verify_mode",
            "check_hostname",
            "protocol",
            "minimum_version",
            "maximum_version",
            "verify_flags",
        ):
            assert getattr(ours, attribute) == getattr(theirs, attribute), attribute
        assert ours.get_ciphers() == theirs.get_ciphers()


async def test_an_https_endpoint_gets_aiobotocores_context_at_once() -> None:
    async with TLSOnDemandSession(verify=True) as session:
        # The first connection is for HTTPS (connection refused: nothing listens there).
        with pytest.raises(Exception):  # noqa: B017 - botocore's connection error
            await session.send(request("https://127.0.0.1:9/state"))
        assert ca_count(connector_context(session)) > 0
