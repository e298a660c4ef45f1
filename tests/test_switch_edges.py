"""Kill-switch edge cases an operator meets on a bad day, over the API, the console and the real SQLite file: flipping a
switch to where it already stands changes nothing and says so, and an integration's replay view follows the replay
of one of its connections."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from conftest import TEST_CONFIG, TOKENS
from page_helpers import csrf_of, sign_in

from statuspage.actions import replay
from statuspage.config import load_settings
from statuspage.core import storage
from statuspage.core.vocabulary import SwitchScope

ENVIRONMENT = """
[[environments]]
key = "jansen-groep"
name = "Jansen Groep"
administrations = [{ code = "201", name = "Jansen Installatietechniek B.V." }]
"""


@pytest.fixture
def settings(tmp_path):
    path = tmp_path / "statuspage.toml"
    path.write_text(TEST_CONFIG + ENVIRONMENT)
    return load_settings(path, environ={"STATUSPAGE_DB": str(tmp_path / "switches.db")})


def flip(client, tokens, enabled: bool, reason: str, path: str = "/api/v1/integrations/exact-online/switch") -> dict:
    answer = client.put(path, headers=tokens["operator"], json={"enabled": enabled, "reason": reason})
    assert answer.status_code == 200, answer.text
    return answer.json()


def audit(client, tokens) -> list[dict]:
    return client.get("/api/v1/audit", headers=tokens["viewer"]).json()


def test_switching_off_what_is_off_keeps_the_first_reason_and_says_it_is_already_off(client, tokens) -> None:
    first = flip(client, tokens, False, "bookings land in the wrong administration")
    assert (first["changed"], first["enabled"]) == (True, False)
    again = flip(client, tokens, False, "still off, just to be sure")
    assert (again["changed"], again["enabled"], again["actions_moved"]) == (False, False, 0)
    assert again["reason"] == "bookings land in the wrong administration"
    assert again["changed_by"] == "operator-person"
    assert "already off" in again["detail"] and "bookings land in the wrong administration" in again["detail"]

    sign_in(client, TOKENS["operator"])
    page = client.get("/console/switches").text
    assert "bookings land in the wrong administration" in page and "still off, just to be sure" not in page
    # Both reasons are in the history.
    entries = [(entry["action"], entry["after"]["reason"]) for entry in audit(client, tokens)
               if entry["subject_id"] == "integration:exact-online"]
    assert ("switch.off", "bookings land in the wrong administration") in entries
    assert ("switch.unchanged", "still off, just to be sure") in entries


def test_switching_on_what_is_on_starts_no_replay_and_the_last_replay_keeps_its_progress(client, tokens) -> None:
    never_off = flip(client, tokens, True, "just checking")
    assert (never_off["changed"], never_off["replay_id"]) == (False, None)
    assert "already on" in never_off["detail"]
    assert client.get("/api/v1/integrations/exact-online/replay", headers=tokens["viewer"]).json()["progress"] is None

    flip(client, tokens, False, "wrong bookings")
    replayed = flip(client, tokens, True, "fixed")
    assert replayed["changed"] is True and replayed["replay_id"] is not None
    again = flip(client, tokens, True, "fixed, really")
    assert (again["changed"], again["replay_id"], again["actions_moved"]) == (False, None, 0)
    progress = client.get("/api/v1/integrations/exact-online/replay", headers=tokens["viewer"]).json()["progress"]
    assert (progress["id"], progress["started_by"]) == (replayed["replay_id"], "operator-person")


def test_the_integrations_replay_view_follows_a_replay_of_one_of_its_connections(client, tokens) -> None:
    [connection] = client.get("/api/v1/connections", headers=tokens["viewer"]).json()
    path = f"/api/v1/connections/{connection['id']}/switch"
    flip(client, tokens, False, "Petra lost her rights", path)
    on = flip(client, tokens, True, "Petra has them again", path)
    assert on["replay_id"] is not None
    whole = client.get("/api/v1/integrations/exact-online/replay", headers=tokens["viewer"]).json()
    assert whole["progress"]["id"] == on["replay_id"]
    assert whole["progress"]["scope"] == "connection:jansen-groep:exact-online"
    own = client.get(f"/api/v1/connections/{connection['id']}/replay", headers=tokens["viewer"]).json()
    assert own["progress"]["id"] == on["replay_id"]


def test_a_console_page_older_than_anothers_flip_hears_that_the_switch_is_already_off(client, tokens) -> None:
    sign_in(client, TOKENS["operator"])
    page = client.get("/console/switches").text  # shows Exact Online on, with its "switch off" form
    flip(client, tokens, False, "wrong bookings")  # meanwhile, a colleague over the API
    answer = client.post("/console/switches/exact-online", data={
        "_csrf_token": csrf_of(page), "enabled": "off", "reason": "I see wrong bookings too"})
    assert answer.status_code == 200  # followed to the switches page
    assert "Exact Online is already off" in answer.text and "wrong bookings" in answer.text
    assert "I see wrong bookings too" not in answer.text


def test_a_replays_pace_and_its_average_are_both_per_minute_over_the_time_they_say() -> None:
    start = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    row = storage.ReplayRun(id=1, scope=SwitchScope("exact-online"), started_by="op", started_at=start, total=120,
                            finished_at=None, incident_id=None, resolved_texts={})
    # Under way for two minutes: 60 handled, 9 of them in the last minute.
    running = replay.progress(row, {"done": 60, "queued": 60}, 9, start + timedelta(minutes=2))
    assert (running.handled_last_minute, running.minutes_to_go) == (9, round(60 / 9, 1))
    assert (running.duration_seconds, running.average_per_minute) == (120.0, 30.0)
    # Finished: its last action was handled at 10:04; asked at 10:30, the average is still over those four minutes.
    finished = replay.progress(msgspec.structs.replace(row, finished_at=start + timedelta(minutes=4)), {"done": 120}, 0,
                               start + timedelta(minutes=30), start + timedelta(minutes=4))
    assert (finished.duration_seconds, finished.average_per_minute, finished.minutes_to_go) == (240.0, 30.0, 0.0)


def test_a_connection_under_an_integration_that_is_off_is_said_to_be_held(client, tokens) -> None:
    client.put("/api/v1/integrations/exact-online/switch", headers=tokens["operator"],
               json={"enabled": False, "reason": "wrong bookings"})
    sign_in(client, TOKENS["operator"])
    page = client.get("/console/switches").text
    row = page.split('<tr data-connection="jansen-groep">')[1].split("</tr>")[0]
    assert "on, but held: the integration's switch is off" in row
