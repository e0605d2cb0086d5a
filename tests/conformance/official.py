"""The official Python SDK's own conformance handlers, as function processes.

AWS's SDK repository (``aws/aws-durable-execution-sdk-python``) keeps, beside its SAM
templates (``template_<suite>.yaml``), one handler per requirement under ``handlers/``.
They are not published to the package index, so they are not in this repository either:
check the SDK repository out and point :data:`HANDLERS_ENV` at its
``packages/aws-durable-execution-sdk-python-conformance-tests`` directory (default:
``.official-sdk/packages/aws-durable-execution-sdk-python-conformance-tests``). They run
from their own virtualenv (:data:`PYTHON_ENV`, default ``.venv-official``, which
``make .venv-official/.installed`` creates with the SDK 3.0.0, awslambdaric and a boto3
whose botocore has the durable APIs), each function in its own ``awslambdaric`` process.

The templates say everything a deployment would: the function (logical id), its handler,
its timeout and memory size, its environment (``!Sub "${TargetEcho.Arn}:$LATEST"``
becomes the local function ARN), whether it is durable (``DurableConfig``), its log format
and the requirement ids it implements (``TestingMetadata.TestDescription``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from aiodurable.local.processes import ProcessFunction

ROOT = Path(__file__).resolve().parents[2]
HANDLERS_ENV = "AIODURABLE_OFFICIAL_HANDLERS"
PYTHON_ENV = "AIODURABLE_OFFICIAL_VENV"
DEFAULT_HANDLERS = (
    ROOT / ".official-sdk/packages/aws-durable-execution-sdk-python-conformance-tests"
)
DEFAULT_VENV = ROOT / ".venv-official"


class OfficialUnavailable(Exception):
    """The official handlers or their virtualenv are not here; one line says which."""


@dataclass(frozen=True)
class OfficialFunction:
    """One function of the templates."""

    logical_id: str
    handler: str
    timeout: float
    memory: int
    environment: dict[str, str]
    durable: bool
    requirement_ids: tuple[str, ...]


class _Tag:
    """A CloudFormation intrinsic (``!Sub``, ``!GetAtt``, …) left for later resolution."""

    def __init__(self, tag: str, value: Any) -> None:
        self.tag = tag
        self.value = value


class _Loader(yaml.SafeLoader):  # type: ignore[misc]
    pass


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> _Tag:
    if isinstance(node, yaml.ScalarNode):
        return _Tag(suffix, loader.construct_scalar(node))
    if isinstance(node, yaml.SequenceNode):
        return _Tag(suffix, loader.construct_sequence(node))
    return _Tag(suffix, loader.construct_mapping(node))


_Loader.add_multi_constructor("!", _intrinsic)


def locate() -> tuple[Path, Path]:
    """(handlers package directory, virtualenv python), or :class:`OfficialUnavailable`."""
    package = Path(os.environ.get(HANDLERS_ENV) or DEFAULT_HANDLERS)
    venv = Path(os.environ.get(PYTHON_ENV) or DEFAULT_VENV)
    if not (package / "handlers").is_dir():
        raise OfficialUnavailable(
            f"official SDK handlers not found at {package} (set {HANDLERS_ENV}; "
            "docs/local-backend.md says how to get them)"
        )
    python = venv / "bin" / "python"
    if not python.exists():
        raise OfficialUnavailable(f"{python} missing: run make .venv-official/.installed")
    return package, python


def functions(package: Path, arn_of: Any) -> list[OfficialFunction]:
    """Every function of every ``template_*.yaml``; ``arn_of(logical_id)`` names ARNs."""
    found: list[OfficialFunction] = []
    for template in sorted(package.glob("template_*.yaml")):
        spec = yaml.load(template.read_text(), Loader=_Loader)
        defaults = (spec.get("Globals") or {}).get("Function") or {}
        for logical_id, resource in (spec.get("Resources") or {}).items():
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            props = resource.get("Properties") or {}
            logging = props.get("LoggingConfig") or defaults.get("LoggingConfig") or {}
            variables = (props.get("Environment") or {}).get("Variables") or {}
            environment = {name: _resolve(value, arn_of) for name, value in variables.items()}
            if logging.get("LogFormat") == "JSON":
                # As Lambda does for the JSON format: application logs at INFO and above.
                environment["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
                environment["AWS_LAMBDA_LOG_LEVEL"] = "INFO"
            ids = (resource.get("TestingMetadata") or {}).get("TestDescription") or []
            found.append(
                OfficialFunction(
                    logical_id=logical_id,
                    handler=str(props["Handler"]),
                    timeout=float(props.get("Timeout") or defaults.get("Timeout") or 3),
                    memory=int(props.get("MemorySize") or defaults.get("MemorySize") or 128),
                    environment=environment,
                    durable="DurableConfig" in props,
                    requirement_ids=tuple(str(i) for i in ids),
                )
            )
    return found


def tables(package: Path) -> dict[str, dict[str, Any]]:
    """The templates' DynamoDB tables (logical id → properties): a handler that keeps
    state outside its process (3-12 counts attempts) needs them."""
    found: dict[str, dict[str, Any]] = {}
    for template in sorted(package.glob("template_*.yaml")):
        spec = yaml.load(template.read_text(), Loader=_Loader)
        for logical_id, resource in (spec.get("Resources") or {}).items():
            if resource.get("Type") == "AWS::DynamoDB::Table":
                found[logical_id] = resource.get("Properties") or {}
    return found


def _resolve(value: Any, arn_of: Any) -> str:
    # ``Ref`` of a table is its name: the tables are created under their logical ids.
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return str(value["Ref"])
    if isinstance(value, _Tag) and value.tag == "Ref":
        return str(value.value)
    if isinstance(value, _Tag) and value.tag == "Sub" and isinstance(value.value, str):
        return re.sub(r"\$\{(\w+)\.Arn\}", lambda m: str(arn_of(m.group(1))), value.value)
    if isinstance(value, _Tag):
        raise ValueError(f"cannot resolve !{value.tag} {value.value!r} locally")
    return str(value)


def process_functions(
    package: Path,
    python: Path,
    arn_of: Any,
    *,
    memory: int | None = None,
    environment: dict[str, str] | None = None,
) -> dict[str, ProcessFunction]:
    """Function name → how to run it: each requirement's function under the name the
    suite invokes (``conformance-<id>``), the others (invoke targets) under their logical
    id. ``memory`` overrides the templates' memory size; ``environment`` is added to
    every function's (the endpoint of the services the handlers use)."""
    result: dict[str, ProcessFunction] = {}
    for function in functions(package, arn_of):
        names = [f"conformance-{rid}" for rid in function.requirement_ids] or [function.logical_id]
        for name in names:
            result[name] = ProcessFunction(
                name,
                [str(python), "-m", "awslambdaric", function.handler],
                timeout=function.timeout,
                memory=memory or function.memory,
                environment={**function.environment, **(environment or {})},
                cwd=str(package / "handlers"),
                init_timeout=60,  # many processes start at once on a small machine
                durable=function.durable,
            )
    return result
