"""A kill switch of an integration the public page does not show (a mirror target such as Visma.net Financials is
internal): the console does not propose a public incident for it and says why; where the box is offered, the
"bookings paused" texts are there in Dutch and English and name the integration as customers know it, never by its
key; and an incident that names no component does not lift the page's status above its impact (Statuspage computes an
incident's impact from the components it affects, `none` when it affects none)."""

import re

import pytest
from conftest import TEST_CONFIG, TOKENS
from exact_online_service_helpers import BOOKINGS_PAUSED
from page_helpers import sign_in

from statuspage.config import load_settings


@pytest.fixture
def settings(tmp_path):
    path = tmp_path / "statuspage.toml"
    path.write_text(TEST_CONFIG + BOOKINGS_PAUSED)
    return load_settings(path, environ={}, overrides={("database", "path"): str(tmp_path / "status.db")})


def section_of(page: str, integration: str) -> str:
    """The integration's switch card on the console's Kill switches page."""
    start = page.index(f'<section class="card" aria-labelledby="integration-switch-{integration}"')
    return page[start:page.index("</section>", start)]


def test_the_console_does_not_propose_a_public_incident_for_an_integration_the_page_does_not_show(client, tokens) -> None:
    sign_in(client, TOKENS["operator"])
    page = client.get("/console/switches").text
    visma, exact = section_of(page, "visma-net"), section_of(page, "exact-online")
    assert 'name="incident" value="on" checked' not in visma
    assert "Nothing on the public page shows Visma.net Financials" in visma
    assert 'name="incident" value="on" checked' in exact  # Exact Online has its component: tell the public
    # Offered all the same, pre-filled in both languages, by name.
    assert 'value="Boekingen naar Visma.net Financials gepauzeerd"' in visma
    assert 'value="Bookings to Visma.net Financials are paused"' in visma
    assert "koppeling met Visma.net Financials uitgezet" in visma and "switched the Visma.net Financials" in visma
    texts = re.findall(r'name="(?:title|message)\.\w+" value="([^"]*)"|name="message\.\w+" rows="\d+">([^<]*)<', visma)
    assert len(texts) == 4 and not any("visma-net" in "".join(text) for text in texts)


def test_an_incident_of_an_integration_without_component_does_not_raise_the_page_status(client, tokens) -> None:
    off = client.put("/api/v1/integrations/visma-net/switch", headers=tokens["operator"],
                     json={"enabled": False, "reason": "duplicate customers", "incident": {}})
    assert off.status_code == 200, off.text
    incident_id = off.json()["incident_id"]
    assert client.get("/api/v2/status.json").json()["status"] == {"indicator": "none",
                                                                  "description": "All Systems Operational"}
    [incident] = client.get("/api/v2/incidents/unresolved.json").json()["incidents"]
    assert (incident["name"], incident["impact"]) == ("Boekingen naar Visma.net Financials gepauzeerd", "none")
    dutch = client.get(f"/incidents/{incident_id}?lang=nl").text
    assert "In het Engels" not in dutch and "koppeling met Visma.net Financials uitgezet" in dutch
    assert "Bookings to Visma.net Financials are paused" in client.get(f"/incidents/{incident_id}?lang=en").text

    on = client.put("/api/v1/integrations/visma-net/switch", headers=tokens["operator"],
                    json={"enabled": True, "reason": "cleaned up", "incident": {}})
    assert on.status_code == 200, on.text
    dutch = client.get(f"/incidents/{incident_id}?lang=nl").text
    assert "We hebben Visma.net Financials weer aangezet" in dutch and "voor visma-net" not in dutch


def test_an_integration_with_a_component_still_opens_its_incident_at_the_template_impact(client, tokens) -> None:
    off = client.put("/api/v1/integrations/exact-online/switch", headers=tokens["operator"],
                     json={"enabled": False, "reason": "misroutes", "incident": {}})
    assert off.status_code == 200, off.text
    [incident] = client.get("/api/v2/incidents/unresolved.json").json()["incidents"]
    assert incident["impact"] == "major"
    assert client.get("/api/v2/status.json").json()["status"]["indicator"] == "major"


def test_a_misroute_draft_of_an_integration_without_component_does_not_raise_the_page_status_once_published(
    client, tokens, seed, clock,
) -> None:
    from integrations.base import ActionKind
    from statuspage.actions import outbox, switches
    from statuspage.core import storage
    from statuspage.core.installed import INSTALLED
    from statuspage.core.vocabulary import ActionState

    def misroute(db) -> None:
        action_id = storage.insert_action(db, storage.NewAction(
            client="mirror:test", idempotency_key="M-1", integration="visma-net", environment="jansen-groep-visma",
            administration="1896329", kind=ActionKind.MIRROR_INSERT, state=ActionState.RUNNING, fingerprint="f",
            payload="{}"), clock(), "test")
        outbox.record_misroute(db, seed.settings, clock(), storage.action(db, action_id),
                               booked="1896330", entry_number=None, entry_id=None,
                               names=switches.names_of(INSTALLED.get("visma-net")))  # as the dispatcher passes them

    seed(misroute)
    [draft] = client.get("/api/v1/incidents/drafts", headers=tokens["viewer"]).json()
    published = client.post(f"/api/v1/incidents/{draft['id']}/publish", headers=tokens["operator"])
    assert published.status_code in (200, 201, 204), published.text
    [incident] = client.get("/api/v2/incidents/unresolved.json").json()["incidents"]
    assert (incident["impact"], incident["components"]) == ("none", [])
    assert incident["name"] == "Boekingen naar Visma.net Financials gepauzeerd"
    assert client.get("/api/v2/status.json").json()["status"]["indicator"] == "none"
