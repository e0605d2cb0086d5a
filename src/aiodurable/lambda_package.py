"""Turn a ``pip install --target`` directory into a Lambda deployment zip.

``make lambda-zip`` (and anyone building a package by hand, docs/deploying.md) runs::

    python -m aiodurable.lambda_package package/ --zip lambda.zip --python-version 3.12

which does four things to ``package/`` before zipping it:

* **botocore's data, cut to what the runtime reads.** botocore ships the model of every
  AWS service (some 27 MB unpacked, most of a package); a durable function's client
  loads the Lambda model, the endpoint and partition tables, the retry and SDK default
  configuration, nothing else. The other service directories are removed; ``--service
  s3`` keeps S3's (``aiodurable.offload.S3Serdes``), and so on for any client your own
  steps make with this botocore.
* **what cannot run on Lambda, left out**: aiodurable's local backend, CLI and test
  runner (``aiodurable.local``, ``.cli``, ``.testing``: no module the runtime imports
  reaches them), console scripts, C and Cython sources, type stubs, pip's lists of
  installed files (``RECORD``: read by ``pip uninstall`` only), and the debug
  information of compiled extensions (``strip --strip-debug``, when binutils' ``strip``
  is here: aiohttp's wheels carry some 5 MB of it).
* **bytecode for the runtime's Python.** Lambda unpacks a zip on a read-only file system,
  so a package without ``__pycache__`` is compiled from source on every cold start and
  the result thrown away. The sources are compiled with ``--invalidation-mode
  unchecked-hash`` (the zip does not keep modification times exactly, which timestamp
  checks would compare) by an interpreter of ``--python-version``: this one if it is
  that version, else ``python3.X`` from ``PATH``; without one the package ships sources
  only, and the command says so.
* **a size breakdown** by top-level name, unpacked and zipped, printed after the zip is
  written (docs/deploying.md quotes it).

Standard library only: it runs with any Python, before aiodurable's dependencies exist.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = [
    "BOTOCORE_DATA_FILES",
    "NOT_ON_LAMBDA",
    "RUNTIME_SERVICES",
    "build",
    "prune_botocore",
    "prune_unused",
    "zip_dir",
]

#: botocore data directories a durable function's Lambda client reads.
RUNTIME_SERVICES = ("lambda",)
#: botocore data files at the top of ``botocore/data`` that every client reads: the
#: endpoint and partition tables, retry rules, SDK default configuration.
BOTOCORE_DATA_FILES = (
    "endpoints.json",
    "partitions.json",
    "_retry.json",
    "sdk-default-configuration.json",
)

#: Directories of a package that a Lambda function never imports: aiodurable's local
#: backend, CLI and test runner (the runtime's modules import none of them), console
#: scripts.
NOT_ON_LAMBDA = (
    "aiodurable/local",
    "aiodurable/cli",
    "aiodurable/testing",
    "aiodurable/lambda_package.py",  # this builder
    "bin",
)
#: Left out unless what they plug into is in the package too.
_NEEDS = {"aiodurable/otel": "opentelemetry"}
#: Modules of dependencies that a client never imports: aiohttp's server side and test
#: utilities (the client imports them only for type checking), anyio's trio backend and
#: pytest plugin, structlog's Twisted integration.
_UNIMPORTED = (
    "aiohttp/web*.py",
    "aiohttp/test_utils.py",
    "aiohttp/worker.py",
    "aiohttp/pytest_plugin.py",
    "anyio/_backends/_trio.py",
    "anyio/pytest_plugin.py",
    "structlog/twisted.py",
)
#: Files no import reads: C and Cython sources, type stubs.
_SOURCE_ONLY = (".c", ".h", ".pyx", ".pxd", ".pyi")


def prune_unused(package: Path) -> int:
    """Remove :data:`NOT_ON_LAMBDA` and source-only files, strip extensions' debug
    information; return the bytes saved."""
    before = _tree_size(package)
    unused = [
        *NOT_ON_LAMBDA,
        *(own for own, needs in _NEEDS.items() if not (package / needs).exists()),
    ]
    for name in unused:
        target = package / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    for pattern in _UNIMPORTED:
        for target in package.glob(pattern):
            target.unlink()
    for path in list(package.rglob("*")):
        if path.is_file() and (
            path.suffix in _SOURCE_ONLY
            or (path.name == "RECORD" and path.parent.name.endswith(".dist-info"))
        ):
            path.unlink()
    extensions = sorted(str(p) for p in package.rglob("*.so"))
    strip = shutil.which("strip")
    if extensions and strip is not None:
        done = subprocess.run(
            [strip, "--strip-debug", *extensions], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:  # not binutils (macOS), or not ELF: keep them as they are
            print(f"strip: {done.stderr.strip()[:200]} (extensions kept as they are)")
    elif extensions:
        print("no `strip` here: compiled extensions keep their debug information")
    return before - _tree_size(package)


def _tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def prune_botocore(package: Path, services: Iterable[str] = ()) -> int:
    """Remove from ``package/botocore/data`` every service but Lambda and ``services``;
    return the bytes removed. A package without botocore is left as it is."""
    data = package / "botocore" / "data"
    if not data.is_dir():
        return 0
    keep = set(RUNTIME_SERVICES) | set(services)
    unknown = sorted(name for name in keep if not (data / name).is_dir())
    if unknown:
        raise SystemExit(f"botocore has no data for {', '.join(unknown)}: check --service")
    missing = [name for name in BOTOCORE_DATA_FILES if not (data / name).is_file()]
    if missing:
        raise SystemExit(f"botocore's data lacks {', '.join(missing)}: an unexpected botocore")
    removed = 0
    for entry in data.iterdir():
        if entry.name in keep or entry.name in BOTOCORE_DATA_FILES:
            continue
        if entry.is_dir():
            removed += sum(f.stat().st_size for f in entry.rglob("*") if f.is_file())
            shutil.rmtree(entry)
        else:
            removed += entry.stat().st_size
            entry.unlink()
    return removed


def compile_bytecode(package: Path, python_version: str) -> str | None:
    """Compile ``package`` for ``python_version`` ("3.12"); return the interpreter used,
    or None when there is none of that version here."""
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == python_version:
        interpreter: str | None = sys.executable
    else:
        interpreter = shutil.which(f"python{python_version}")
    if interpreter is None:
        return None
    done = subprocess.run(
        [
            interpreter,
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            str(package),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    # compileall exits 1 when one file fails (a test fixture with Python 2 syntax in
    # some dependency): the rest is compiled, and that file is never imported.
    if done.returncode not in (0, 1) or not any(package.rglob("*.pyc")):
        print(f"compileall failed with {interpreter}: {done.stderr[-500:]}", file=sys.stderr)
        return None
    return interpreter


def zip_dir(package: Path, archive: Path) -> None:
    """Zip ``package``'s contents (paths relative to it), in a stable order."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in package.rglob("*") if p.is_file())
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        for path in files:
            out.write(path, path.relative_to(package).as_posix())


