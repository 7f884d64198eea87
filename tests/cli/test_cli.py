"""The `parley` command line: the contract other tools rely on."""

from __future__ import annotations

import json
import stat
import time
import uuid
from pathlib import Path

import jwt
import pytest
from typer.testing import CliRunner

from parley.cli.main import cli
from tests.conftest import KeyPair

runner = CliRunner()


def parley(*args: str) -> str:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_app_create_writes_a_private_key_and_prints_the_id(tmp_path: Path) -> None:
    key = tmp_path / "keys" / "app.key"
    output = parley("app", "create", "--name", "demo", "--private-key-out", str(key), "--data-dir", str(tmp_path))
    application_id = output.strip()
    assert str(uuid.UUID(application_id)) == application_id
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8, as the Vonage SDKs require
    assert (tmp_path / "parley.db").exists()  # the database was created on first use
    listed = json.loads(parley("app", "list", "--json", "--data-dir", str(tmp_path)))
    assert [(a["id"], a["name"]) for a in listed] == [(application_id, "demo")]


def test_app_create_json_and_delete(tmp_path: Path) -> None:
    created = json.loads(parley("app", "create", "--name", "x", "--private-key-out", str(tmp_path / "k"),
                                "--json", "--data-dir", str(tmp_path)))
    assert set(created) >= {"id", "name"} and created["name"] == "x"
    assert parley("app", "delete", created["id"], "--data-dir", str(tmp_path)).strip() == f"deleted {created['id']}"
    assert json.loads(parley("app", "list", "--json", "--data-dir", str(tmp_path))) == []
    again = runner.invoke(cli, ["app", "delete", created["id"], "--data-dir", str(tmp_path)])
    assert again.exit_code == 1


def test_import_keeps_a_vonage_application_id_and_key(tmp_path: Path, keys: KeyPair) -> None:
    public = tmp_path / "public.pem"
    public.write_text(keys.public_pem)
    vonage_id = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
    output = parley("app", "create", "--name", "migrated", "--id", vonage_id, "--public-key", str(public),
                    "--data-dir", str(tmp_path))
    assert output.strip() == vonage_id
    duplicate = runner.invoke(cli, ["app", "create", "--name", "again", "--id", vonage_id, "--public-key",
                                    str(public), "--data-dir", str(tmp_path)])
    assert duplicate.exit_code == 1
    bad_id = runner.invoke(cli, ["app", "create", "--name", "x", "--id", "nope", "--public-key", str(public),
                                 "--data-dir", str(tmp_path)])
    assert bad_id.exit_code != 0


def test_jwt_carries_the_vonage_claims(tmp_path: Path, keys: KeyPair) -> None:
    key = tmp_path / "app.key"
    key.write_text(keys.private_pem)
    acl = {"paths": {"/*/users/**": {}}}
    before = int(time.time())
    token = parley("jwt", "--app-id", "APP", "--private-key", str(key), "--sub", "alice", "--ttl", "60",
                   "--acl", json.dumps(acl)).strip()
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = jwt.decode(token, keys.public_pem, algorithms=["RS256"])
    assert claims["application_id"] == "APP" and claims["sub"] == "alice" and claims["acl"] == acl
    assert before <= claims["iat"] <= before + 5 and claims["exp"] == claims["iat"] + 60
    assert str(uuid.UUID(claims["jti"])) == claims["jti"]
    admin = jwt.decode(parley("jwt", "--app-id", "APP", "--private-key", str(key)).strip(), keys.public_pem,
                       algorithms=["RS256"])
    assert "sub" not in admin and "acl" not in admin and admin["exp"] - admin["iat"] == 900


def test_jwt_refuses_bad_acl_json(tmp_path: Path, keys: KeyPair) -> None:
    key = tmp_path / "app.key"
    key.write_text(keys.private_pem)
    result = runner.invoke(cli, ["jwt", "--app-id", "APP", "--private-key", str(key), "--acl", "{nope"])
    assert result.exit_code != 0


