"""The invoice-action outbox and the kill switch, end to end against the Exact Online sandbox:
delayed while off, replayed in order when on, each action booked exactly once, never where it
does not belong."""

import httpx
import msgspec
import pytest
from conftest import settle, states, wait_for
from exact_online_helpers import control, ledger
from exact_online_service_helpers import (  # noqa: F401 (fixtures)
    DEMO_ENVIRONMENTS,
    book,
    connected_fixture,
    sandbox_code,
    service_sandbox_fixture,
    settings_for,
)

from statuspage.actions import outbox, replay, switches
from statuspage.core import storage
from statuspage.core.operation import Actor


@pytest.fixture
def settings(tmp_path, sandbox, monkeypatch):
    return settings_for(tmp_path, sandbox, monkeypatch, DEMO_ENVIRONMENTS, "outbox.db")


def switch(client, tokens, enabled: bool, reason: str = "wrong bookings"):
    response = client.put("/api/v1/integrations/exact-online/switch", headers=tokens["operator"],
                          json={"enabled": enabled, "reason": reason})
    assert response.status_code == 200, response.text
    return response.json()


def test_an_action_is_booked_once_into_the_administration_it_names(connected, tokens, sandbox) -> None:
    client = connected
    handed_in = client.post("/api/v1/actions", json=book("INV-1"), headers=tokens["client"])
    assert handed_in.status_code == 201
    assert handed_in.json()["state"] in ("queued", "running", "done")
    settle(client)
    action = client.get(f"/api/v1/actions/{handed_in.json()['id']}", headers=tokens["client"]).json()
    assert action["state"] == "done"
    assert action["administration_booked"] == "101"
    assert action["subject"] == "S001 Invoice INV-1"  # the supplier and the description: what it books
    [entry] = ledger(sandbox)
    assert (entry["division"], entry["your_ref"], str(entry["entry_number"])) == (101, "INV-1", action["entry_number"])
    transitions = client.get(f"/api/v1/actions/{action['id']}/transitions", headers=tokens["client"]).json()
    assert [t["to_state"] for t in transitions] == ["queued", "running", "done"]


def test_the_same_key_is_the_same_action_and_a_different_request_under_it_is_a_conflict(connected, tokens, sandbox) -> None:
    client = connected
    first = client.post("/api/v1/actions", json=book("INV-2"), headers=tokens["client"])
    again = client.post("/api/v1/actions", json=book("INV-2"), headers=tokens["client"])
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    conflict = client.post("/api/v1/actions", json=book("INV-2", amount=999.0), headers=tokens["client"])
    assert conflict.status_code == 409
    assert "was used before for a different action" in conflict.json()["detail"]
    settle(client)
    assert [entry["your_ref"] for entry in ledger(sandbox)] == ["INV-2"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"environment": "nobody"}, "unknown environment 'nobody'"),
        ({"administration": "999"}, "administration '999' is not linked to environment 'bakkerij-de-vries'"),
        ({"integration": "unit4"}, "unknown integration 'unit4'"),
        ({"payload": {"journal": "60"}}, "book payload of 'BAD'"),
        ({"kind": "pay"}, "kind must be one of 'book', 'book_and_block', 'unblock'"),
        ({"kind": "mirror_insert"}, "mirror_insert actions are written by the service's mirror rules"),
        ({"integration": "visma-net"}, "visma-net does not carry out book actions; only the service's mirror rules"),
    ],
)
def test_a_malformed_action_is_refused_with_what_to_fix(client, tokens, change, message) -> None:
    response = client.post("/api/v1/actions", json=book("BAD") | change, headers=tokens["client"])
    assert response.status_code == 400
    assert message in response.text