def breakdown(archive: Path) -> list[tuple[str, int, int]]:
    """(top-level name, unpacked bytes, zipped bytes) of ``archive``, largest first;
    ``*.dist-info`` directories are counted together."""
    sizes: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    with zipfile.ZipFile(archive) as package:
        for info in package.infolist():
            top = info.filename.split("/", 1)[0]
            if top.endswith(".dist-info"):
                top = "*.dist-info"
            elif top.endswith(".py") and "/" not in info.filename:
                top = top[:-3]
            sizes[top][0] += info.file_size
            sizes[top][1] += info.compress_size
    return sorted(((k, v[0], v[1]) for k, v in sizes.items()), key=lambda r: -r[2])


def _botocore_data_breakdown(archive: Path) -> list[tuple[str, int, int]]:
    sizes: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    with zipfile.ZipFile(archive) as package:
        for info in package.infolist():
            parts = info.filename.split("/")
            if parts[:2] == ["botocore", "data"] and len(parts) > 2:
                sizes[parts[2]][0] += info.file_size
                sizes[parts[2]][1] += info.compress_size
    return sorted(((k, v[0], v[1]) for k, v in sizes.items()), key=lambda r: -r[2])


def _mb(size: int) -> str:
    return f"{size / 1e6:.2f} MB"


def build(
    package: Path,
    archive: Path,
    *,
    python_version: str | None,
    services: Sequence[str] = (),
) -> None:
    """Prune, compile, zip and report (what the command line does)."""
    removed = prune_botocore(package, services)
    removed += prune_unused(package)
    if python_version is not None:
        compiled = compile_bytecode(package, python_version)
        if compiled is None:
            print(
                f"lambda_package: no Python {python_version} here (python{python_version} on"
                " PATH), so the zip ships sources only and every cold start compiles them;"
                " install that Python or build on its image to add bytecode",
                file=sys.stderr,
            )
        else:
            print(f"compiled for Python {python_version} with {compiled}")
    zip_dir(package, archive)
    rows = breakdown(archive)
    total_unpacked = sum(r[1] for r in rows)
    print(
        f"{archive}: {_mb(archive.stat().st_size)} zipped, {_mb(total_unpacked)} unpacked"
        f" (removed as not needed on Lambda: {_mb(removed)})"
    )
    print(f"{'':32}{'unpacked':>12}{'zipped':>12}")
    for name, unpacked, zipped in rows:
        print(f"{name:32}{_mb(unpacked):>12}{_mb(zipped):>12}")
    print("botocore/data:")
    for name, unpacked, zipped in _botocore_data_breakdown(archive):
        print(f"  {name:30}{_mb(unpacked):>12}{_mb(zipped):>12}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m aiodurable.lambda_package", description=__doc__.splitlines()[0]
    )
    parser.add_argument("package", type=Path, help="the directory pip installed into")
    parser.add_argument("--zip", type=Path, required=True, help="the zip to write")
    parser.add_argument(
        "--python-version",
        help="the Lambda runtime's Python (e.g. 3.12): compile bytecode for it",
    )
    parser.add_argument(
        "--service",
        action="append",
        default=[],
        help="also keep this service's botocore data (e.g. s3 for S3Serdes); repeatable",
    )
    args = parser.parse_args(argv)
    if not args.package.is_dir():
        parser.error(f"{args.package} is not a directory")
    build(args.package, args.zip, python_version=args.python_version, services=args.service)
    return 0


if __name__ == "__main__":
    sys.exit(main())
