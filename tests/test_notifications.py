"""Subscribers hear of incidents: signed webhooks that are retried, and e-mail with double opt-in."""

import hashlib
import hmac
import json

import pytest
from conftest import free_port
from mail_helpers import mail_sink_fixture  # noqa: F401 (a fixture)
from webhook_helpers import receiver_fixture  # noqa: F401 (fixtures)

from statuspage.core.operation import Actor
from statuspage.incidents.delivery import deliver_forever
from statuspage.incidents.notifications import link_token, next_attempt, subscriber_of

INCIDENT = {"name": "Bookings to Exact Online are paused", "message": "Switched off.", "status": "identified",
            "impact": "major", "components": {"exact-online": "major_outage"}}


def deliver(client) -> int:
    return client.blocking_portal.call(client.app.state.deliverer.deliver_due)


def add_webhook(client, tokens, url, components=None):
    response = client.post("/api/v1/subscribers", headers=tokens["operator"], json={"url": url, "components": components})
    assert response.status_code == 201, response.text
    return response.json()


def test_a_webhook_gets_a_signed_notice_in_the_hosted_format(client, tokens, receiver, clock) -> None:
    hook = add_webhook(client, tokens, receiver.url)
    client.post("/api/v1/incidents", headers=tokens["operator"], json=INCIDENT)
    assert receiver.received == []  # nothing is sent while the operator waits
    deliver(client)

    events = {item["headers"]["X-Statuspage-Event"]: item for item in receiver.received}
    assert set(events) == {"incident", "component"}
    notice = events["incident"]
    timestamp = notice["headers"]["X-Statuspage-Timestamp"]
    assert timestamp == str(int(clock().timestamp()))
    expected = hmac.new(hook["secret"].encode(), timestamp.encode() + b"." + notice["body"], hashlib.sha256).hexdigest()
    assert notice["headers"]["X-Statuspage-Signature"] == f"sha256={expected}"

    body = json.loads(notice["body"])
    assert list(body) == ["meta", "page", "incident"]
    assert body["page"] == {"id": "test-page", "status_indicator": "major", "status_description": "Partial System Outage"}
    assert body["meta"]["unsubscribe"].startswith("https://status.example.test/subscriptions/unsubscribe?token=")
    assert body["incident"]["name"] == INCIDENT["name"]
    assert body["incident"]["incident_updates"][0]["status"] == "identified"

    update = json.loads(events["component"]["body"])
    assert update["component_update"] | {"id": None} == {
        "created_at": "2026-11-23T10:30:00.000+01:00", "new_status": "major_outage", "old_status": "operational",
        "id": None, "component_id": "exact-online",
    }
    assert update["component"]["id"] == "exact-online"
    assert "secret" not in json.dumps(client.get("/api/v1/subscribers", headers=tokens["viewer"]).json())


def test_a_webhook_with_a_component_filter_hears_only_of_its_components(client, tokens, receiver) -> None:
    add_webhook(client, tokens, receiver.url, components=["twinfield"])
    client.post("/api/v1/incidents", headers=tokens["operator"], json=INCIDENT)
    client.post("/api/v1/incidents", headers=tokens["operator"], json={**INCIDENT, "name": "Twinfield slow",
                                                                        "components": {"twinfield": "degraded_performance"}})
    deliver(client)
    names = [body.get("incident", {}).get("name") or body["component"]["id"] for body in receiver.bodies()]
    assert sorted(names) == ["Twinfield slow", "twinfield"]


def test_a_failing_receiver_is_retried_with_growing_waits_until_it_answers(client, tokens, receiver, clock) -> None:
    hook = add_webhook(client, tokens, receiver.url)
    receiver.answers = [500, 503]
    client.put("/api/v1/components/login/override", headers=tokens["operator"], json={"status": "major_outage", "reason": "x"})
    deliver(client)
    assert deliver(client) == 0  # not due again yet
    clock.advance(seconds=30)
    deliver(client)
    clock.advance(seconds=59)
    assert deliver(client) == 0
    clock.advance(seconds=1)
    deliver(client)
    assert len(receiver.received) == 3
    assert len({item["body"] for item in receiver.received}) == 1  # the same notice each time
    [delivery] = client.get(f"/api/v1/subscribers/{hook['id']}/deliveries", headers=tokens["viewer"]).json()
    assert (delivery["state"], delivery["attempts"], delivery["last_status"]) == ("delivered", 3, 200)


