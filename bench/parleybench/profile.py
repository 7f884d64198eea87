"""Optional py-spy sampling of the server during a workload's measured step (`--profile`).

py-spy pauses the server at every sample, so a profiled repetition is slower; the runner runs it as an extra
repetition ("profile") that is kept out of the figures. The raw (collapsed-stack) output is summarised here
as the functions with the largest self and inclusive shares of the samples.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

from parleybench.server import REPO

ATTACH_WAIT_S = 1.5
STOP_TIMEOUT_S = 60.0
_LINE = re.compile(r":\d+\)$")


def py_spy() -> str | None:
    local = REPO / ".venv" / "bin" / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


class Profiler:
    def __init__(self, pid: int, output: Path, rate: int = 200, idle: bool = False) -> None:
        self.pid = pid
        self.output = output
        self.rate = rate
        self.idle = idle
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = py_spy()
        if binary is None:
            raise RuntimeError("py-spy is not installed (.venv/bin/pip install py-spy)")
        command = [binary, "record", "--pid", str(self.pid), "--format", "raw", "--rate", str(self.rate),
                   "--output", str(self.output)]
        if self.idle:
            command.append("--idle")
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(ATTACH_WAIT_S)
        if self._process.poll() is not None:
            stderr = self._process.stderr.read().decode() if self._process.stderr else ""
            raise RuntimeError(f"py-spy could not attach: {stderr}")

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.send_signal(signal.SIGINT)
        try:
            self._process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(STOP_TIMEOUT_S)
        self._process = None


def _frame(raw: str) -> str:
    """`handler (parley/api/http/events.py:41)` -> `handler (parley/api/http/events.py)`; paths shortened."""
    frame = _LINE.sub(")", raw.strip())
    for marker in ("site-packages/", "lib/python3.11/", "src/"):
        if marker in frame:
            name, _, path = frame.partition(" (")
            frame = f"{name} ({path.split(marker, 1)[1]}" if marker in path else frame
            break
    return frame


def summarize(collapsed: Path, top: int = 25) -> dict[str, object]:
    """Self and inclusive sample shares per function from py-spy's raw output."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";") if f.strip()]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count

    def shares(counter: Counter[str]) -> list[dict[str, object]]:
        return [{"function": name, "samples": n, "pct": round(100.0 * n / total, 1)}
                for name, n in counter.most_common(top)]

    return {"samples": total, "self": shares(own), "inclusive": shares(inclusive)}