def _line(amount: float = 10.0) -> dict:
    return {"gl_account": "4000", "amount": amount, "vat_code": "2"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"idempotency_key": ""}, '"message":"Expected `str` of length >= 1","key":"idempotency_key"'),
        ({"idempotency_key": "K" * 100_000}, '"message":"Expected `str` of length <= 64","key":"idempotency_key"'),
        ({"idempotency_key": "a\u0000b"}, '"key":"idempotency_key"'),
        ({"idempotency_key": "two words"}, '"key":"idempotency_key"'),
        ({"payload": {**book("B")["payload"], "lines": [_line(1e308)]}}, "Expected `float` < 1000000000000.0"),
        ({"payload": {**book("B")["payload"], "lines": [_line(-1e308)]}}, "Expected `float` > -1000000000000.0"),
        ({"payload": {**book("B")["payload"], "entry_date": "0001-01-01"}},
         "entry_date must lie between 2000-01-01 and 2099-12-31; got 0001-01-01"),
        ({"payload": {**book("B")["payload"], "lines": [_line()] * 10_000}}, "Expected `array` of length <= 500"),
        ({"payload": {**book("B")["payload"], "lines": []}}, "Expected `array` of length >= 1"),
        ({"payload": {**book("B")["payload"], "description": "x" * 5000}}, "Expected `str` of length <= 1000"),
    ],
)
def test_action_input_beyond_its_documented_bounds_is_refused(client, tokens, change, message) -> None:
    response = client.post("/api/v1/actions", json=book("BOUNDS") | change, headers=tokens["client"])
    assert response.status_code == 400
    assert message in response.text
    assert client.get("/api/v1/actions", headers=tokens["viewer"]).json()["actions"] == []


def test_a_key_another_client_used_is_refused_so_references_stay_unique_per_client(connected, tokens, seed,
                                                                                    sandbox) -> None:
    from statuspage.incidents import operations

    client = connected
    seed(lambda db: operations.create_token(db, seed.settings, Actor("t"), seed.clock(), "other-product", "client",
                                            "sp_other"))
    assert client.post("/api/v1/actions", json=book("INV-9"), headers=tokens["client"]).status_code == 201
    other = client.post("/api/v1/actions", json=book("INV-9"), headers={"Authorization": "Bearer sp_other"})
    assert other.status_code == 409
    assert "idempotency key 'INV-9' is used by another client" in other.json()["detail"]
    settle(client)
    assert [entry["your_ref"] for entry in ledger(sandbox)] == ["INV-9"]


def test_only_the_invoice_product_hands_in_actions_and_it_sees_only_its_own(client, tokens, seed) -> None:
    assert client.post("/api/v1/actions", json=book("X"), headers=tokens["operator"]).status_code == 403
    assert client.post("/api/v1/actions", json=book("X")).status_code == 401
    mine = client.post("/api/v1/actions", json=book("MINE"), headers=tokens["client"]).json()
    from statuspage.incidents import operations

    seed(lambda db: operations.create_token(db, seed.settings, Actor("t"), seed.clock(), "other-product", "client", "sp_other"))
    other = {"Authorization": "Bearer sp_other"}
    assert client.get(f"/api/v1/actions/{mine['id']}", headers=other).status_code == 404
    assert client.get("/api/v1/actions", headers=other).json()["actions"] == []
    assert client.get(f"/api/v1/actions/{mine['id']}", headers=tokens["viewer"]).status_code == 200


def test_switching_off_delays_thousands_of_queued_actions_in_one_transaction(seed, clock) -> None:
    def hand_in(db) -> None:
        for n in range(3000):
            request = msgspec.convert(book(f"K{n}", administration=("101", "102")[n % 2]), outbox.ActionRequest)
            outbox.accept(db, seed.settings, "invoice-product", clock(), request)

    seed(hand_in)
    change = seed(lambda db: switches.switch(db, seed.settings, Actor("olga"), clock(), integration="exact-online",
                                           environment=None, enabled=False, reason="wrong bookings"))
    assert change.moved == 3000

    def look(db):
        return (dict(db.execute("SELECT state, count(*) FROM actions GROUP BY state").fetchall()),
                db.execute("SELECT count(*) FROM action_transitions WHERE to_state = 'delayed'").fetchone()[0],
                [row["action"] for row in storage.audit_entries(db, limit=5)])

    counts, transitions, audit = seed(look)
    assert counts == {"delayed": 3000}
    assert transitions == 3000
    assert audit[0] == "switch.off"


