"""Every error shape Exact Online answers with, parsed into the exception that says what to do about it."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from exact_online_helpers import (  # noqa: F401 (fixtures)
    MONDAY_MORNING,
    FakeTime,
    anyio_backend_fixture,
    connected,
    connector_for,
    control,
    exchanges,
    fake_time_fixture,
    invoice,
    ledger,
    sandbox_fixture,
)

from integrations.base import (
    AuthorizationError,
    InvalidAction,
    NoAccess,
    RateLimited,
    RemoteError,
    TransientError,
)
from integrations.exact_online import InMemoryTokenStore
from integrations.exact_online.connector import PURCHASE_ENTRIES
from integrations.exact_online.responses import error_from_response
from integrations.exact_online.sandbox import ExactOnlineSandbox

pytestmark = pytest.mark.anyio


def exact_error(status: int, message: str = "", reason: str | None = None, **headers: str) -> httpx.Response:
    body = {"error": {"code": "", "message": {"lang": "nl-NL", "value": message}}}
    return httpx.Response(status, json=body, headers={**({"Reason": reason} if reason else {}), **headers})


@pytest.mark.parametrize(("response", "kind", "fields"), [
    pytest.param(exact_error(403, "Geen toegang", "NoDivisionAccess"), NoAccess,
                 {"remote_reason": "NoDivisionAccess", "administration": "203"}, id="403-NoDivisionAccess"),
    pytest.param(exact_error(403, "Geblokkeerd", "DivisionBlocked"), NoAccess,
                 {"remote_reason": "DivisionBlocked"}, id="403-DivisionBlocked"),
    *(pytest.param(exact_error(403, "", reason), AuthorizationError, {"reason": reason}, id=f"403-{reason}")
      for reason in ("BlockedUser", "InactiveUser", "BlockedCustomer", "LicenseExpired")),
    pytest.param(httpx.Response(401, text="<html>Unauthorized</html>"), AuthorizationError, {"reason": None},
                 id="401-html"),
    pytest.param(exact_error(429, "Too many", **{"Retry-After": "120"}), RateLimited,
                 {"retry_at": MONDAY_MORNING + timedelta(seconds=120)}, id="429-retry-after"),
    pytest.param(httpx.Response(503, text="<html>busy</html>"), TransientError, {}, id="503-html"),
    pytest.param(exact_error(400, "Verplicht: Dagboek"), RemoteError,
                 {"status": 400, "code": "", "message": "Verplicht: Dagboek", "reason": None}, id="400-error-body"),
    pytest.param(exact_error(403, "Forbidden"), RemoteError, {"status": 403, "reason": None},
                 id="403-without-reason"),
])
def test_each_error_answer_becomes_the_exception_that_says_what_to_do(response, kind, fields) -> None:
    error = error_from_response(response, "203", MONDAY_MORNING)
    assert type(error) is kind
    assert {name: getattr(error, name) for name in fields} == fields


@pytest.mark.parametrize(("control_path", "change", "kind", "reason"), [
    ("divisions/201", {"status": "blocked"}, NoAccess, "DivisionBlocked"),
    ("divisions/201", {"status": "customer_blocked"}, AuthorizationError, "BlockedCustomer"),
    ("divisions/201", {"status": "license_expired"}, AuthorizationError, "LicenseExpired"),
    ("users/p.jansen", {"status": "blocked"}, AuthorizationError, "BlockedUser"),
    ("users/p.jansen", {"status": "inactive"}, AuthorizationError, "InactiveUser"),
    ("users/p.jansen", {"divisions": [202]}, NoAccess, "NoDivisionAccess"),
])
async def test_the_sandbox_refuses_with_each_reason_and_the_connector_keeps_it(
    sandbox: ExactOnlineSandbox, fake_time: FakeTime, control_path: str, change: dict, kind: type, reason: str
) -> None:
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        control(sandbox, control_path, change)
        with pytest.raises(kind) as refused:
            await exact.execute(invoice("inv-1", "201"))
    assert getattr(refused.value, "remote_reason" if kind is NoAccess else "reason") == reason
    assert ledger(sandbox) == []


async def test_a_refused_body_keeps_exacts_message(sandbox: ExactOnlineSandbox, fake_time: FakeTime) -> None:
    action = invoice("inv-1", "201")
    action.payload["journal"] = "INK"
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        with pytest.raises(RemoteError) as refused:
            await exact.execute(action)
    assert (refused.value.status, refused.value.message) == (400, "Journal 'INK' does not exist.")


async def test_a_missing_post_right_is_a_plain_403_without_reason(sandbox: ExactOnlineSandbox,
                                                                  fake_time: FakeTime) -> None:
    control(sandbox, "users/p.jansen", {"denied_rights": [[PURCHASE_ENTRIES, "POST"]]})
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        with pytest.raises(RemoteError) as refused:
            await exact.execute(invoice("inv-1", "201"))
    assert (refused.value.status, refused.value.reason, refused.value.message) == (403, None, "Forbidden.")


async def test_a_401_that_a_refresh_cannot_cure_needs_a_reconnect(sandbox: ExactOnlineSandbox,
                                                                  fake_time: FakeTime) -> None:
    store = InMemoryTokenStore()
    async with await connected(sandbox, fake_time, "p.jansen", store) as exact:
        # A second process holding a copy of the same tokens refreshes first, and spends the refresh token.
        async with connector_for(sandbox, fake_time, InMemoryTokenStore(store.tokens)) as other:
            control(sandbox, "faults", {"expire_access_tokens": True})
            await other.has_right("201", PURCHASE_ENTRIES, "POST")
        with pytest.raises(AuthorizationError) as refused:
            await exact.has_right("201", PURCHASE_ENTRIES, "POST")
    assert refused.value.reason == "invalid_grant"
    assert [(x["endpoint"], x["status"]) for x in exchanges(sandbox)[-2:]] == [
        ("users/UserHasRights", 401), ("oauth2/token", 400)]


async def test_server_errors_that_outlast_the_retries_are_transient(sandbox: ExactOnlineSandbox,
                                                                    fake_time: FakeTime) -> None:
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        control(sandbox, "faults", {"fail_next": 4})
        with pytest.raises(TransientError, match="HTTP 503"):
            await exact.accessible_administrations()


async def test_health_says_who_is_signed_in_or_why_not(sandbox: ExactOnlineSandbox, fake_time: FakeTime) -> None:
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        healthy = await exact.check_health()
        control(sandbox, "users/p.jansen", {"status": "blocked"})
        blocked = await exact.check_health()
    assert healthy.ok and healthy.detail == "signed in as Petra Jansen (p.jansen), current administration 201"
    assert healthy.latency_ms > 0
    assert not blocked.ok and blocked.detail.startswith("BlockedUser: ")


async def test_a_malformed_action_is_refused_before_anything_is_sent(sandbox: ExactOnlineSandbox,
                                                                     fake_time: FakeTime) -> None:
    no_lines = invoice("inv-1", "201")
    del no_lines.payload["lines"]
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        with pytest.raises(InvalidAction, match="lines"):
            await exact.execute(no_lines)
        with pytest.raises(InvalidAction, match="not an Exact Online division"):
            await exact.execute(invoice("inv-2", "201/../202"))
    assert ledger(sandbox) == []
