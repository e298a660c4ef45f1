"""The invoice product's action callback is no subscriber of the status page: an operator finds it on the Connections
page and under GET /api/v1/actions/callbacks, not among the subscribers, and cannot remove it as one (that would
silently stop the product hearing of its actions). Over the API and the console, on the real SQLite file."""

from __future__ import annotations

from conftest import TOKENS
from page_helpers import csrf_of, sign_in

CALLBACK = "http://127.0.0.1:18099/cb"


def register(client, tokens) -> None:
    answer = client.put("/api/v1/actions/callback", headers=tokens["client"], json={"url": CALLBACK})
    assert answer.status_code == 200, answer.text


def test_a_callback_is_listed_with_the_actions_not_with_the_subscribers(client, tokens) -> None:
    register(client, tokens)
    webhook = client.post("/api/v1/subscribers", headers=tokens["operator"],
                          json={"url": "http://127.0.0.1:18098/hook"}).json()
    assert [s["id"] for s in client.get("/api/v1/subscribers", headers=tokens["admin"]).json()] == [webhook["id"]]
    [callback] = client.get("/api/v1/actions/callbacks", headers=tokens["admin"]).json()
    assert (callback["client"], callback["url"], callback["pending"], callback["failed"]) == (
        "client-person", CALLBACK, 0, 0)
    assert client.get("/api/v1/actions/callbacks", headers=tokens["client"]).status_code == 403

    sign_in(client, TOKENS["operator"])
    subscribers = client.get("/console/subscribers").text
    assert CALLBACK not in subscribers and "http://127.0.0.1:18098/hook" in subscribers
    connections = client.get("/console/connections").text
    row = connections.split(f'data-callback="{callback["id"]}"')[1].split("</tr>")[0]
    assert "client-person" in row and CALLBACK in row
    assert "Remove" not in row


def test_a_callback_cannot_be_removed_as_a_subscriber(client, tokens) -> None:
    register(client, tokens)
    [callback] = client.get("/api/v1/actions/callbacks", headers=tokens["viewer"]).json()
    refused = client.delete(f"/api/v1/subscribers/{callback['id']}", headers=tokens["operator"])
    assert refused.status_code == 409
    assert "action callback of the client 'client-person', not a subscriber" in refused.json()["detail"]
    sign_in(client, TOKENS["operator"])
    page = client.get("/console/subscribers").text
    answer = client.post(f"/console/subscribers/{callback['id']}/remove", data={"_csrf_token": csrf_of(page)})
    assert "not a subscriber" in answer.text
    # Still in force: the product keeps hearing of its actions.
    assert [c["id"] for c in client.get("/api/v1/actions/callbacks", headers=tokens["viewer"]).json()] == [callback["id"]]
