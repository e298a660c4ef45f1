"""Exact Online's token rules, kept: refresh when due and only then, once for all callers, stored before use."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from exact_online_helpers import (  # noqa: F401 (fixtures)
    MONDAY_MORNING,
    REDIRECT_URI,
    FakeTime,
    RecordingTokenStore,
    anyio_backend_fixture,
    authorization_code,
    connected,
    connector_for,
    control,
    exchanges,
    fake_time_fixture,
    refreshes,
    sandbox_fixture,
)

from integrations.base import AuthorizationError, RateLimited
from integrations.exact_online import InMemoryTokenStore, OAuthApp, Tokens, authorization_url
from integrations.exact_online.connector import PURCHASE_ENTRIES
from integrations.exact_online.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, ExactOnlineSandbox
from integrations.exact_online.tokens import refresh_due_at

pytestmark = pytest.mark.anyio


def test_the_authorization_url_asks_exact_for_a_code_and_carries_the_state() -> None:
    url = urlsplit(authorization_url("app-1", "https://status.example.test/cb?env=7", "s t"))
    assert (url.scheme, url.netloc, url.path) == ("https", "start.exactonline.nl", "/api/oauth2/auth")
    assert parse_qs(url.query) == {"client_id": ["app-1"], "redirect_uri": ["https://status.example.test/cb?env=7"],
                                   "response_type": ["code"], "state": ["s t"]}


async def test_connecting_runs_the_connection_under_whoever_authorized(sandbox: ExactOnlineSandbox,
                                                                       fake_time: FakeTime) -> None:
    store = RecordingTokenStore()
    async with await connected(sandbox, fake_time, "p.jansen", store) as exact:
        user = await exact.connection_user()
    assert (user.user_name, user.full_name, user.current_administration) == ("p.jansen", "Petra Jansen", "201")
    [tokens] = store.saved
    assert tokens.issued_at == fake_time()
    assert tokens.expires_at - tokens.issued_at == timedelta(seconds=600)
    assert refresh_due_at(tokens) - tokens.issued_at == timedelta(seconds=570)


def test_secrets_never_show_in_reprs() -> None:
    tokens = Tokens(access_token="AT-secret", refresh_token="RT-secret", issued_at=FakeTime()(),
                    expires_at=FakeTime()())
    app = OAuthApp(client_id="app-1", client_secret="CS-secret", redirect_uri=REDIRECT_URI)
    shown = " ".join([repr(tokens), str(tokens), f"{tokens}", repr(app), str(app), repr([tokens, app])])
    assert "-secret" not in shown
    assert "app-1" in shown and tokens.issued_at.isoformat() in shown


async def test_no_refresh_is_attempted_before_570_seconds(sandbox: ExactOnlineSandbox, fake_time: FakeTime) -> None:
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        fake_time.advance(569)
        assert await exact.has_right("201", PURCHASE_ENTRIES, "POST")
        assert refreshes(sandbox) == 0
        fake_time.advance(1)
        assert await exact.has_right("201", PURCHASE_ENTRIES, "POST")
        assert refreshes(sandbox) == 1
    assert [x["status"] for x in exchanges(sandbox, "oauth2/token")] == [200, 200]


async def test_two_concurrent_callers_share_one_refresh(sandbox: ExactOnlineSandbox, fake_time: FakeTime) -> None:
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        fake_time.advance(600)
        # Different divisions, so nothing but the token lock keeps the two apart.
        answers = await asyncio.gather(exact.has_right("201", PURCHASE_ENTRIES, "POST"),
                                       exact.has_right("202", PURCHASE_ENTRIES, "POST"))
    assert answers == [True, True]
    assert refreshes(sandbox) == 1
    assert control(sandbox, "traffic")["errors"] == []


async def test_the_rotated_tokens_are_stored_before_they_are_used(sandbox: ExactOnlineSandbox,
                                                                  fake_time: FakeTime) -> None:
    def uses(tokens: Tokens) -> int:
        """How many API calls the sandbox has seen with this access token."""
        grant = sandbox.state.authority.resolve(tokens.access_token)
        assert grant is not None
        return grant.uses

    uses_when_saved: list[int] = []
    store = RecordingTokenStore(on_save=lambda tokens: uses_when_saved.append(uses(tokens)))
    async with await connected(sandbox, fake_time, "p.jansen", store) as exact:
        fake_time.advance(580)
        await exact.has_right("201", PURCHASE_ENTRIES, "POST")
    first, rotated = store.saved
    assert rotated.refresh_token != first.refresh_token
    assert uses_when_saved == [0, 0]
    assert uses(rotated) == 1


async def test_tokens_that_could_not_be_stored_are_stored_before_their_first_use(sandbox: ExactOnlineSandbox,
                                                                                 fake_time: FakeTime) -> None:
    failures = [OSError("disk full")]

    def fail_once(tokens: Tokens) -> None:
        if failures and tokens.issued_at > MONDAY_MORNING:
            raise failures.pop()

    store = RecordingTokenStore(on_save=fail_once)
    async with await connected(sandbox, fake_time, "p.jansen", store) as exact:
        fake_time.advance(580)
        with pytest.raises(OSError):
            await exact.has_right("201", PURCHASE_ENTRIES, "POST")
        assert await exact.has_right("201", PURCHASE_ENTRIES, "POST")
    assert refreshes(sandbox) == 1  # the pair Exact handed out was kept, not asked for again
    assert [tokens.issued_at for tokens in store.saved] == [MONDAY_MORNING, fake_time()]


async def test_the_sandbox_refuses_an_early_refresh_and_an_old_refresh_token(sandbox: ExactOnlineSandbox,
                                                                             fake_time: FakeTime) -> None:
    client = {"client_id": SANDBOX_CLIENT_ID, "client_secret": SANDBOX_CLIENT_SECRET}
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        first = (await http.post("/api/oauth2/token", data={
            **client, "grant_type": "authorization_code", "redirect_uri": REDIRECT_URI,
            "code": authorization_code(sandbox, "m.groen")})).json()
        assert first["expires_in"] == "600"

        def refresh(token: str):
            return http.post("/api/oauth2/token",
                             data={**client, "grant_type": "refresh_token", "refresh_token": token})

        early = await refresh(first["refresh_token"])
        assert (early.status_code, early.json()["error_description"]) == (401, "Access token not expired.")
        fake_time.advance(570)
        second = await refresh(first["refresh_token"])
        assert second.status_code == 200 and second.json()["refresh_token"] != first["refresh_token"]
        old = await refresh(first["refresh_token"])
        assert (old.status_code, old.json()) == (400, {"error": "invalid_grant",
                                                       "error_description": "Old refresh token used."})


async def test_a_connection_holding_a_dead_refresh_token_must_be_reconnected(sandbox: ExactOnlineSandbox,
                                                                             fake_time: FakeTime) -> None:
    store = InMemoryTokenStore()
    async with await connected(sandbox, fake_time, "p.jansen", store) as exact:
        stale_copy = InMemoryTokenStore(store.tokens)  # e.g. a second process that read the store earlier
        fake_time.advance(580)
        await exact.has_right("201", PURCHASE_ENTRIES, "POST")
    async with connector_for(sandbox, fake_time, stale_copy) as stale:
        with pytest.raises(AuthorizationError) as refused:
            await stale.has_right("201", PURCHASE_ENTRIES, "POST")
    assert refused.value.reason == "invalid_grant"
    assert "Old refresh token used." in str(refused.value)


async def test_access_tokens_killed_early_are_replaced_by_one_refresh(sandbox: ExactOnlineSandbox,
                                                                      fake_time: FakeTime) -> None:
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        fake_time.advance(60)
        control(sandbox, "faults", {"expire_access_tokens": True})
        assert [a.code for a in await exact.accessible_administrations()] == ["201", "202"]
    assert refreshes(sandbox) == 1


async def test_the_daily_cap_on_token_calls_is_reported_as_rate_limited(sandbox: ExactOnlineSandbox,
                                                                        fake_time: FakeTime) -> None:
    control(sandbox, "faults", {"token_calls_per_day": 2})
    async with await connected(sandbox, fake_time, "p.jansen") as exact:
        fake_time.advance(580)
        await exact.has_right("201", PURCHASE_ENTRIES, "POST")
        fake_time.advance(580)
        with pytest.raises(RateLimited) as limited:
            await exact.has_right("201", PURCHASE_ENTRIES, "POST")
    assert limited.value.retry_at.isoformat() == "2026-11-24T00:00:00+00:00"
    assert [x["status"] for x in exchanges(sandbox, "oauth2/token")] == [200, 200, 429]