def test_a_subscriber_whose_server_is_down_loses_nothing_and_blocks_nothing(client, tokens, receiver, settings, clock) -> None:
    dead = add_webhook(client, tokens, f"http://127.0.0.1:{free_port()}/hook")
    alive = add_webhook(client, tokens, receiver.url)
    opened = client.post("/api/v1/incidents", headers=tokens["operator"], json=INCIDENT)
    assert opened.status_code == 201
    deliver(client)
    assert len(receiver.received) == 2
    pending = client.get(f"/api/v1/subscribers/{dead['id']}/deliveries", headers=tokens["viewer"]).json()
    assert {d["state"] for d in pending} == {"pending"}
    assert all("ConnectError" in d["last_error"] for d in pending)

    for attempt in range(1, settings.notifications.max_attempts):
        clock.now = next_attempt(attempt, clock.now, settings.notifications.max_attempts)
        deliver(client)
    given_up = client.get(f"/api/v1/subscribers/{dead['id']}/deliveries", headers=tokens["viewer"]).json()
    assert {(d["state"], d["attempts"]) for d in given_up} == {("failed", settings.notifications.max_attempts)}
    listed = {s["id"]: s for s in client.get("/api/v1/subscribers", headers=tokens["viewer"]).json()}
    assert listed[dead["id"]]["failed"] == 2 and listed[alive["id"]]["failed"] == 0
    assert len(receiver.received) == 2  # the live one was not bothered again


def test_the_background_sends_what_is_due_once_each_interval_and_never_before_the_first(client, tokens, receiver) -> None:
    add_webhook(client, tokens, receiver.url)
    client.post("/api/v1/incidents", headers=tokens["operator"], json=INCIDENT)  # an incident and a component notice
    waits: list[tuple[float, int]] = []

    class Enough(Exception):
        pass

    async def sleep(seconds: float) -> None:  # the interval passes when the test says so: three rounds' worth
        waits.append((seconds, len(receiver.received)))
        if len(waits) == 3:
            raise Enough

    async def run() -> None:
        with pytest.raises(Enough):
            await deliver_forever(client.app.state.deliverer, 60.0, sleep)

    client.blocking_portal.call(run)
    # Nothing before the first interval; both notices in the round after it; nothing more in the next.
    assert waits == [(60.0, 0), (60.0, 2), (60.0, 2)]


def test_the_retry_schedule_doubles_up_to_an_hour_and_then_gives_up(clock) -> None:
    now = clock()
    waits = [(next_attempt(n, now, 10) - now).total_seconds() for n in range(1, 10)]
    assert waits == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert next_attempt(10, now, 10) is None


def test_link_tokens_open_only_what_they_were_made_for() -> None:
    token = link_token("secret", 42, "unsubscribe")
    assert subscriber_of("secret", token, "unsubscribe") == 42
    assert subscriber_of("secret", token, "confirm") is None
    assert subscriber_of("other secret", token, "unsubscribe") is None
    assert subscriber_of("secret", "43." + token.split(".")[1], "unsubscribe") is None
    assert subscriber_of("secret", "nonsense", "unsubscribe") is None


@pytest.fixture
def mail_client(tmp_path, config_file, clock, mail_sink):
    from litestar.testing import TestClient

    from statuspage.app import create_app
    from statuspage.config import load_settings

    settings = load_settings(config_file, environ={
        "STATUSPAGE_DB": str(tmp_path / "mail.db"), "STATUSPAGE_SMTP_HOST": "127.0.0.1",
        "STATUSPAGE_SMTP_PORT": str(mail_sink.port), "STATUSPAGE_MAIL_FROM": "status@example.test"})
    with TestClient(create_app(settings, clock=clock), base_url=settings.page.url) as client:
        yield client


