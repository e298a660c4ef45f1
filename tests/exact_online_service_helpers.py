"""Shared by the tests that run the service against the Exact Online sandbox: the environments and their connection
users, the sandbox and the settings that point at it, connecting over the sandbox's sign-in, and invoice actions as
the invoice product hands them in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import TEST_CONFIG, FakeClock
from exact_online_helpers import authorization_code
from litestar.testing import TestClient

from integrations.exact_online.sandbox import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    ExactOnlineSandbox,
    Faults,
    demo_scenario,
)
from statuspage.config import load_settings
from statuspage.core.settings import Settings

DEMO_ENVIRONMENTS = """
[[environments]]
key = "bakkerij-de-vries"
name = "Bakkerij De Vries"
administrations = [{ code = "101", name = "Bakkerij De Vries B.V." }, { code = "102", name = "De Vries Vastgoed B.V." }]

[[environments]]
key = "jansen-groep"
name = "Jansen Groep"
administrations = [{ code = "201", name = "Jansen Installatietechniek B.V." },
                   { code = "202", name = "Jansen Holding B.V." }, { code = "203", name = "Jansen Verhuur B.V." }]
"""
CONNECTION_USERS = {"bakkerij-de-vries": "j.devries", "jansen-groep": "p.jansen"}
"""The sandbox user each of DEMO_ENVIRONMENTS connects as."""

ENVIRONMENTS = """
[[environments]]
key = "jansen-groep"
name = "Jansen Groep"
administrations = [
    { code = "201", name = "Jansen Installatietechniek B.V." },
    { code = "202", name = "Jansen Holding B.V." },
    { code = "203", name = "Jansen Verhuur B.V." },
]
"""
"""One environment, to connect in a test (from the console, or through the service's own sandbox)."""

BOOKINGS_PAUSED = '''
[[incident_templates]]
key = "bookings-paused"
name = "Bookings paused (kill switch off)"
title = { en = "Bookings to {component} are paused", nl = "Boekingen naar {component} gepauzeerd" }
message.en = """We have switched the {component} integration off. Validated invoices wait as delayed and are booked,
in the right administration, when it is back on."""
message.nl = """We hebben de koppeling met {component} uitgezet. Gevalideerde facturen wachten als vertraagd en worden
in de juiste administratie geboekt zodra ze weer aan staat."""
'''
"""The incident template a switch turned off opens, with seed 003's words."""


# Fixtures for the test modules to import, named apart from their fixture names (as in exact_online_helpers).
@pytest.fixture(name="sandbox")
def service_sandbox_fixture(clock: FakeClock) -> Iterator[ExactOnlineSandbox]:
    # Generous limits: pacing has tests of its own; here the outbox is under test.
    sandbox = ExactOnlineSandbox(demo_scenario(), clock=clock, seed=11,
                                 faults=Faults(minutely_limit=1_000_000, daily_limit=100_000_000)).start()
    yield sandbox
    sandbox.stop()


def settings_for(tmp_path: Path, sandbox: ExactOnlineSandbox, monkeypatch: pytest.MonkeyPatch, config: str,
                 database: str) -> Settings:
    """The test configuration plus `config`, booking into `sandbox`, over the SQLite file `database` in `tmp_path`.

    The client secret comes from the process environment, as an operator would set it."""
    path = tmp_path / "statuspage.toml"
    path.write_text(TEST_CONFIG + config)
    monkeypatch.setenv("STATUSPAGE_EXACT_CLIENT_SECRET", SANDBOX_CLIENT_SECRET)
    return load_settings(path, environ={"STATUSPAGE_DB": str(tmp_path / database),
                                        "STATUSPAGE_EXACT_BASE_URL": sandbox.url,
                                        "STATUSPAGE_EXACT_CLIENT_ID": SANDBOX_CLIENT_ID})


def sandbox_code(sandbox: ExactOnlineSandbox, redirect_uri: str, username: str) -> str:
    """An authorization code for the service's `redirect_uri`, signed in at the sandbox as `username`."""
    return authorization_code(sandbox, username, redirect_uri=redirect_uri)


@pytest.fixture(name="connected")
def connected_fixture(client: TestClient, sandbox: ExactOnlineSandbox) -> TestClient:
    """The app with each of DEMO_ENVIRONMENTS connected as its CONNECTION_USERS user."""
    link = client.app.state.links["exact-online"]
    for environment, username in CONNECTION_USERS.items():
        client.blocking_portal.call(link.connect, environment, sandbox_code(sandbox, link.redirect_uri, username), "test")
    return client


def book(key: str, administration: str = "101", environment: str = "bakkerij-de-vries", amount: float = 121.0) -> dict:
    """A book action as the invoice product hands it to POST /api/v1/actions."""
    return {"idempotency_key": key, "integration": "exact-online", "environment": environment,
            "administration": administration, "kind": "book",
            "payload": {"journal": "60", "supplier": "S001", "entry_date": "2026-11-20", "description": f"Invoice {key}",
                        "lines": [{"gl_account": "4000", "amount": amount, "vat_code": "2"}]}}