def test_actions_arriving_while_off_wait_and_are_replayed_in_order_exactly_once(connected, tokens, sandbox) -> None:
    client = connected
    switch(client, tokens, False)
    keys = [f"OFF-{n}" for n in range(60)]
    for n, key in enumerate(keys):
        handed_in = client.post("/api/v1/actions", json=book(key, administration=("101", "102")[n % 2]),
                                headers=tokens["client"])
        assert handed_in.json()["state"] == "delayed"
    settle(client)
    assert ledger(sandbox) == []
    assert client.get("/api/v2/components.json").json()["components"][1]["status"] == "major_outage"

    preview = client.get("/api/v1/integrations/exact-online/replay", headers=tokens["viewer"]).json()
    assert [(d["administration"], d["actions"]) for d in preview["delayed"]] == [("101", 30), ("102", 30)]
    assert preview["enabled"] is False and preview["estimated_minutes"] == 0.5

    turned_on = switch(client, tokens, True, "Exact fixed the bug")
    assert turned_on["actions_moved"] == 60
    settle(client)
    entries = ledger(sandbox)
    assert sorted(entry["your_ref"] for entry in entries) == sorted(keys)
    for division in (101, 102):
        booked = [entry["your_ref"] for entry in entries if entry["division"] == division]
        assert booked == [key for n, key in enumerate(keys) if (101, 102)[n % 2] == division]
    progress = client.get("/api/v1/integrations/exact-online/replay", headers=tokens["viewer"]).json()["progress"]
    assert (progress["total"], progress["done"], progress["left"]) == (60, 60, 0)


def test_switching_off_mid_replay_returns_the_rest_to_delayed_and_nothing_more_is_sent(connected, tokens, sandbox) -> None:
    client = connected
    switch(client, tokens, False)
    for n in range(40):
        client.post("/api/v1/actions", json=book(f"MID-{n}"), headers=tokens["client"])
    # The sandbox holds each booking, unbooked and unanswered, until the test lets it through: the replay's
    # first booking is under way when the switch goes off again, however slow the machine.
    control(sandbox, "faults", {"hold_bookings": True})
    switch(client, tokens, True, "try again")
    wait_for(lambda: sandbox.held_bookings == 1, "the replay's first booking under way, held by the sandbox")
    switch(client, tokens, False, "still wrong")
    control(sandbox, "faults", {"hold_bookings": False})
    settle(client)
    sent = len(ledger(sandbox))
    counts = states(client, tokens)
    # All forty wait in one lane, which has at most one call under way: that one finishes, no other starts.
    assert sent == 1
    assert counts.get("done", 0) == sent
    assert counts["delayed"] == 40 - sent
    switch(client, tokens, True, "fixed")
    settle(client)
    assert sorted(entry["your_ref"] for entry in ledger(sandbox)) == sorted(f"MID-{n}" for n in range(40))


def test_a_connection_user_without_rights_leaves_the_action_undone_and_the_ledger_untouched(connected, tokens, sandbox) -> None:
    client = connected
    refused = client.post("/api/v1/actions", json=book("J-203", administration="203", environment="jansen-groep"),
                          headers=tokens["client"]).json()
    allowed = client.post("/api/v1/actions", json=book("J-201", administration="201", environment="jansen-groep"),
                          headers=tokens["client"]).json()
    settle(client)
    refused = client.get(f"/api/v1/actions/{refused['id']}", headers=tokens["client"]).json()
    assert refused["state"] == "undone"
    assert "not among the connection user's accessible administrations" in refused["error"]
    assert client.get(f"/api/v1/actions/{allowed['id']}", headers=tokens["client"]).json()["state"] == "done"
    assert [(entry["division"], entry["your_ref"]) for entry in ledger(sandbox)] == [(201, "J-201")]


