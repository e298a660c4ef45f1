"""Everything one sandbox knows, behind one lock: its people and divisions, tokens, ledger, budgets, faults,
and a log of the traffic it answered."""

from __future__ import annotations

import random
import threading
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from integrations.base import Clock
from integrations.exact_online.sandbox.faults import Faults
from integrations.exact_online.sandbox.ledger import Ledger
from integrations.exact_online.sandbox.limits import Budgets, ErrorCounter
from integrations.exact_online.sandbox.masterdata import DataSize, MasterData
from integrations.exact_online.sandbox.scenario import Environment, SandboxDivision, SandboxUser, Scenario
from integrations.exact_online.sandbox.tokens import TokenAuthority

TRAFFIC_KEPT = 10_000


@dataclass(frozen=True)
class Exchange:
    at: datetime
    method: str
    endpoint: str
    """`current/Me`, `system/Divisions`, `oauth2/token`, ...: the path without its division."""
    division: int | None
    """The division in the URL, which under the 2019 bug is not where the call was served."""
    status: int
    user: str | None
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "method": self.method, "endpoint": self.endpoint,
                "division": self.division, "status": self.status, "user": self.user, "note": self.note}


class SandboxState:
    def __init__(
        self, scenario: Scenario, *, clock: Clock, seed: int, faults: Faults, data_size: DataSize | None = None
    ) -> None:
        # Reentrant: a handler may call helpers that take it again.
        self.lock = threading.RLock()
        self.clock = clock
        self.rng = random.Random(seed)
        self.scenario_name = scenario.name
        self.apps = dict(scenario.apps)
        self.divisions: dict[int, SandboxDivision] = {d.code: d for d in scenario.divisions}
        self.users: dict[str, SandboxUser] = {u.username: u for u in scenario.users}
        self.environments: list[Environment] = list(scenario.environments)
        self.faults = faults
        self.authority = TokenAuthority(self.rng, lambda: self.faults.token_calls_per_day)
        self.ledger = Ledger(self.rng)
        self.masterdata = MasterData(seed=seed, size=data_size or DataSize(), clock=clock)
        for code in self.divisions:  # generated now, so their Modified does not depend on who reads first
            self.masterdata.division(code)
        self.budgets = Budgets()
        self.errors = ErrorCounter()
        self.traffic: deque[Exchange] = deque(maxlen=TRAFFIC_KEPT)

    def record(self, exchange: Exchange) -> None:
        self.traffic.append(exchange)

    def traffic_report(self) -> dict[str, Any]:
        now = self.clock()
        return {
            "statuses": {str(status): n for status, n in sorted(Counter(x.status for x in self.traffic).items())},
            "exchanges": [x.as_json() for x in self.traffic],
            "token_calls_today": self.authority.token_calls(now),
            **self.errors.report(now),
        }
