"""The console's switch form: a position other than on or off is refused on the form (never read as off), and the
notice that a switch already stands as asked names the integration and shows the moment in the operator's zone, as
the rest of the console does."""

from conftest import TOKENS
from page_helpers import csrf_of, sign_in


def switch_state(client, tokens, integration: str) -> bool:
    return client.get(f"/api/v1/integrations/{integration}/replay", headers=tokens["viewer"]).json()["enabled"]


def test_a_switch_position_other_than_on_or_off_is_refused_on_the_form(client, tokens) -> None:
    sign_in(client, TOKENS["operator"])
    token = csrf_of(client.get("/console/switches").text)
    answer = client.post("/console/switches/visma-net", data={"_csrf_token": token, "enabled": "maybe",
                                                              "reason": "not sure"})
    assert answer.status_code == 200 and answer.url.path == "/console/switches"
    assert "enabled must be on or off (got &#39;maybe&#39;)" in answer.text
    assert switch_state(client, tokens, "visma-net") is True


def test_the_already_switched_notice_names_the_integration_in_the_operators_time(client, tokens, clock) -> None:
    off = client.put("/api/v1/integrations/visma-net/switch", headers=tokens["operator"],
                     json={"enabled": False, "reason": "duplicate customers"})
    assert off.status_code == 200, off.text
    clock.advance(minutes=5)
    sign_in(client, TOKENS["operator"])
    token = csrf_of(client.get("/console/switches").text)
    answer = client.post("/console/switches/visma-net", data={"_csrf_token": token, "enabled": "off",
                                                              "reason": "again"})
    notice = answer.text[answer.text.index('role="status"'):]
    notice = notice[:notice.index("</p>")]
    # 09:30 UTC on 23 November is 10:30 in Amsterdam (CET), the page's zone.
    assert "Visma.net Financials is already off since 2026-11-23 10:30 CET by operator-person" in notice
    assert "integration:visma-net" not in notice and "+00:00" not in notice