def test_the_2019_bug_trips_the_switch_after_the_first_misroute_and_the_report_lists_it(connected, tokens, sandbox) -> None:
    client = connected
    link = client.app.state.links["exact-online"]
    # Jansen connected under Anna, who can open 203; the rights check learns so with a first booking.
    client.blocking_portal.call(link.connect, "jansen-groep", sandbox_code(sandbox, link.redirect_uri, "a.bakker"), "t")
    client.post("/api/v1/actions", json=book("FIRST", administration="203", environment="jansen-groep"),
                headers=tokens["client"])
    settle(client)
    # Then her rights to 203 go, within the check's cache time, and Exact Online misbehaves as in 2019.
    httpx.post(f"{sandbox.url}/_sandbox/users/a.bakker", json={"divisions": [201, 202], "current_division": 201})
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"misroute_bug": True})
    for n in range(5):
        client.post("/api/v1/actions", json=book(f"BUG-{n}", administration="203", environment="jansen-groep",
                                                 amount=100.0 + n), headers=tokens["client"])
    settle(client)

    misrouted = [entry for entry in ledger(sandbox) if entry["your_ref"].startswith("BUG-")]
    assert [(entry["asked_division"], entry["division"]) for entry in misrouted] == [(203, 201)]  # one, then stopped
    report = client.get("/api/v1/misroutes", headers=tokens["viewer"]).json()
    assert [(r["environment"], r["administration_asked"], r["administration_booked"], r["entry_number"], r["amount"])
            for r in report] == [("jansen-groep", "203", "201", str(misrouted[0]["entry_number"]), 100.0)]
    csv_text = client.get("/api/v1/misroutes.csv", headers=tokens["viewer"]).text
    assert csv_text.splitlines()[0] == "environment,administration_asked,administration_booked,entry_number,amount,at,action_id"
    assert f"jansen-groep,203,201,{misrouted[0]['entry_number']},100.0," in csv_text

    counts = states(client, tokens)
    assert counts == {"done": 1, "failed": 1, "delayed": 4}
    assert client.get("/api/v1/integrations/exact-online/replay", headers=tokens["viewer"]).json()["enabled"] is False
    component = next(c for c in client.get("/api/v2/components.json").json()["components"] if c["id"] == "exact-online")
    assert component["status"] == "major_outage"
    # The drafted incident waits for an operator: not on the public page until published.
    assert client.get("/api/v2/incidents.json").json()["incidents"] == []
    # Meanwhile the component's line tells visitors that their invoices wait, not vanish.
    assert "Invoice actions are delayed, not lost" in client.get("/?lang=en").text
    [draft] = client.get("/api/v1/incidents/drafts", headers=tokens["viewer"]).json()
    assert draft["name"] == "Boekingen naar Exact Online gepauzeerd"  # the page's language; English beside it
    from conftest import TOKENS
    from page_helpers import sign_in

    sign_in(client, TOKENS["operator"])
    dashboard = client.get("/console").text
    assert "Drafted by the service, waiting for you" in dashboard and "Publish on the status page" in dashboard
    switches = client.get("/console/switches").text
    assert f"<td>{misrouted[0]['entry_number']}</td>" in switches  # on the misroute report
    published = client.post(f"/api/v1/incidents/{draft['id']}/publish", headers=tokens["operator"])
    assert published.status_code == 200
    assert [i["name"] for i in client.get("/api/v2/incidents/unresolved.json").json()["incidents"]] == [draft["name"]]


def test_a_flapping_accounting_system_ends_with_every_action_booked_once(connected, tokens, sandbox, clock) -> None:
    client = connected
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"fail_rate": 0.3, "fail_status": 503})
    keys = [f"FLAP-{n}" for n in range(30)]
    for n, key in enumerate(keys):
        client.post("/api/v1/actions", json=book(key, administration=("101", "102")[n % 2]), headers=tokens["client"])
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"fail_rate": 0.3, "fail_status": 503, "after_booking": True})
    for _ in range(20):
        settle(client)
        if states(client, tokens).get("done", 0) == len(keys):
            break
        clock.advance(minutes=31)  # past any retry wait
    assert states(client, tokens) == {"done": len(keys)}
    booked = [entry["your_ref"] for entry in ledger(sandbox)]
    assert sorted(booked) == sorted(keys)  # each once: no loss, no double booking


