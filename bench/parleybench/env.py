"""What a workload gets to work with (`BenchEnv`) and what it hands back (`RunRecord`)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from parleybench.client import Client, mint_token
from parleybench.procstat import CpuMeter, Quiesce, quiesce
from parleybench.profile import Profiler
from parleybench.server import Server


@dataclass
class RunRecord:
    """One repetition of one workload, in the JSON shape of WORKLOADS.md ("runs": [...])."""

    workload: str
    rep: int | str
    params: dict[str, Any]
    metrics: dict[str, Any]
    cpu: dict[str, Any]
    wall_s: float
    quiesce: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"workload": self.workload, "rep": self.rep, "params": self.params, "metrics": self.metrics,
                "cpu": self.cpu, "wall_s": round(self.wall_s, 4), "quiesce": self.quiesce, "notes": self.notes}


@dataclass
class Member:
    user_name: str
    member_id: str


class BenchEnv:
    """One running server plus setup helpers (setup is never timed)."""

    def __init__(self, server: Server, options: dict[str, Any]) -> None:
        self.server = server
        self.options = options  # workload knobs from the command line (message counts etc.)
        self.state: dict[str, Any] = {}  # what a workload's prepare() leaves for its runs
        self._admin: Client | None = None
        self.profiler: Profiler | None = None  # set by the runner for a profiled repetition only

    # -- tokens and clients ----------------------------------------------------------------------------------
    def token(self, sub: str | None = None) -> str:
        return mint_token(self.server.app_id, self.server.private_key, sub)

    def client(self, sub: str | None = None) -> Client:
        """A new connection with a new token (admin when `sub` is None, else that user's)."""
        return Client(self.server.port, self.token(sub))

    @property
    def admin(self) -> Client:
        if self._admin is None:
            self._admin = self.client()
        return self._admin

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None

    # -- setup ------------------------------------------------------------------------------------------------
    @staticmethod
    def tag() -> str:
        """A short unique run tag (names and text messages)."""
        return secrets.token_hex(3)

    def new_user(self, name: str) -> str:
        return str(self.admin.call("POST", "/v1/users", {"name": name}, expect=(201,))["id"])

    def new_conversation(self, name: str) -> str:
        return str(self.admin.call("POST", "/v1/conversations", {"name": name}, expect=(201,))["id"])

    def join(self, conversation_id: str, user_name: str) -> Member:
        body = {"state": "joined", "user": {"name": user_name}, "channel": {"type": "app"}}
        created = self.admin.call("POST", f"/v1/conversations/{conversation_id}/members", body, expect=(201,))
        return Member(user_name, str(created["id"]))

    def conversation_with_members(self, prefix: str, count: int) -> tuple[str, list[Member]]:
        """A fresh conversation with `count` fresh users joined to it."""
        tag = self.tag()
        conversation = self.new_conversation(f"{prefix}-{tag}")
        members = []
        for index in range(count):
            name = f"{prefix}-{tag}-u{index}"
            self.new_user(name)
            members.append(self.join(conversation, name))
        return conversation, members

    # -- measuring ---------------------------------------------------------------------------------------------
    def quiesce(self) -> Quiesce:
        host_max = self.options.get("host_quiet_pct")
        return quiesce(self.server.pid, host_max_pct=host_max, host_wait_s=float(self.options.get("host_wait_s", 0)),
                       db_pids=self.server.db_pids())

    def cpu_meter(self) -> CpuMeter:
        return CpuMeter(self.server.pid, self.server.db_pids())

    def profile_start(self) -> None:
        """Workloads call this right before their measured step (a no-op unless the run is profiled)."""
        if self.profiler is not None:
            self.profiler.start()

    def profile_stop(self) -> None:
        if self.profiler is not None:
            self.profiler.stop()
