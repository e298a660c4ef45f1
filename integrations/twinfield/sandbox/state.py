"""Everything one sandbox knows, behind one lock: organisations, offices and users, tokens, ledger, limits,
faults, and a log of the traffic it answered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from integrations.base import Clock
from integrations.sandboxes.state import SandboxStateBase
from integrations.twinfield.sandbox.faults import Faults
from integrations.twinfield.sandbox.ledger import Ledger
from integrations.twinfield.sandbox.limits import Limits
from integrations.twinfield.sandbox.scenario import (
    Environment,
    SandboxOffice,
    SandboxOrganisation,
    SandboxUser,
    Scenario,
)
from integrations.twinfield.sandbox.tokens import TokenAuthority


@dataclass(frozen=True)
class Exchange:
    at: datetime
    service: str
    """`token`, `validation`, `userinfo`, `ProcessXml` or `Finder`."""
    operation: str
    """The grant type, the document's root (`transaction`, `columns`, `read`, ...) or the Finder type."""
    status: int
    user: str | None = None
    organisation: str | None = None
    cluster: str | None = None
    asked_office: str | None = None
    office: str | None = None
    """The office that served the call: under the misroute bug not the one asked."""
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "service": self.service, "operation": self.operation,
                "status": self.status, "user": self.user, "organisation": self.organisation,
                "cluster": self.cluster, "asked_office": self.asked_office, "office": self.office,
                "note": self.note}


class SandboxState(SandboxStateBase[Faults, Exchange]):
    authority: TokenAuthority

    def __init__(self, scenario: Scenario, *, clock: Clock, seed: int, faults: Faults) -> None:
        super().__init__(name=scenario.name, apps=scenario.apps, clock=clock, seed=seed, faults=faults)
        self.organisations: dict[str, SandboxOrganisation] = {o.code: o for o in scenario.organisations}
        self.offices: dict[str, SandboxOffice] = {o.code: o for o in scenario.offices}
        self.users: dict[str, SandboxUser] = {u.code: u for u in scenario.users}
        self.environments: list[Environment] = list(scenario.environments)
        self.authority = TokenAuthority(self.rng)
        self.ledger = Ledger(self.rng, list(self.offices), clock())
        self.limits = Limits()

    def cluster_url(self, base_url: str, organisation: SandboxOrganisation) -> str:
        return f"{base_url}/clusters/{organisation.cluster}"

    def _traffic_details(self) -> dict[str, Any]:
        return {
            "refreshes": self.authority.refreshes,
            "reused_refresh_tokens": self.authority.reused_refresh_tokens,
            **self.limits.report(),
        }