def test_the_client_hears_of_each_final_state_at_its_signed_callback(connected, tokens, sandbox) -> None:
    import hashlib
    import hmac as hmac_module

    from webhook_helpers import Receiver

    client = connected
    receiver = Receiver()
    try:
        registered = client.put("/api/v1/actions/callback", headers=tokens["client"], json={"url": receiver.url})
        assert registered.status_code == 200
        secret = registered.json()["secret"]
        client.post("/api/v1/actions", json=book("CB-1"), headers=tokens["client"])
        client.post("/api/v1/actions", json=book("CB-2", administration="203", environment="jansen-groep"),
                    headers=tokens["client"])
        settle(client)
        client.blocking_portal.call(client.app.state.deliverer.deliver_due)
        bodies = {}
        for item in receiver.received:
            timestamp = item["headers"]["X-Statuspage-Timestamp"]
            expected = hmac_module.new(secret.encode(), timestamp.encode() + b"." + item["body"], hashlib.sha256).hexdigest()
            assert item["headers"]["X-Statuspage-Signature"] == f"sha256={expected}"
            assert item["headers"]["X-Statuspage-Event"] == "action"
            action = __import__("json").loads(item["body"])["action"]
            bodies[action["idempotency_key"]] = action
        assert bodies["CB-1"]["state"] == "done" and bodies["CB-1"]["entry_number"]
        assert bodies["CB-2"]["state"] == "undone"
    finally:
        receiver.close()


def test_connecting_waits_while_the_switch_is_off(connected, tokens, sandbox) -> None:
    from statuspage.actions.connections import SwitchedOff

    client = connected
    switch(client, tokens, False)
    link = client.app.state.links["exact-online"]
    code = sandbox_code(sandbox, link.redirect_uri, "a.bakker")
    with pytest.raises(SwitchedOff, match="switch for jansen-groep is off"):
        client.blocking_portal.call(link.connect, "jansen-groep", code, "t")


@pytest.mark.parametrize(
    ("backlog", "minutes"),
    [
        ([], 0.0),
        ([(30, None), (30, None)], 0.5),  # side by side, at the assumed 60 a minute
        ([(120, 60), (30, 60)], 2.0),  # the largest backlog decides
        ([(120, 120), (90, 30)], 3.0),  # at the limits the system reported for each
    ],
)
def test_a_replay_takes_as_long_as_its_slowest_administration_at_the_reported_limits(backlog, minutes) -> None:
    assert replay.replay_estimate(backlog).total_seconds() / 60 == minutes


def test_one_connection_is_switched_off_and_replayed_on_its_own(connected, tokens, sandbox) -> None:
    client = connected
    connections = {c["environment"]: c for c in client.get("/api/v1/connections", headers=tokens["viewer"]).json()}
    jansen = connections["jansen-groep"]["id"]
    off = client.put(f"/api/v1/connections/{jansen}/switch", headers=tokens["operator"],
                     json={"enabled": False, "reason": "Petra lost her rights"})
    assert off.json()["scope"] == "connection:jansen-groep:exact-online"
    jansen_action = client.post("/api/v1/actions", json=book("J-1", administration="201", environment="jansen-groep"),
                                headers=tokens["client"]).json()
    other = client.post("/api/v1/actions", json=book("V-1"), headers=tokens["client"]).json()
    assert (jansen_action["state"], other["state"] in ("queued", "running", "done")) == ("delayed", True)
    settle(client)
    assert [entry["your_ref"] for entry in ledger(sandbox)] == ["V-1"]

    preview = client.get(f"/api/v1/connections/{jansen}/replay", headers=tokens["viewer"]).json()
    assert (preview["enabled"], [(d["environment"], d["actions"]) for d in preview["delayed"]]) == (
        False, [("jansen-groep", 1)])
    client.put(f"/api/v1/connections/{jansen}/switch", headers=tokens["operator"], json={"enabled": True, "reason": "ok"})
    settle(client)
    progress = client.get(f"/api/v1/connections/{jansen}/replay", headers=tokens["viewer"]).json()["progress"]
    assert (progress["total"], progress["done"], progress["left"]) == (1, 1, 0)
    assert sorted(entry["your_ref"] for entry in ledger(sandbox)) == ["J-1", "V-1"]
    # The integration's view follows its connections' replays too, naming whose it is.
    whole = client.get("/api/v1/integrations/exact-online/replay", headers=tokens["viewer"]).json()["progress"]
    assert (whole["id"], whole["scope"]) == (progress["id"], "connection:jansen-groep:exact-online")
    assert client.get("/api/v1/connections/999/replay", headers=tokens["viewer"]).status_code == 404