def test_migrate_is_idempotent_and_honours_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    monkeypatch.setenv("PARLEY_DATA_DIR", str(tmp_path / "env-dir"))
    assert "newest schema" in parley("migrate")
    assert "newest schema" in parley("migrate")
    assert (tmp_path / "env-dir" / "parley.db").exists()


def test_database_url_selects_postgresql(tmp_path: Path, database_url: str) -> None:
    created = json.loads(parley("app", "create", "--name", "pg", "--private-key-out", str(tmp_path / "k"),
                                "--json", "--database-url", database_url))
    listed = json.loads(parley("app", "list", "--json", "--database-url", database_url))
    assert created["id"] in [a["id"] for a in listed]


def test_app_origins_are_set_at_creation_changed_and_cleared(tmp_path: Path) -> None:
    data = ("--data-dir", str(tmp_path))
    created = json.loads(parley("app", "create", "--name", "web", "--private-key-out", str(tmp_path / "k"),
                                "--origin", "https://A.example/", "--origin", "http://localhost:3000",
                                "--origin", "https://a.example", "--json", *data))
    app_id = created["id"]
    assert created["origins"] == ["https://a.example", "http://localhost:3000"]  # normalised, once each
    plain = json.loads(parley("app", "create", "--name", "server-list", "--private-key-out", str(tmp_path / "k2"),
                              "--json", *data))
    assert plain["origins"] is None  # no list of its own: PARLEY_CORS_ORIGINS applies
    listed = {a["id"]: a["origins"] for a in json.loads(parley("app", "list", "--json", *data))}
    assert listed == {app_id: ["https://a.example", "http://localhost:3000"], plain["id"]: None}
    table = parley("app", "list", *data)
    assert "https://a.example" in table and "(the server's)" in table

    assert parley("app", "origins", app_id, *data).strip() == f"{app_id}: https://a.example http://localhost:3000"
    changed = json.loads(parley("app", "origins", app_id, "--origin", "*", "--json", *data))
    assert changed == {**created, "origins": ["*"]}
    cleared = json.loads(parley("app", "origins", app_id, "--clear", "--json", *data))
    assert cleared["origins"] is None
    assert parley("app", "origins", app_id, *data).strip() == f"{app_id}: (the server's)"


def test_app_origins_refuses_what_is_not_an_origin(tmp_path: Path) -> None:
    data = ("--data-dir", str(tmp_path))
    bad = runner.invoke(cli, ["app", "create", "--name", "x", "--private-key-out", str(tmp_path / "k"),
                              "--origin", "https://a.example/path", *data])
    assert bad.exit_code == 2 and "not an origin" in bad.output
    assert not (tmp_path / "k").exists()  # refused before anything was made
    app_id = parley("app", "create", "--name", "x", "--private-key-out", str(tmp_path / "k"),
                    "--origin", "https://a.example", *data).strip()
    for args in (["--origin", "a.example"], ["--origin", " "], ["--origin", "https://b.example", "--clear"]):
        refused = runner.invoke(cli, ["app", "origins", app_id, *args, *data])
        assert refused.exit_code == 2, refused.output
    assert json.loads(parley("app", "origins", app_id, "--json", *data))["origins"] == ["https://a.example"]
    missing = runner.invoke(cli, ["app", "origins", str(uuid.uuid4()), "--clear", *data])
    assert missing.exit_code == 1 and "no application" in missing.output


def test_app_origins_on_every_database(tmp_path: Path, database_url: str) -> None:
    db = ("--database-url", database_url)
    created = json.loads(parley("app", "create", "--name", "pg-web", "--private-key-out", str(tmp_path / "k"),
                                "--origin", "https://pg.example", "--json", *db))
    assert created["origins"] == ["https://pg.example"]
    changed = json.loads(parley("app", "origins", created["id"], "--origin", "https://other.example", "--json", *db))
    assert changed["origins"] == ["https://other.example"]
    listed = {a["id"]: a["origins"] for a in json.loads(parley("app", "list", "--json", *db))}
    assert listed[created["id"]] == ["https://other.example"]
