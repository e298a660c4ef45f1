"""Each integration's call budget in its own window (issue 16's Visma.net states its limits per hour and company;
Exact Online per minute and per day): the API adds the window and what each class carries for the integration
beside the fields existing clients read, the console says "This hour" and "mirror writes" for Visma.net, and the
replay estimate speaks in the unit of the limits that pace it, with correct plurals."""

from datetime import timedelta

import pytest
from conftest import TOKENS
from page_helpers import sign_in

from integrations.rate_limits import Window
from statuspage.actions.replay import describe_duration, replay_estimate

COMPANY = "1896329"


def state(client, clock) -> None:
    """Limits as the answers of each system state them, fed to the call budget as the connectors feed it."""
    budget = client.app.state.links.budget
    budget.observe("visma-net", COMPANY, None, Window(15000, 14945, clock() + timedelta(minutes=30)))
    budget.observe("exact-online", "101", Window(60, 58, clock() + timedelta(seconds=40)),
                   Window(5000, 4990, clock() + timedelta(hours=10)))


def test_visma_net_s_budget_is_shown_per_hour_and_its_first_class_as_mirror_writes(client, tokens, clock) -> None:
    state(client, clock)
    budgets = {(b["integration"], b["administration"]): b
               for b in client.get("/api/v1/budgets", headers=tokens["viewer"]).json()}
    visma, exact = budgets[("visma-net", COMPANY)], budgets[("exact-online", "101")]
    # Existing clients keep their fields; the window says what `daily` spans.
    assert (visma["daily"]["limit"], visma["daily_reserve"], visma["window"]) == (15000, 3000, "hour")
    assert (exact["daily"]["limit"], exact["window"]) == (5000, "day")
    assert visma["classes"]["booking"] == "mirror writes" and exact["classes"]["booking"] == "bookings"
    assert set(visma["calls_today"]) == {"booking", "rights", "probe", "sync"}

    sign_in(client, TOKENS["viewer"])
    page = client.get("/console/budgets").text
    visma_row = page.split(f'data-budget="visma-net/{COMPANY}"')[1].split("</tr>")[0]
    exact_row = page.split('data-budget="exact-online/101"')[1].split("</tr>")[0]
    assert "This hour: 14945 of 15000 left" in visma_row and "Today" not in visma_row
    assert "3000 of the hour, for mirror writes" in visma_row and "Visma.net Financials" in visma_row
    assert "Today: 4990 of 5000 left" in exact_row and "1000 of the day, for bookings" in exact_row


def test_the_switch_page_estimates_visma_net_s_replay_at_its_calls_an_hour(client, tokens, clock) -> None:
    state(client, clock)
    off = client.put("/api/v1/integrations/visma-net/switch", headers=tokens["operator"],
                     json={"enabled": False, "reason": "duplicates"})
    assert off.status_code == 200, off.text
    replay = client.get("/api/v1/integrations/visma-net/replay", headers=tokens["viewer"]).json()
    assert replay["limits_per"] == "hour"
    sign_in(client, TOKENS["viewer"])
    page = client.get("/console/switches").text
    visma = page[page.index('aria-labelledby="integration-switch-visma-net"'):]
    visma = visma[:visma.index("</section>")]
    assert "at the calls an hour Visma.net Financials reported for each" in visma
    assert "Financials's" not in visma and "1 seconds" not in visma


def test_the_replay_estimate_follows_the_window_its_limits_are_stated_in() -> None:
    # 3,000 actions at Visma's 15,000 calls an hour: 12 minutes; at Exact's 60 a minute: 50 minutes.
    assert replay_estimate([(3000, 15000 / 60)]) == timedelta(minutes=12)
    assert replay_estimate([(3000, 60)]) == timedelta(minutes=50)


@pytest.mark.parametrize(("minutes", "said"), [
    (0, "nothing to replay"), (0.004, "less than a second"), (1 / 60, "1 second"), (0.5, "30 seconds"),
    (1, "1 minute"), (12, "12 minutes"), (60, "1 hour"), (150, "2.5 hours"),
])
def test_an_estimate_is_said_in_its_unit_with_correct_plurals(minutes, said) -> None:
    assert describe_duration(minutes) == said
