"""`./scripts/serve`: the one command a newcomer runs. It sets up, creates a demo application once, serves."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import jwt

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_once(data_dir: Path, probe: Callable[[int], None] | None = None) -> tuple[str, int]:
    """Start scripts/serve, wait for /health, run `probe(port)`, stop it; return what it printed and the port."""
    port = free_port()
    env = {**os.environ, "PARLEY_DATA_DIR": str(data_dir), "PARLEY_VENV": str(Path(sys.prefix))}
    env.pop("PARLEY_DATABASE_URL", None)
    process = subprocess.Popen([str(ROOT / "scripts" / "serve"), "--port", str(port), "--log-level", "warning"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
                    assert json.loads(response.read()) == {"status": "ok"}
                    break
            except OSError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                time.sleep(0.1)
        else:
            raise AssertionError("scripts/serve did not become healthy")
        if probe is not None:
            probe(port)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    return output, port


def test_serve_creates_a_demo_application_once_and_serves(tmp_path: Path) -> None:
    first, _ = serve_once(tmp_path)
    demo = json.loads((tmp_path / "demo-application.json").read_text())
    key = tmp_path / "demo-private.key"
    assert f"demo application: {demo['id']}" in first
    assert str(key) in first
    assert key.stat().st_mode & 0o777 == 0o600

    def first_call(port: int) -> None:  # the README's first call, with a token from the demo key
        token = jwt.encode({"application_id": demo["id"], "iat": int(time.time())}, key.read_text(),
                           algorithm="RS256")
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/users", data=b'{"name": "alice"}',
                                         headers={"Authorization": f"Bearer {token}"}, method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 201
            assert json.loads(response.read())["name"] == "alice"

    second, _ = serve_once(tmp_path, first_call)  # a second start keeps the same application
    assert f"demo application: {demo['id']}" in second
    assert "created the demo application" not in second
