"""Who and what lives in a sandbox: organisations on clusters, their offices, users who can open some of them.

`Environment` is not a Twinfield notion: it tells the demo which of the invoice product's environments links
which offices, and under which user its connection was made.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from integrations.sandboxes.state import SANDBOX_CLIENT_ID as SANDBOX_CLIENT_ID
from integrations.sandboxes.state import SANDBOX_CLIENT_SECRET as SANDBOX_CLIENT_SECRET
from integrations.sandboxes.state import sandbox_apps


@dataclass(frozen=True)
class SandboxOrganisation:
    code: str
    name: str
    cluster: str
    """The cluster's name: its web services answer under `/clusters/<cluster>/webservices/...`."""

    @property
    def organisation_id(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"twinfield-sandbox:organisation:{self.code}"))


@dataclass(frozen=True)
class SandboxOffice:
    code: str
    name: str
    organisation: str


@dataclass
class SandboxUser:
    code: str
    """The organisation user code (`twf.organisationUserCode`), what the user signs in with."""
    full_name: str
    organisation: str
    offices: set[str]
    default_office: str
    """The office the user opens by default; under the misroute bug, where refused bookings land."""

    @property
    def subject(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"twinfield-sandbox:user:{self.organisation}:{self.code}"))


@dataclass(frozen=True)
class Environment:
    name: str
    connection_user: str
    offices: tuple[str, ...]


@dataclass
class Scenario:
    name: str
    organisations: list[SandboxOrganisation]
    offices: list[SandboxOffice]
    users: list[SandboxUser]
    environments: list[Environment] = field(default_factory=list)
    apps: dict[str, str] = field(default_factory=sandbox_apps)


def demo_scenario() -> Scenario:
    """Three environments in two organisations on two clusters; Jansen's connection runs under Petra Jansen,
    who cannot open Jansen Verhuur (NLA203)."""
    return Scenario(
        name="demo",
        organisations=[
            SandboxOrganisation("DEVRIES", "Administratiekantoor De Vries", "eu1"),
            SandboxOrganisation("JANSEN", "Jansen Groep", "eu2"),
            SandboxOrganisation("GROEN", "Groen Hoveniers", "eu1"),
        ],
        offices=[
            SandboxOffice("NLA101", "Bakkerij De Vries B.V.", "DEVRIES"),
            SandboxOffice("NLA102", "De Vries Vastgoed B.V.", "DEVRIES"),
            SandboxOffice("NLA201", "Jansen Installatietechniek B.V.", "JANSEN"),
            SandboxOffice("NLA202", "Jansen Holding B.V.", "JANSEN"),
            SandboxOffice("NLA203", "Jansen Verhuur B.V.", "JANSEN"),
            SandboxOffice("NLA301", "Groen Hoveniers V.O.F.", "GROEN"),
        ],
        users=[
            SandboxUser("JDEVRIES", "Jan de Vries", "DEVRIES", {"NLA101", "NLA102"}, default_office="NLA101"),
            SandboxUser("PJANSEN", "Petra Jansen", "JANSEN", {"NLA201", "NLA202"}, default_office="NLA201"),
            SandboxUser("ABAKKER", "Anna Bakker", "JANSEN", {"NLA201", "NLA202", "NLA203"}, default_office="NLA203"),
            SandboxUser("MGROEN", "Mark Groen", "GROEN", {"NLA301"}, default_office="NLA301"),
        ],
        environments=[
            Environment("Bakkerij De Vries", "JDEVRIES", ("NLA101", "NLA102")),
            Environment("Jansen Groep", "PJANSEN", ("NLA201", "NLA202", "NLA203")),
            Environment("Groen Hoveniers", "MGROEN", ("NLA301",)),
        ],
    )


def demo_users() -> dict[str, str]:
    """The demo scenario's environments: name -> the user code its connection is made under."""
    return {environment.name: environment.connection_user for environment in demo_scenario().environments}


SCENARIOS = {"demo": demo_scenario}
