"""The public documents are rebuilt only when something they show changed (issue 11, fault 14)."""

from conftest import notice_writes

from statuspage.core import storage


def test_writes_the_page_does_not_show_leave_its_snapshot_alone(client, tokens, seed, clock) -> None:
    pages = client.app.state.pages
    summary = client.get("/api/v2/summary.json")
    before = client.blocking_portal.call(pages.snapshot)

    # What a replay writes: actions and their transitions, audit entries, deliveries; from this process and
    # from another one.
    def outbox_work(db):
        for n in range(20):
            action_id = storage.insert_action(db, storage.NewAction(
                client="client-person", idempotency_key=f"K-{n}", fingerprint="f",
                integration="exact-online", environment="env", administration="101", kind="book",
                payload="{}", state="queued"), clock(), "received")
            storage.move_action(db, action_id, expected="queued", to="running", now=clock(), cause="sent")
        storage.append_audit(db, at=clock(), actor="x", action="action.cancel", subject_type="action",
                             subject_id="1")

    client.blocking_portal.call(client.app.state.store.write, outbox_work)
    seed(lambda db: storage.append_audit(db, at=clock(), actor="cli", action="x", subject_type="t", subject_id="2"))
    notice_writes(client)
    assert client.blocking_portal.call(pages.snapshot) is before
    again = client.get("/api/v2/summary.json", headers={"If-None-Match": summary.headers["etag"]})
    assert again.status_code == 304

    # What the page does show: an override.
    client.put("/api/v1/components/login/override", headers=tokens["operator"],
               json={"status": "major_outage", "reason": "down"})
    after = client.blocking_portal.call(pages.snapshot)
    assert after is not before
    assert {c["id"]: c["status"] for c in client.get("/api/v2/summary.json").json()["components"]}["login"] == (
        "major_outage")


def test_a_change_by_another_process_that_the_page_shows_reaches_it(client, seed, clock) -> None:
    pages = client.app.state.pages
    before = client.blocking_portal.call(pages.snapshot)
    seed(storage.set_override, "twinfield", "partial_outage", "slow", "op", clock(), None)
    notice_writes(client)
    assert client.blocking_portal.call(pages.snapshot) is not before
    statuses = {c["id"]: c["status"] for c in client.get("/api/v2/components.json").json()["components"]}
    assert statuses["twinfield"] == "partial_outage"