def test_the_budgets_show_the_limits_exact_stated_and_the_calls_each_class_made(connected, tokens, sandbox) -> None:
    from page_helpers import sign_in

    client = connected
    client.post("/api/v1/actions", json=book("INV-B1"), headers=tokens["client"])
    settle(client)
    budgets = {(b["integration"], b["administration"]): b
               for b in client.get("/api/v1/budgets", headers=tokens["viewer"]).json()}
    division = budgets[("exact-online", "101")]
    assert division["minutely"]["limit"] == 1_000_000 and division["daily"]["limit"] == 100_000_000
    assert division["daily"]["remaining"] < 100_000_000
    assert division["daily_reserve"] == 20_000_000
    assert division["calls_today"]["booking"] == 1  # the POST; the rights check's calls are its own class
    assert division["calls_today"]["rights"] >= 1 and division["calls_today"]["probe"] == 0
    assert client.get("/api/v1/budgets").status_code == 401
    sign_in(client, "sp_viewer-token")
    page = client.get("/console/budgets").text
    row = page.split('data-budget="exact-online/101"')[1].split("</tr>")[0]
    assert 'data-calls="booking">1<' in row and "of 1000000 left" in row


def test_a_look_up_after_a_crash_for_an_administration_the_user_lost_never_reaches_exact(
    connected, tokens, sandbox, clock
) -> None:
    """A crash mid-call leaves an action whose outcome only the accounting system knows. If the connection user
    has meanwhile lost the administration, the look-up is refused by the rights check before any call: asking
    would only add to Exact's "10 errors an hour" block. Since it may have been booked, it is not undone; it
    waits, and is looked up once the user can open the administration again."""
    client = connected
    jansen = next(c for c in client.get("/api/v1/connections", headers=tokens["viewer"]).json()
                  if c["environment"] == "jansen-groep")

    def switch_jansen(enabled: bool) -> None:
        answer = client.put(f"/api/v1/connections/{jansen['id']}/switch", headers=tokens["operator"],
                            json={"enabled": enabled, "reason": "hold it while the test sets the crash up"})
        assert answer.status_code == 200, answer.text

    switch_jansen(False)  # held, so that the dispatcher cannot send it before the "crash"
    action = client.post("/api/v1/actions", json=book("J-202", administration="202", environment="jansen-groep"),
                         headers=tokens["client"]).json()
    assert action["state"] == "delayed"

    def crash_mid_call(db):  # what a killed process leaves: running, one attempt made
        assert storage.move_action(db, action["id"], expected="delayed", to="running", now=clock(), cause="sending",
                                   attempts=1)

    client.blocking_portal.call(client.app.state.store.write, crash_mid_call)
    httpx.post(f"{sandbox.url}/_sandbox/users/p.jansen", json={"divisions": [201]}).raise_for_status()
    switch_jansen(True)
    client.blocking_portal.call(client.app.state.dispatcher.recover)
    settle(client)

    seen = client.get(f"/api/v1/actions/{action['id']}", headers=tokens["client"]).json()
    assert seen["state"] == "queued" and "accessible administrations" in seen["error"]
    traffic = httpx.get(f"{sandbox.url}/_sandbox/traffic").json()["exchanges"]
    assert [x for x in traffic if x["division"] == 202] == []
    assert ledger(sandbox) == []

    httpx.post(f"{sandbox.url}/_sandbox/users/p.jansen", json={"divisions": [201, 202]}).raise_for_status()
    clock.advance(minutes=2)  # past the retry's wait and the rights cache
    settle(client)
    assert client.get(f"/api/v1/actions/{action['id']}", headers=tokens["client"]).json()["state"] == "done"
    assert [entry["your_ref"] for entry in ledger(sandbox)] == ["J-202"]
