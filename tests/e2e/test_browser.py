"""A real browser: the unmodified nexmo-client 4.1.0 bundle in headless Chromium, on a page from another origin
than parley, with its Worker + IndexedDB cache on (tests/e2e/js/chromium/cache.mjs).

Chromium is Debian's package (`apt-get install -y chromium`; ./scripts/test installs it when it can), driven by
playwright-core from tests/e2e/js (Playwright's own browser download cannot work here). One backend is enough:
what is under test is the browser side (CORS, polling from a foreign origin, the client cache).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .conftest import Server
from .test_node_sdks import JS_DIR, node_binary, text

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
NODE_TIMEOUT = 120

pytestmark = pytest.mark.e2e


def test_nexmo_client_in_chromium_with_its_cache(sqlite_server: Server) -> None:
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's package (`apt-get install -y chromium`, as root)")
    node = node_binary()
    if not (JS_DIR / "node_modules" / "playwright-core" / "package.json").is_file():
        pytest.fail(f"{JS_DIR / 'node_modules'} lacks playwright-core: run `npm ci` in {JS_DIR}")
    env = {**os.environ, "PARLEY_URL": sqlite_server.url, "PARLEY_APP_ID": sqlite_server.app_id,
           "PARLEY_PRIVATE_KEY": str(sqlite_server.private_key), "CHROMIUM": str(CHROMIUM), "NO_COLOR": "1"}
    try:
        done = subprocess.run([node, "--test", "--test-reporter=spec", "chromium/cache.mjs"], cwd=JS_DIR,
                              env=env, capture_output=True, text=True, timeout=NODE_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the browser test did not finish within {NODE_TIMEOUT}s:\n{text(exc.stdout)}\n{text(exc.stderr)}"
                    f"\n--- server log ---\n{sqlite_server.log_tail()}")
    output = f"{done.stdout}\n{done.stderr}".strip()
    print(output)
    assert done.returncode == 0, (f"the browser test failed (exit {done.returncode}):\n{output}\n"
                                  f"--- server log (last lines) ---\n{sqlite_server.log_tail()}")
