"""Who exists in a sandbox: the apps, the companies (each a Visma Connect tenant) and their first customers."""

from __future__ import annotations

from dataclasses import dataclass, field

SANDBOX_CLIENT_ID = "isv_statuspage_sandbox"
SANDBOX_CLIENT_SECRET = "sandbox-secret-not-for-production"


@dataclass(frozen=True)
class SeedCustomer:
    name: str
    reference: str | None = None
    """None for a customer made by hand in Visma.net: the mirror must leave it alone."""
    number: str | None = None


@dataclass(frozen=True)
class SandboxCompany:
    company_id: str
    tenant_id: str
    name: str
    customers: tuple[SeedCustomer, ...] = ()
    granted_to: frozenset[str] = frozenset({SANDBOX_CLIENT_ID})
    """Client ids the company's administrator granted access (in the Visma App Store)."""


@dataclass(frozen=True)
class Scenario:
    name: str
    companies: tuple[SandboxCompany, ...]
    apps: dict[str, str] = field(default_factory=lambda: {SANDBOX_CLIENT_ID: SANDBOX_CLIENT_SECRET})


def demo_scenario() -> Scenario:
    """One company, as in seed 001 (`use ...,1896329@vismanet`): two customers made by hand, no reference, and one
    relation mirrored from Exact Online earlier."""
    return Scenario("demo", (
        SandboxCompany("1896329", "5f0c1e2a-7d3b-4c59-9a61-0b8e4f2d7c31", "Jansen Installatietechniek B.V.", (
            SeedCustomer("Bakkerij De Korenschoof", number="10000"),
            SeedCustomer("Gemeente Noorderveld", number="10001"),
            SeedCustomer("Installatiebedrijf Noord B.V.", reference="EOL-102", number="10002"),
        )),
    ))


def demo_users() -> dict[str, str]:
    """The demo's environment -> the company whose tenant it connects with: Jansen Groep's one Visma.net company
    (seed 001's 1896329), whose customers mirror its Exact Online relations."""
    return {"Jansen Groep": demo_scenario().companies[0].company_id}


def empty_scenario() -> Scenario:
    """One company without customers, for tests that count every customer."""
    return Scenario("empty", (SandboxCompany("1896329", "5f0c1e2a-7d3b-4c59-9a61-0b8e4f2d7c31",
                                             "Jansen Installatietechniek B.V."),))


SCENARIOS = {"demo": demo_scenario, "empty": empty_scenario}