def link_in(message, path: str) -> str:
    body = message.get_payload(decode=True).decode()
    return next(word for word in body.split() if path in word).removeprefix("https://status.example.test")


def test_email_needs_confirmation_then_brings_incidents_and_can_be_stopped(mail_client, mail_sink, seed) -> None:
    from statuspage.incidents import operations

    client = mail_client
    assert 'action="/subscriptions?lang=' in client.get("/").text
    response = client.post("/subscriptions", data={"email": "anna@accountants.example"}, headers={"Accept-Language": "en"})
    assert response.status_code == 200 and "we sent a link to anna@accountants.example" in response.text
    deliver(client)
    [confirmation] = mail_sink.messages
    assert confirmation["To"] == "anna@accountants.example" and confirmation["From"] == "status@example.test"
    assert confirmation["Subject"] == "Confirm your subscription to Test status"

    def open_incident(name: str) -> None:
        state = client.app.state
        client.blocking_portal.call(state.store.write, lambda db: operations.open_incident(
            db, state.settings, Actor("op"), state.clock(), **{**INCIDENT, "name": name}))

    open_incident("Before confirming")
    deliver(client)
    assert len(mail_sink.messages) == 1  # nothing but the confirmation until confirmed

    confirmed = client.get(link_in(confirmation, "/subscriptions/confirm"), headers={"Accept-Language": "en"})
    assert confirmed.status_code == 200 and "Confirmed." in confirmed.text
    open_incident("After confirming")
    deliver(client)
    notice = mail_sink.messages[-1]
    assert notice["Subject"] == "[Test status] After confirming: identified"
    assert "Follow it at https://status.example.test/incidents/" in notice.get_payload(decode=True).decode()

    unsubscribe = link_in(notice, "/subscriptions/unsubscribe")
    asked = client.get(unsubscribe, headers={"Accept-Language": "en"})
    assert "Do you want to stop receiving e-mail" in asked.text  # a visit alone changes nothing
    left = client.post(unsubscribe, headers={"Accept-Language": "en"})
    assert left.status_code == 200 and "You will not receive e-mail" in left.text
    open_incident("After leaving")
    deliver(client)
    assert mail_sink.messages[-1]["Subject"] == "[Test status] After confirming: identified"


def test_a_forged_or_wrong_link_confirms_nothing(mail_client) -> None:
    mail_client.post("/subscriptions", data={"email": "anna@accountants.example"})
    assert mail_client.get("/subscriptions/confirm?token=1.0123456789abcdef").status_code == 404
    assert mail_client.post("/subscriptions/unsubscribe?token=1.deadbeef").status_code == 404


def test_a_bad_address_is_refused_and_subscribing_twice_sends_one_confirmation(mail_client, mail_sink) -> None:
    bad = mail_client.post("/subscriptions", data={"email": "not an address"}, headers={"Accept-Language": "en"})
    assert bad.status_code == 400 and "does not look like an e-mail address" in bad.text
    for _ in range(2):
        assert mail_client.post("/subscriptions", data={"email": "anna@accountants.example"}).status_code == 200
    deliver(mail_client)
    assert len(mail_sink.messages) == 1


def test_without_an_smtp_server_e_mail_is_not_offered(client) -> None:
    assert "/subscriptions" not in client.get("/").text
    response = client.post("/subscriptions", data={"email": "anna@accountants.example"}, headers={"Accept-Language": "en"})
    assert response.status_code == 400 and "not offered" in response.text


# ---------------------------------------------------------------------------------------------
# One bad address never stops the others (issue 11, fault 1)


@pytest.mark.parametrize("url, reason", [
    ("http://127.0.0.1:9/a\r\nX: 1", "control characters"),
    ("http://\u2603.example/", "not a valid URL"),
    ("http://exa mple.example/", "spaces"),
    ("ftp://example.com/hook", "must start with https://"),
])
def test_a_webhook_url_that_cannot_be_sent_to_is_refused_with_the_reason(client, tokens, url, reason) -> None:
    response = client.post("/api/v1/subscribers", headers=tokens["operator"], json={"url": url})
    assert response.status_code == 400
    assert reason in response.json()["detail"]
    assert client.get("/api/v1/subscribers", headers=tokens["viewer"]).json() == []


