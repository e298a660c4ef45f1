"""A second accounting system, registered in this test alone, runs through the whole service: connected from the
console, booked through the dispatcher, switched off and replayed, listed with its budget. Nothing outside the
fake's own definitions here had to change for it — which is what the registry is for. The fake
itself is in tests/fake_books_helpers.py."""

from __future__ import annotations

import msgspec
import pytest
from conftest import TEST_CONFIG, TOKENS, settle
from fake_books_helpers import BOOKS, FAKE, KEY, REGISTRY
from litestar.testing import TestClient
from page_helpers import csrf_of, sign_in

from integrations.registry import UnknownIntegration
from statuspage.app import create_app
from statuspage.config import load_settings
from statuspage.core.settings import ConfigError

CONFIG = TEST_CONFIG + """
[integrations.fake-books]
office_prefix = "FB"

[[environments]]
key = "fake-environment"
name = "Fake Environment"
integration = "fake-books"
administrations = [{ code = "F1", name = "Office one" }, { code = "F2", name = "Office two" }]
"""


@pytest.fixture
def settings(tmp_path):
    path = tmp_path / "statuspage.toml"
    path.write_text(CONFIG)
    BOOKS.entries.clear()
    return load_settings(path, environ={"STATUSPAGE_DB": str(tmp_path / "fake.db")}, registry=REGISTRY)


@pytest.fixture
def client(settings, clock):
    with TestClient(create_app(settings, clock=clock, registry=REGISTRY), base_url=settings.page.url) as test_client:
        yield test_client


def book(key: str, administration: str = "F1") -> dict:
    return {"idempotency_key": key, "integration": KEY, "environment": "fake-environment",
            "administration": administration, "kind": "book",
            "payload": {"journal": "60", "supplier": "S001", "entry_date": "2026-11-20", "description": key,
                        "lines": [{"gl_account": "4000", "amount": 10.0, "vat_code": "2"}]}}


def test_a_registered_integration_is_connected_booked_switched_off_and_replayed(client, tokens) -> None:
    sign_in(client, TOKENS["operator"])
    page = client.get("/console/connections").text
    card = page.split('data-environment="fake-environment"')[1].split("</article>")[0]
    assert "Fake Books" in card and "Connect to Fake Books" in card and 'name="credentials"' in card
    assert "Administration (office)" in card

    connected = client.post(f"/console/connections/fake-environment/{KEY}", follow_redirects=False,
                            data={"_csrf_token": csrf_of(page), "credentials": "robin"})
    assert connected.status_code == 302
    assert connected.headers["location"] == "/console/connections?connected=fake-environment"
    page = client.get(connected.headers["location"]).text
    assert "Fake Environment is now connected" in page
    card = page.split('data-environment="fake-environment"')[1]
    assert '<strong class="connection-user">Fake robin</strong>' in card.split("</article>")[0]

    assert client.post("/api/v1/actions", json=book("FB-1"), headers=tokens["client"]).status_code == 201
    settle(client)
    assert BOOKS.entries == [("F1", "FB-1")]

    off = client.put(f"/api/v1/integrations/{KEY}/switch", headers=tokens["operator"],
                     json={"enabled": False, "reason": "testing the switch"})
    assert off.status_code == 200
    for n in (2, 3):
        handed_in = client.post("/api/v1/actions", json=book(f"FB-{n}", "F2"), headers=tokens["client"])
        assert handed_in.json()["state"] == "delayed"
    settle(client)
    assert BOOKS.entries == [("F1", "FB-1")]
    preview = client.get(f"/api/v1/integrations/{KEY}/replay", headers=tokens["viewer"]).json()
    assert [(row["administration"], row["actions"]) for row in preview["delayed"]] == [("F2", 2)]
    switches = client.get("/console/switches").text
    assert f'id="integration-switch-{KEY}"' in switches and "Switch Exact Online off" in switches

    on = client.put(f"/api/v1/integrations/{KEY}/switch", headers=tokens["operator"],
                    json={"enabled": True, "reason": "fixed"})
    assert on.json()["actions_moved"] == 2
    settle(client)
    assert BOOKS.entries == [("F1", "FB-1"), ("F2", "FB-2"), ("F2", "FB-3")]  # in order, each once
    progress = client.get(f"/api/v1/integrations/{KEY}/replay", headers=tokens["viewer"]).json()["progress"]
    assert (progress["done"], progress["left"]) == (2, 0)

    connections = client.get("/api/v1/connections", headers=tokens["viewer"]).json()
    assert {(c["environment"], c["integration"], c["user_name"]) for c in connections} == {
        ("fake-environment", KEY, "robin")}
    budgets = {(b["integration"], b["administration"]): b
               for b in client.get("/api/v1/budgets", headers=tokens["viewer"]).json()}
    assert budgets[(KEY, "F2")]["calls_today"]["booking"] == 2
    assert budgets[(KEY, "F1")]["calls_today"]["rights"] >= 1


def test_an_action_for_an_integration_its_environment_does_not_use_is_refused(client, tokens) -> None:
    wrong = client.post("/api/v1/actions", json=book("X-1") | {"integration": "exact-online"},
                        headers=tokens["client"])
    assert wrong.status_code == 400
    assert "environment 'fake-environment' books into 'fake-books', not 'exact-online'" in wrong.text


def test_the_integrations_settings_are_validated_by_its_own_type(tmp_path) -> None:
    path = tmp_path / "statuspage.toml"
    path.write_text(CONFIG.replace('office_prefix = "FB"', "office_prefix = 7"))
    with pytest.raises(ConfigError) as wrong:
        load_settings(path, environ={}, registry=REGISTRY)
    assert str(wrong.value).endswith("integrations.fake-books.office_prefix: expected `str`, got `int`")
    # Without the integration installed, its table and its environment are configuration mistakes.
    path.write_text(CONFIG)
    with pytest.raises(ConfigError, match=r"integrations.fake-books: no integration 'fake-books' is installed"):
        load_settings(path, environ={})


def test_the_registry_names_what_is_installed() -> None:
    assert REGISTRY.keys() == ["exact-online", "twinfield", "visma-net", KEY]
    with pytest.raises(UnknownIntegration,
                       match="unknown integration 'unit4'; known: exact-online, twinfield, visma-net, fake-books"):
        REGISTRY.get("unit4")
    with pytest.raises(ValueError, match="registered twice"):
        REGISTRY.with_(FAKE)
    assert msgspec.to_builtins(FAKE.settings_from({"office_prefix": "X"}))["office_prefix"] == "X"
