"""Shared by the tests that run the service against the Twinfield sandbox: its environments, the settings that
point at the sandbox, connecting over the sandbox's sign-in, and invoice actions as the invoice product hands them in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import FakeClock
from twinfield_helpers import JANSEN_ENVIRONMENT, authorization_code

from integrations.twinfield.sandbox import Faults, TwinfieldSandbox, demo_scenario

TWINFIELD = "twinfield"
TWINFIELD_ENVIRONMENTS = JANSEN_ENVIRONMENT + """
[[environments]]
key = "devries-twinfield"
name = "Bakkerij De Vries"
integration = "twinfield"
administrations = [{ code = "NLA101", name = "Bakkerij De Vries B.V." }, { code = "NLA102", name = "De Vries Vastgoed B.V." }]
"""
CONNECTION_USERS = {"jansen-twinfield": "PJANSEN", "devries-twinfield": "JDEVRIES"}
"""The sandbox user each of TWINFIELD_ENVIRONMENTS connects as."""


def twinfield_settings(sandbox_url: str, **options: Any) -> str:
    """An [integrations.twinfield] table pointing at `sandbox_url`, with short timeouts and waits; `options` override."""
    table = {"base_url": sandbox_url, "read_timeout": 0.5, "connect_timeout": 0.5, "base_delay": 0.01, "max_delay": 0.05,
             **options}
    return "\n[integrations.twinfield]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in table.items())


def sandbox_code(sandbox: TwinfieldSandbox, redirect_uri: str, user: str) -> str:
    """An authorization code for the service's `redirect_uri`: signed in on the sandbox's page as `user`."""
    return authorization_code(sandbox, user, redirect_uri=redirect_uri)


def book(key: str, office: str = "NLA201", environment: str = "jansen-twinfield", amount: float = 121.0,
         kind: str = "book") -> dict:
    """A Twinfield book action as the invoice product hands it to POST /api/v1/actions."""
    return {"idempotency_key": key, "integration": TWINFIELD, "environment": environment, "administration": office,
            "kind": kind,
            "payload": {"journal": "INK", "supplier": "2003", "entry_date": "2026-11-20", "description": f"Invoice {key}",
                        "lines": [{"gl_account": "7000", "amount": amount, "vat_code": "IH", "cost_center": "101"}]}}


# Import as service_sandbox_fixture: named apart from its fixture name, so a test's parameter shadows no import.
@pytest.fixture(name="sandbox")
def service_sandbox_fixture(clock: FakeClock) -> Iterator[TwinfieldSandbox]:
    # Generous credits: the budget has tests of its own; here the outbox is under test.
    sandbox = TwinfieldSandbox(demo_scenario(), clock=clock, seed=11,
                               faults=Faults(credits_per_minute=1_000_000)).start()
    yield sandbox
    sandbox.stop()


def switch(client, tokens, enabled: bool, reason: str = "wrong bookings") -> dict:
    """Switch Twinfield on or off for every environment through the API, as an operator; the change."""
    answer = client.put(f"/api/v1/integrations/{TWINFIELD}/switch", headers=tokens["operator"],
                        json={"enabled": enabled, "reason": reason})
    assert answer.status_code == 200, answer.text
    return answer.json()