def test_a_callback_url_that_cannot_be_sent_to_is_refused_with_the_reason(client, tokens) -> None:
    response = client.put("/api/v1/actions/callback", headers=tokens["client"], json={"url": "http://\u2603.example/"})
    assert response.status_code == 400
    assert "not a valid URL" in response.json()["detail"]


def test_an_e_mail_address_with_a_line_break_is_refused(mail_client, mail_sink) -> None:
    response = mail_client.post("/subscriptions", data={"email": "x@example.com\r\nBcc:v@example.com"},
                                headers={"Accept-Language": "en"})
    assert response.status_code == 400 and "does not look like an e-mail address" in response.text
    deliver(mail_client)
    assert mail_sink.messages == []


def test_a_delivery_that_cannot_be_made_fails_alone_and_the_others_are_sent_once(client, tokens, receiver, seed, clock):
    from statuspage.core import storage

    # Addresses stored before they were checked (an older version, a hand-edited database).
    bad_ids = seed(lambda db: [
        storage.insert_subscriber(db, kind="webhook", address=address, secret="s", components=None, now=clock(),
                                  confirmed=True)
        for address in ("http://127.0.0.1:9/a\r\nX: 1", "http://\u2603.example/")])
    add_webhook(client, tokens, receiver.url)
    assert client.post("/api/v1/incidents", headers=tokens["operator"], json=INCIDENT).status_code == 201

    assert deliver(client) == 6
    assert sorted(item["headers"]["X-Statuspage-Event"] for item in receiver.received) == ["component", "incident"]
    for bad_id in bad_ids:
        recorded = client.get(f"/api/v1/subscribers/{bad_id}/deliveries", headers=tokens["viewer"]).json()
        assert [(d["state"], d["attempts"]) for d in recorded] == [("pending", 1), ("pending", 1)]
        assert all(d["last_error"].startswith("InvalidURL") for d in recorded)
    for _ in range(3):
        clock.advance(seconds=1)
        deliver(client)
    assert len(receiver.received) == 2  # the good subscriber heard each notice once


def test_an_incident_name_with_a_line_break_cannot_add_a_mail_header(mail_client, mail_sink) -> None:
    from statuspage.incidents import operations

    client = mail_client
    client.post("/subscriptions", data={"email": "anna@accountants.example"})
    deliver(client)
    client.get(link_in(mail_sink.messages[0], "/subscriptions/confirm"))
    state = client.app.state
    client.blocking_portal.call(state.store.write, lambda db: operations.open_incident(
        db, state.settings, Actor("op"), state.clock(), **{**INCIDENT, "name": "Outage\r\nBcc: victim@example.com"}))
    deliver(client)
    notice = mail_sink.messages[-1]
    assert notice["Subject"] == "[Test status] Outage Bcc: victim@example.com: identified"
    assert notice["Bcc"] is None


# ---------------------------------------------------------------------------------------------
# Order per subscriber (issue 11, fault 9): a retried notice never overtakes a newer one about the same
# incident or component; the older one is dropped, since the newer carries the whole current state.


def test_a_retried_notice_is_dropped_once_a_newer_one_about_the_same_incident_exists(client, tokens, receiver,
                                                                                    clock) -> None:
    hook = add_webhook(client, tokens, receiver.url)
    receiver.answers = [503]
    opened = client.post("/api/v1/incidents", headers=tokens["operator"],
                         json={**INCIDENT, "status": "investigating", "components": {}}).json()
    deliver(client)
    clock.advance(seconds=10)
    client.post(f"/api/v1/incidents/{opened['id']}/updates", headers=tokens["operator"],
                json={"status": "resolved", "message": "Fixed."})
    deliver(client)
    clock.advance(seconds=30)  # the investigating notice's retry is due now
    deliver(client)
    clock.advance(hours=2)
    deliver(client)

    statuses = [body["incident"]["status"] for body in receiver.bodies()]
    assert statuses == ["investigating", "resolved"]  # the 503, then the newer state, and nothing after it
    deliveries = client.get(f"/api/v1/subscribers/{hook['id']}/deliveries", headers=tokens["viewer"]).json()
    assert [(d["state"], d["attempts"], d["last_error"]) for d in deliveries] == [
        ("delivered", 1, None), ("failed", 1, "superseded by a newer notice about the same subject")]
    [listed] = client.get("/api/v1/subscribers", headers=tokens["viewer"]).json()
    assert (listed["pending"], listed["failed"]) == (0, 0)  # a superseded notice is no failure


