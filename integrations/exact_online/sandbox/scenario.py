"""Who and what lives in a sandbox: divisions, users with rights to some of them, and the app allowed in.

`Environment` is not an Exact Online notion: it tells the demo which of the invoice product's environments
links which divisions, and under which user its connection was made.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from integrations.sandboxes.state import SANDBOX_CLIENT_ID as SANDBOX_CLIENT_ID
from integrations.sandboxes.state import SANDBOX_CLIENT_SECRET as SANDBOX_CLIENT_SECRET
from integrations.sandboxes.state import sandbox_apps

USER_REASONS = {"blocked": "BlockedUser", "inactive": "InactiveUser"}
DIVISION_REASONS = {"blocked": "DivisionBlocked", "customer_blocked": "BlockedCustomer",
                    "license_expired": "LicenseExpired"}


@dataclass
class SandboxDivision:
    code: int
    name: str
    customer: str
    status: str = "active"
    """`active`, or one of DIVISION_REASONS: why Exact refuses every call to it."""


@dataclass
class SandboxUser:
    username: str
    full_name: str
    divisions: set[int]
    current_division: int
    """The division the user last opened in Exact Online; in 2019, where misrouted invoices landed."""
    status: str = "active"
    """`active`, or one of USER_REASONS."""
    denied_rights: set[tuple[str, str]] = field(default_factory=set)
    """(endpoint, method) pairs the user's roles do not allow, e.g. ("purchaseentry/PurchaseEntries", "POST")."""

    @property
    def user_id(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"exact-online-sandbox:{self.username}"))

    @property
    def email(self) -> str:
        return f"{self.username}@example.test"


@dataclass(frozen=True)
class Environment:
    name: str
    connection_user: str
    divisions: tuple[int, ...]


@dataclass
class Scenario:
    name: str
    divisions: list[SandboxDivision]
    users: list[SandboxUser]
    environments: list[Environment] = field(default_factory=list)
    apps: dict[str, str] = field(default_factory=sandbox_apps)


def demo_scenario() -> Scenario:
    """Three environments; Jansen's connection runs under Petra, who cannot open Jansen Verhuur (203)."""
    return Scenario(
        name="demo",
        divisions=[
            SandboxDivision(101, "Bakkerij De Vries B.V.", "Bakkerij De Vries"),
            SandboxDivision(102, "De Vries Vastgoed B.V.", "Bakkerij De Vries"),
            SandboxDivision(201, "Jansen Installatietechniek B.V.", "Jansen Groep"),
            SandboxDivision(202, "Jansen Holding B.V.", "Jansen Groep"),
            SandboxDivision(203, "Jansen Verhuur B.V.", "Jansen Groep"),
            SandboxDivision(301, "Groen Hoveniers V.O.F.", "Groen Hoveniers"),
        ],
        users=[
            SandboxUser("j.devries", "Jan de Vries", {101, 102}, current_division=101),
            SandboxUser("p.jansen", "Petra Jansen", {201, 202}, current_division=201),
            SandboxUser("a.bakker", "Anna Bakker", {201, 202, 203}, current_division=203),
            SandboxUser("m.groen", "Mark Groen", {301}, current_division=301),
        ],
        environments=[
            Environment("Bakkerij De Vries", "j.devries", (101, 102)),
            Environment("Jansen Groep", "p.jansen", (201, 202, 203)),
            Environment("Groen Hoveniers", "m.groen", (301,)),
        ],
    )


def demo_users() -> dict[str, str]:
    """The demo scenario's environments: name -> the username its connection is made under."""
    return {environment.name: environment.connection_user for environment in demo_scenario().environments}


SCENARIOS = {"demo": demo_scenario}
