"""aiohttp imported by aiodurable's default client: no CA bundle loaded at import, and
aiohttp's default TLS contexts still verify, against the same certificates, when used.

Each case runs in a fresh interpreter (aiohttp must not be imported yet) against a real
TLS server whose certificate is trusted only through ``SSL_CERT_FILE`` (OpenSSL's default
verify paths, which is what aiohttp's default contexts load).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
import sys
from pathlib import Path

import pytest

cryptography = pytest.importorskip("cryptography")

_CHILD = """
import asyncio, ssl, sys
from aiodurable.service.aiohttp_import import import_aiohttp

import_aiohttp()
import aiohttp
from aiohttp import web
import aiohttp.connector as connector

verified = connector._SSL_CONTEXT_VERIFIED
unverified = connector._SSL_CONTEXT_UNVERIFIED
print("at import", verified.cert_store_stats()["x509_ca"], unverified.cert_store_stats()["x509_ca"])
assert verified.verify_mode == ssl.CERT_REQUIRED and verified.check_hostname

async def main():
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(sys.argv[1], sys.argv[2])
    app = web.Application()
    app.router.add_get("/", lambda request: web.Response(text="hello"))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_tls)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as session:
            try:
                async with session.get(f"https://127.0.0.1:{port}/") as response:
                    print("verified", await response.text())
            except aiohttp.ClientConnectorCertificateError:
                print("verified refused")
            async with session.get(f"https://127.0.0.1:{port}/", ssl=False) as response:
                print("unverified", await response.text())
    finally:
        await runner.cleanup()
    print("after use", verified.cert_store_stats()["x509_ca"] > 0, "wrap_bio" in vars(verified))

asyncio.run(main())
"""


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def _run(tmp_path: Path, *, trust: bool) -> list[str]:
    cert, key = _self_signed(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    # Trusted: OpenSSL's default verify paths name the server's certificate, and nothing
    # else; untrusted: an empty directory.
    empty = tmp_path / "empty"
    empty.mkdir()
    env["SSL_CERT_FILE"] = str(cert if trust else empty / "none.pem")
    env["SSL_CERT_DIR"] = str(empty)
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(cert), str(key)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.splitlines()


def test_the_default_contexts_load_nothing_at_import_and_verify_when_used(
    tmp_path: Path,
) -> None:
    lines = _run(tmp_path, trust=True)
    assert lines == ["at import 0 0", "verified hello", "unverified hello", "after use True False"]


def test_the_verifying_default_context_still_refuses_an_unknown_certificate(
    tmp_path: Path,
) -> None:
    lines = _run(tmp_path, trust=False)
    assert lines == [
        "at import 0 0",
        "verified refused",
        "unverified hello",
        "after use False False",
    ]
