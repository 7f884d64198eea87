"""`parley`: serve, migrate, manage applications, mint tokens.

Every command takes `--data-dir` (env PARLEY_DATA_DIR, default ./data) and `--database-url`
(env PARLEY_DATABASE_URL, default SQLite in the data dir), and creates or migrates the database on first use.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, TypeVar

import jwt
import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from rich.console import Console
from rich.table import Table

from parley.api.cors import origin_list
from parley.api.socket.engine import MAX_PAYLOAD_BYTES
from parley.api.socket.native import WebSocketProtocol
from parley.app import create_app, open_store
from parley.domain.clock import SystemClock, iso
from parley.domain.errors import DomainError
from parley.domain.models import Application
from parley.domain.ports import Store
from parley.settings import Settings
from parley.store.migrate import migrate as run_migrations

T = TypeVar("T")

cli = typer.Typer(help="parley: a self-hosted Nexmo/Vonage Conversation API server.", no_args_is_help=True)
apps = typer.Typer(help="Manage applications (tenants).", no_args_is_help=True)
cli.add_typer(apps, name="app")
err = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", envvar="PARLEY_DATA_DIR",
                                               help="Where SQLite data lives (default ./data).")]
DatabaseUrl = Annotated[str | None, typer.Option("--database-url", envvar="PARLEY_DATABASE_URL",
                                                  help="sqlite:///path or postgresql://...")]


def settings(data_dir: Path | None, database_url: str | None) -> Settings:
    base = Settings()
    return replace(base, data_dir=data_dir or base.data_dir, database_url=database_url or "")


def with_store(config: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    async def run() -> T:
        store = await open_store(config)
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except DomainError as exc:
        err.print(f"[red]error:[/red] {exc.detail} ({exc.code})")
        raise typer.Exit(1) from exc


def generate_key_pair() -> tuple[str, str]:
    """A fresh RSA-2048 pair: (PKCS#8 private PEM, SubjectPublicKeyInfo public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def read_public_key(path: Path) -> str:
    text = path.read_text()
    try:
        key = serialization.load_pem_public_key(text.encode())
    except ValueError:
        try:
            key = serialization.load_pem_private_key(text.encode(), password=None).public_key()
        except (ValueError, TypeError) as exc:
            raise typer.BadParameter(f"{path} holds no PEM RSA key") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise typer.BadParameter(f"{path} is not an RSA key")
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def write_private_key(path: Path, pem: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(pem)
    os.chmod(path, 0o600)


def application_json(application: Application) -> dict[str, Any]:
    """`origins`: the application's own allowed browser origins; null: the server's (PARLEY_CORS_ORIGINS)."""
    origins = None if application.origins is None else list(application.origins)
    return {"id": application.id, "name": application.name, "created": application.created, "origins": origins}


def origins_text(application: Application) -> str:
    return "(the server's)" if application.origins is None else " ".join(application.origins) or "(none)"


def parse_origins(entries: list[str] | None) -> tuple[str, ...] | None:
    """`--origin` values: None when none is given (the server's list applies)."""
    if entries is None:
        return None
    try:
        origins = origin_list(entries, "--origin")
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if not origins:
        raise typer.BadParameter("--origin: give an origin (scheme://host[:port]) or '*'")
    return origins


Origin = Annotated[list[str] | None, typer.Option(
    "--origin", help="A browser origin (scheme://host[:port], or *) allowed to use the application; repeatable. "
                     "Without any, the server's PARLEY_CORS_ORIGINS applies.")]


@apps.command("create")
def app_create(
    name: Annotated[str, typer.Option("--name", help="The application's name.")],
    private_key_out: Annotated[Path | None, typer.Option("--private-key-out",
                                                         help="Write the new private key here (mode 0600).")] = None,
    app_id: Annotated[str | None, typer.Option("--id", help="Keep an existing Vonage application id.")] = None,
    public_key: Annotated[Path | None, typer.Option("--public-key",
                                                    help="Import this public key.")] = None,
    origin: Origin = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the application as JSON.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an application: a fresh RSA-2048 key pair, or an imported Vonage application (--id, --public-key)."""
    origins = parse_origins(origin)
    if public_key is None and private_key_out is None:
        raise typer.BadParameter("give --private-key-out FILE (new key pair) or --public-key FILE (import)")
    if app_id is not None:
        try:
            app_id = str(uuid.UUID(app_id))
        except ValueError as exc:
            raise typer.BadParameter("--id must be a UUID") from exc
    private_pem = None
    if public_key is not None:
        public_pem = read_public_key(public_key)
    else:
        private_pem, public_pem = generate_key_pair()
    application = Application(app_id or str(uuid.uuid4()), name, public_pem, iso(SystemClock().now()), origins)

    async def work(store: Store) -> None:
        await store.insert_application(application)

    # The key first: an application whose private key failed to be written could never be used.
    if private_pem is not None and private_key_out is not None:
        write_private_key(private_key_out, private_pem)
    try:
        with_store(settings(data_dir, database_url), work)
    except BaseException:
        if private_pem is not None and private_key_out is not None:
            private_key_out.unlink(missing_ok=True)
        raise
    if as_json:
        typer.echo(json.dumps(application_json(application)))
    else:
        typer.echo(application.id)


@apps.command("list")
def app_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List applications."""
    found = with_store(settings(data_dir, database_url), lambda store: store.applications())
    if as_json:
        typer.echo(json.dumps([application_json(a) for a in found]))
        return
    table = Table("id", "name", "created", "origins")
    for application in found:
        table.add_row(application.id, application.name, application.created, origins_text(application))
    Console().print(table)


@apps.command("origins")
def app_origins(
    app_id: Annotated[str, typer.Argument(help="The application id.")],
    origin: Origin = None,
    clear: Annotated[bool, typer.Option("--clear", help="Drop the application's own list: the server's "
                                                        "PARLEY_CORS_ORIGINS applies again.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the application as JSON.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Set (--origin, repeatable) or clear (--clear) the browser origins allowed to use an application; without
    either, show them. A running server applies a change within PARLEY_KEY_CACHE_SECONDS."""
    origins = parse_origins(origin)
    if origins is not None and clear:
        raise typer.BadParameter("give --origin or --clear, not both")

    async def work(store: Store) -> Application | None:
        if origins is not None or clear:
            await store.set_application_origins(app_id, origins)
        return await store.application(app_id)

    application = with_store(settings(data_dir, database_url), work)
    if application is None:
        err.print(f"[red]error:[/red] no application {app_id}")
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(application_json(application)))
    else:
        typer.echo(f"{application.id}: {origins_text(application)}")


@apps.command("delete")
def app_delete(
    app_id: Annotated[str, typer.Argument(help="The application id.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Delete an application and everything in it."""
    if not with_store(settings(data_dir, database_url), lambda store: store.delete_application(app_id)):
        err.print(f"[red]error:[/red] no application {app_id}")
        raise typer.Exit(1)
    typer.echo(f"deleted {app_id}")


@cli.command("jwt")
def mint_jwt(
    app_id: Annotated[str, typer.Option("--app-id", help="The application id.")],
    private_key: Annotated[Path, typer.Option("--private-key", help="The application's private key (PEM).")],
    sub: Annotated[str | None, typer.Option("--sub", help="A user name: a user token (none: admin).")] = None,
    ttl: Annotated[int, typer.Option("--ttl", help="Lifetime in seconds.")] = 900,
    acl: Annotated[str | None, typer.Option("--acl", help='ACL JSON, e.g. {"paths":{"/*/users/**":{}}}.')] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Print an RS256 token with the claims the Vonage tools generate."""
    del data_dir, database_url  # accepted like every command's; minting needs no database
    now = int(time.time())
    claims: dict[str, Any] = {"application_id": app_id, "iat": now, "jti": str(uuid.uuid4()), "exp": now + ttl}
    if sub:
        claims["sub"] = sub
    if acl:
        try:
            claims["acl"] = json.loads(acl)
        except json.JSONDecodeError as exc:
            raise typer.BadParameter(f"--acl is not JSON: {exc}") from exc
    typer.echo(jwt.encode(claims, private_key.read_text(), algorithm="RS256", headers={"typ": "JWT"}))


@cli.command("migrate")
def migrate(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Create the database or upgrade it to the newest schema."""
    config = settings(data_dir, database_url)
    if config.is_sqlite:
        config.sqlite_path().parent.mkdir(parents=True, exist_ok=True)
    run_migrations(config.resolved_database_url())
    typer.echo("database is at the newest schema version")


@cli.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8080,
    ssl_certfile: Annotated[Path | None, typer.Option("--ssl-certfile", help="Serve HTTPS with this cert.")] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option("--ssl-keyfile", help="... and this key.")] = None,
    log_level: Annotated[str, typer.Option("--log-level")] = "info",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Run the server."""
    import uvicorn

    config = settings(data_dir, database_url)
    app = create_app(config)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=log_level == "debug",
                ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
                ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None, lifespan="on",
                # a pending long-poll (Engine.IO polling) would otherwise hold a shutdown until its next frame
                timeout_graceful_shutdown=5,
                proxy_headers=False,  # parley trusts no X-Forwarded-* unless PARLEY_PUBLIC_URL says so
                **uvicorn_websocket_options(config))


def uvicorn_websocket_options(config: Settings | None = None) -> dict[str, Any]:
    """How uvicorn runs parley's websockets: the socket endpoints by parley's own protocol (`native.py`), any
    other path by uvicorn's sans-I/O `websockets` one through the ASGI application; permessage-deflate only when
    PARLEY_WS_COMPRESSION asks for it, and frames no larger than the Engine.IO maxPayload."""
    config = config or Settings()
    # Frames over the maxPayload the Engine.IO handshake announces are refused by the websocket layer itself
    # (close 1009) rather than read into memory: uvicorn's default allows 16 MiB.
    return {"ws": WebSocketProtocol, "ws_per_message_deflate": config.ws_compression,
            "ws_max_size": MAX_PAYLOAD_BYTES}


def run() -> None:
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)
