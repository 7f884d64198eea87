"""The unmodified Python SDK (`vonage-users` 1.2.2 on `vonage-http-client` 1.5.2) against a real server.

The Python SDK hard-codes `https://{api_host}`, so this server runs with TLS on a self-signed certificate that
`REQUESTS_CA_BUNDLE` makes trusted, exactly as a migrating customer would do locally.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

vonage_users = pytest.importorskip("vonage_users")
from vonage_http_client import Auth, HttpClient, HttpClientOptions  # noqa: E402
from vonage_http_client.errors import AuthenticationError, NotFoundError  # noqa: E402
from vonage_users import ListUsersFilter, User, Users  # noqa: E402


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "cert.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    directory = tmp_path_factory.mktemp("tls")
    cert, cert_key = self_signed(directory)
    app_key = directory / "app.key"
    created = subprocess.run(
        [sys.executable, "-m", "parley", "app", "create", "--name", "py", "--private-key-out", str(app_key),
         "--json", "--data-dir", str(directory)], check=True, capture_output=True, text=True)
    application_id = json.loads(created.stdout)["id"]
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "parley", "serve", "--port", str(port), "--data-dir", str(directory),
         "--ssl-certfile", str(cert), "--ssl-keyfile", str(cert_key), "--log-level", "warning"])
    context = ssl.create_default_context(cafile=str(cert))
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"https://127.0.0.1:{port}/health", context=context, timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("parley serve did not become healthy over TLS")
        yield {"host": f"127.0.0.1:{port}", "application_id": application_id, "key": str(app_key),
               "ca": str(cert)}
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def users(tls_server: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Users:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_server["ca"])
    auth = Auth(application_id=tls_server["application_id"], private_key=tls_server["key"])
    return Users(HttpClient(auth, HttpClientOptions(api_host=tls_server["host"])))


def test_python_sdk_user_lifecycle(users: Users) -> None:
    created = users.create_user(User(name="py-alice", display_name="Alice"))
    assert created.id is not None and created.id.startswith("USR-")
    assert (created.name, created.display_name) == ("py-alice", "Alice")
    anonymous = users.create_user()  # no body at all, as the SDK sends it
    assert anonymous.name is not None and anonymous.name.startswith("NAM-")

    fetched = users.get_user(created.id)
    fetched.display_name = "Alice A."
    updated = users.update_user(created.id, fetched)  # re-sends id and link: must be ignored
    assert updated.display_name == "Alice A."

    users.delete_user(anonymous.id)  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        users.get_user(anonymous.id)  # type: ignore[arg-type]


def test_python_sdk_pages_with_cursors(users: Users) -> None:
    names = {f"py-page-{i:02}" for i in range(12)}
    for name in names:
        users.create_user(User(name=name))
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page, cursor = users.list_users(ListUsersFilter(page_size=5, cursor=cursor))
        seen.extend(u.name for u in page if u.name)
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert names <= set(seen)
    only, _ = users.list_users(ListUsersFilter(name="py-page-03"))
    assert [u.name for u in only] == ["py-page-03"]


def test_python_sdk_surfaces_auth_errors(tls_server: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_server["ca"])
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key = tmp_path / "stranger.key"
    key.write_bytes(stranger.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    auth = Auth(application_id=tls_server["application_id"], private_key=str(key))
    client = Users(HttpClient(auth, HttpClientOptions(api_host=tls_server["host"])))
    with pytest.raises(AuthenticationError):
        client.list_users()
    assert os.environ["REQUESTS_CA_BUNDLE"] == tls_server["ca"]
