"""The unmodified official Vonage Node SDKs (`@vonage/conversations`, `@vonage/users`, `@vonage/jwt` 1.17.1, and
the client SDKs `nexmo-client` 4.1.0 and `@vonage/client-sdk` 2.3.1) against a real `parley serve` process, once
per storage backend.

The Node side lives in `tests/e2e/js/*.test.mjs` (Node's built-in test runner). It needs Node 20+ and the
packages from `tests/e2e/js/package-lock.json`: `./scripts/test` runs `npm ci` there first; by hand:
`(cd tests/e2e/js && npm ci)`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import Server

JS_DIR = Path(__file__).parent / "js"
PACKAGES = ("@vonage/conversations", "@vonage/users", "@vonage/jwt", "@vonage/auth", "@vonage/client-sdk",
            "nexmo-client", "nexmo-client-8", "nexmo-client-9")
NODE_TIMEOUT = 180

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def node() -> str:
    """Node 20+ and the pinned SDKs, checked before any server starts. Missing tools fail, never skip."""
    node = node_binary()
    check_node_modules()
    return node


def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("`node` is not on PATH: the end-to-end tests need Node.js 20 or newer")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    match = re.match(r"v(\d+)\.", version)
    if match is None or int(match.group(1)) < 20:
        pytest.fail(f"the end-to-end tests need Node.js 20 or newer, found {version or 'an unknown version'}")
    return node


def check_node_modules() -> None:
    missing = [name for name in PACKAGES if not (JS_DIR / "node_modules" / name / "package.json").is_file()]
    if missing:
        pytest.fail(f"{JS_DIR / 'node_modules'} lacks {', '.join(missing)}: run `npm ci` in {JS_DIR} "
                    "(./scripts/test does this)")


def text(output: str | bytes | None) -> str:
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


def test_node_sdks(node: str, parley_server: Server) -> None:
    files = sorted(path.name for path in JS_DIR.glob("*.test.mjs"))
    assert files, f"no *.test.mjs files in {JS_DIR}"
    env = {
        **os.environ,
        "PARLEY_URL": parley_server.url,
        "PARLEY_APP_ID": parley_server.app_id,
        "PARLEY_PRIVATE_KEY": str(parley_server.private_key),
        "NO_COLOR": "1",
    }
    try:
        done = subprocess.run([node, "--test", "--test-reporter=spec", *files], cwd=JS_DIR, env=env,
                              capture_output=True, text=True, timeout=NODE_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        partial = "\n".join(text(part) for part in (exc.stdout, exc.stderr))
        pytest.fail(f"`node --test` did not finish within {NODE_TIMEOUT}s against {parley_server.backend}:\n"
                    f"{partial}\n--- server log ---\n{parley_server.log_tail()}")
    output = f"{done.stdout}\n{done.stderr}".strip()
    print(output)  # shown by pytest on failure (and with -s)
    assert done.returncode == 0, (
        f"`node --test` failed against parley on {parley_server.backend} (exit {done.returncode}):\n{output}\n"
        f"--- server log (last lines) ---\n{parley_server.log_tail()}"
    )