def test_notices_about_different_subjects_are_all_delivered(client, tokens, receiver, clock) -> None:
    add_webhook(client, tokens, receiver.url)
    receiver.answers = [503, 503]
    client.post("/api/v1/incidents", headers=tokens["operator"], json=INCIDENT)  # an incident and a component
    deliver(client)
    client.post("/api/v1/incidents", headers=tokens["operator"], json={**INCIDENT, "name": "Other", "components": {}})
    clock.advance(seconds=30)
    deliver(client)
    events = sorted(item["headers"]["X-Statuspage-Event"] for item in receiver.received[2:])
    assert events == ["component", "incident", "incident"]


# ---------------------------------------------------------------------------------------------
# Webhooks and callbacks into the service's own network (issue 11, fault 12)


@pytest.fixture
def guarded_client(tmp_path, clock, seed):
    """An app with the default: no webhook or callback targets on internal addresses."""
    from conftest import TEST_CONFIG
    from litestar.testing import TestClient

    from statuspage.app import create_app
    from statuspage.config import load_settings

    path = tmp_path / "guarded.toml"
    path.write_text(TEST_CONFIG.replace("allow_private_targets = true", ""))
    settings = load_settings(path, environ={"STATUSPAGE_DB": seed.settings.database.path})
    assert settings.notifications.allow_private_targets is False
    with TestClient(create_app(settings, clock=clock), base_url=settings.page.url) as client:
        yield client


@pytest.mark.parametrize(("url", "kind"), [
    ("http://127.0.0.1:8080/hook", "127.0.0.1, a loopback"),
    ("http://[::1]/hook", "::1, a loopback"),
    ("http://0.0.0.0/hook", "0.0.0.0, a unspecified"),
    ("http://2130706433/hook", "127.0.0.1, a loopback"),
    ("http://10.1.2.3/hook", "10.1.2.3, a private"),
    ("http://169.254.169.254/latest/meta-data", "169.254.169.254, a link-local"),
    ("http://[::ffff:192.168.1.1]/hook", "192.168.1.1, a private"),
    ("http://localhost:9000/hook", "this machine (localhost)"),
])
def test_a_target_inside_the_services_network_is_refused_unless_allowed(guarded_client, seed, url, kind) -> None:
    from conftest import TOKENS

    from statuspage.incidents import operations

    for role in ("operator", "client"):
        seed(lambda db, role=role: operations.create_token(db, seed.settings, Actor("t"), seed.clock(),
                                                            f"{role}-person", role, TOKENS[role]))
    operator, client = ({"Authorization": f"Bearer {TOKENS[role]}"} for role in ("operator", "client"))
    webhook = guarded_client.post("/api/v1/subscribers", headers=operator, json={"url": url})
    assert webhook.status_code == 400 and kind in webhook.json()["detail"]
    callback = guarded_client.put("/api/v1/actions/callback", headers=client, json={"url": url})
    assert callback.status_code == 400 and kind in callback.json()["detail"]


