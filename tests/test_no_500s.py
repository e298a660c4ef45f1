"""Requests that used to answer 500 answer 400, 401, 404 or 409 with a clear message, and a 500 that does
happen is logged with its traceback and tells the caller nothing of the inside (issue 11, fault 10)."""

import logging

import pytest

TOO_BIG = 2**63
DEEP = "[" * 5000 + "]" * 5000


@pytest.mark.parametrize(("path", "role"), [
    ("/api/v1/incidents", "operator"), ("/api/v1/maintenances", "operator"), ("/api/v1/subscribers", "operator"),
    ("/api/v1/tokens", "admin"), ("/api/v1/actions", "client"),
])
def test_json_nested_thousands_deep_is_a_400(client, tokens, path, role) -> None:
    response = client.post(path, headers={**tokens[role], "content-type": "application/json"}, content=DEEP)
    assert response.status_code == 400
    assert response.json()["detail"] == "the request body is nested too deeply to read"


@pytest.mark.parametrize(("method", "path", "role", "parameter"), [
    ("GET", f"/api/v1/actions/{TOO_BIG}", "operator", "action_id"),
    ("GET", f"/api/v1/actions/{TOO_BIG}/transitions", "operator", "action_id"),
    ("POST", f"/api/v1/actions/{TOO_BIG}/cancel", "operator", "action_id"),
    ("DELETE", f"/api/v1/subscribers/{TOO_BIG}", "operator", "subscriber_id"),
    ("GET", f"/api/v1/subscribers/{TOO_BIG}/deliveries", "viewer", "subscriber_id"),
    ("DELETE", f"/api/v1/tokens/{TOO_BIG}", "admin", "token_id"),
    ("GET", f"/api/v1/actions?after_id={TOO_BIG}", "client", "after_id"),
    ("GET", f"/api/v1/audit?before_id={TOO_BIG}", "viewer", "before_id"),
])
def test_ids_and_cursors_beyond_64_bits_are_a_400_naming_the_parameter(client, tokens, method, path, role, parameter):
    response = client.request(method, path, headers=tokens[role])
    assert response.status_code == 400
    [problem] = response.json()["extra"]
    assert problem["key"] == parameter and problem["message"] == "Expected `int` <= 9223372036854775807"


def test_the_largest_id_is_simply_not_found(client, tokens) -> None:
    assert client.get(f"/api/v1/actions/{TOO_BIG - 1}", headers=tokens["operator"]).status_code == 404


def test_options_needs_a_token_on_the_api_and_a_session_on_the_console(client, tokens) -> None:
    anonymous = client.options("/api/v1/tokens")
    assert anonymous.status_code == 401 and "Bearer" in anonymous.json()["detail"]
    allowed = client.options("/api/v1/tokens", headers=tokens["admin"])
    assert allowed.status_code == 204 and "POST" in allowed.headers["allow"]
    console = client.options("/console")
    assert console.status_code == 401
    assert "AuthMiddleware" not in console.text and "scope" not in console.text


def test_a_callback_url_another_client_uses_is_a_409(client, tokens, seed) -> None:
    from statuspage.core.operation import Actor
    from statuspage.incidents import operations

    seed(lambda db: operations.create_token(db, seed.settings, Actor("t"), seed.clock(), "other", "client", "sp_other"))
    url = {"url": "https://hooks.example.com/actions"}
    assert client.put("/api/v1/actions/callback", headers=tokens["client"], json=url).status_code == 200
    again = client.put("/api/v1/actions/callback", headers=tokens["client"], json=url)
    assert again.status_code == 200  # the same client may set it again
    clash = client.put("/api/v1/actions/callback", headers={"Authorization": "Bearer sp_other"}, json=url)
    assert clash.status_code == 409
    assert clash.json()["detail"] == ("https://hooks.example.com/actions already receives another subscriber's "
                                      "notices; use a URL of your own")


def test_an_unexpected_error_is_logged_with_its_traceback_and_hidden_from_the_caller(client, tokens, monkeypatch,
                                                                                     caplog) -> None:
    from statuspage.core import storage

    def broken(db):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(storage, "list_tokens", broken)
    with caplog.at_level(logging.ERROR, logger="statuspage"):
        response = client.get("/api/v1/tokens", headers=tokens["admin"])
    assert response.status_code == 500
    assert response.json() == {"status_code": 500, "detail": "Internal Server Error"}
    [record] = [r for r in caplog.records if r.name == "statuspage" and r.levelno == logging.ERROR]
    assert record.getMessage() == "GET /api/v1/tokens failed"
    assert record.exc_info is not None and "secret internal detail" in caplog.text and "Traceback" in caplog.text