def test_a_name_that_resolves_inside_is_refused_when_it_is_sent(guarded_client, seed, receiver) -> None:
    from statuspage.core import storage

    # A name stored before the check at saving existed (or pointed inside after it was saved).
    url = receiver.url.replace("127.0.0.1", "localhost")
    subscriber = seed(lambda db: storage.insert_subscriber(db, kind="webhook", address=url, secret="s",
                                                           components=None, now=seed.clock(), confirmed=True))
    state = guarded_client.app.state
    guarded_client.blocking_portal.call(state.store.write, lambda db: storage.enqueue_delivery(
        db, subscriber, "incident", "{}", state.clock()))
    assert deliver(guarded_client) == 1
    assert receiver.received == []
    [delivery] = guarded_client.blocking_portal.call(state.store.read, storage.deliveries_of, subscriber)
    assert delivery["last_error"].startswith("refused: localhost resolves to ")
    assert delivery["last_error"].endswith("a loopback address") and delivery["last_status"] is None


# ---------------------------------------------------------------------------------------------
# Smaller exposures (issue 11, fault 13)


def test_one_client_gets_a_few_subscriptions_an_hour_not_a_mailing_list(mail_client, mail_sink, clock) -> None:
    answers = [mail_client.post("/subscriptions", data={"email": f"person{n}@accountants.example"},
                                headers={"Accept-Language": "en", "X-Forwarded-For": f"198.51.100.{n}"})
               for n in range(30)]
    assert [a.status_code for a in answers] == [200] * 5 + [429] * 25  # a forged X-Forwarded-For changes nothing
    assert answers[5].headers["retry-after"] == "3600"
    assert "Too many subscriptions from your address; try again in 60 minutes." in answers[5].text
    deliver(mail_client)
    assert len(mail_sink.messages) == 5
    clock.advance(hours=1)
    assert mail_client.post("/subscriptions", data={"email": "later@accountants.example"}).status_code == 200


def test_credentials_in_webhook_urls_are_masked_for_everyone_but_admins(client, tokens) -> None:
    url = "https://hooks:s3cret@hooks.example.com/statuspage?token=abc123&channel=ops"
    add_webhook(client, tokens, url)
    shown = "https://***@hooks.example.com/statuspage?token=***&channel=***"
    for role in ("viewer", "operator"):
        [subscriber] = client.get("/api/v1/subscribers", headers=tokens[role]).json()
        assert subscriber["address"] == shown
        audit = client.get("/api/v1/audit", headers=tokens[role]).text
        assert "s3cret" not in audit and "abc123" not in audit and shown in audit
    [subscriber] = client.get("/api/v1/subscribers", headers=tokens["admin"]).json()
    assert subscriber["address"] == url
    assert url in client.get("/api/v1/audit", headers=tokens["admin"]).text

    from conftest import TOKENS
    from page_helpers import sign_in

    sign_in(client, TOKENS["viewer"])
    for page in ("/console/subscribers", "/console/audit"):
        text = client.get(page).text
        assert "s3cret" not in text and "abc123" not in text and "hooks.example.com" in text


def test_a_successful_sign_in_does_not_wipe_the_failed_ones(client, tokens) -> None:
    from conftest import TOKENS
    from page_helpers import sign_in

    for _ in range(4):
        assert sign_in(client, "sp_guess").status_code == 401
    assert sign_in(client, TOKENS["viewer"]).status_code == 302  # a valid low-privilege token
    assert sign_in(client, "sp_guess").status_code == 401
    assert sign_in(client, TOKENS["admin"]).status_code == 429  # still five failures within the window


def test_the_client_address_comes_from_x_forwarded_for_only_behind_a_configured_proxy() -> None:
    from statuspage.core.addresses import client_address

    proxies = ["10.0.0.0/8"]
    assert client_address("10.0.0.5", "203.0.113.7", proxies) == "203.0.113.7"
    assert client_address("10.0.0.5", "198.51.100.1, 203.0.113.7, 10.0.0.9", proxies) == "203.0.113.7"
    assert client_address("203.0.113.7", "198.51.100.1", proxies) == "203.0.113.7"  # not a proxy: ignored
    assert client_address("10.0.0.5", "198.51.100.1", []) == "10.0.0.5"  # no proxies configured
    assert client_address("10.0.0.5", "not-an-address", proxies) == "10.0.0.5"
    assert client_address(None, "198.51.100.1", proxies) == "unknown"
