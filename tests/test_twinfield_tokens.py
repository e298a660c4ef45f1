"""Twinfield's sign-in kept alive: refreshed before expiry and only then, once for all callers, stored before use,
rotated refresh tokens never spent twice, and the cluster taken from each token's validation."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from twinfield_helpers import (  # noqa: F401 (fixtures)
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
    invoice,
    ledger,
    refreshes,
    sandbox_fixture,
)

from integrations.base import AuthorizationError
from integrations.twinfield import InMemoryTokenStore, OAuthApp, Session, Tokens, authorization_url
from integrations.twinfield.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, TwinfieldSandbox

pytestmark = pytest.mark.anyio


def test_the_authorization_url_asks_for_a_code_with_twinfields_scopes_a_nonce_and_the_state() -> None:
    url = urlsplit(authorization_url("app-1", "https://status.example.test/cb?env=7", "s t", nonce="n-42"))
    assert (url.scheme, url.netloc, url.path) == ("https", "login.twinfield.com",
                                                  "/auth/authentication/connect/authorize")
    assert parse_qs(url.query) == {
        "client_id": ["app-1"], "redirect_uri": ["https://status.example.test/cb?env=7"], "response_type": ["code"],
        "scope": ["openid twf.user twf.organisation twf.organisationUser offline_access"], "state": ["s t"],
        "nonce": ["n-42"]}


async def test_connecting_runs_the_connection_under_whoever_authorized(sandbox: TwinfieldSandbox,
                                                                       fake_time: FakeTime) -> None:
    store = RecordingTokenStore()
    async with connector_for(sandbox, fake_time, store) as twinfield:
        user = await twinfield.connect(authorization_code(sandbox, "PJANSEN"))
    petra = sandbox.state.users["PJANSEN"]
    assert (user.user_id, user.user_name, user.full_name, user.current_administration) == (
        petra.subject, "PJANSEN", "Petra Jansen", "NLA201")
    [tokens] = store.saved
    assert (tokens.issued_at, tokens.expires_at - tokens.issued_at) == (MONDAY_MORNING, timedelta(hours=1))
    assert [x["status"] for x in exchanges(sandbox, "validation")] == [200]


def test_secrets_never_show_in_reprs() -> None:
    tokens = Tokens(access_token="AT-secret", refresh_token="RT-secret", issued_at=MONDAY_MORNING,
                    expires_at=MONDAY_MORNING)
    app = OAuthApp(client_id="app-1", client_secret="CS-secret", redirect_uri=REDIRECT_URI)
    session = Session(access_token="AT-secret", cluster_url="https://accounting.twinfield.com", organisation_id="o",
                      organisation_code="JANSEN", user_code="PJANSEN", subject="s")
    shown = " ".join([repr(tokens), str(tokens), repr(app), str(app), repr(session), repr([tokens, app, session])])
    assert "-secret" not in shown
    assert "app-1" in shown and "accounting.twinfield.com" in shown


async def test_the_access_token_is_refreshed_a_minute_before_it_expires_and_not_sooner(
    sandbox: TwinfieldSandbox, fake_time: FakeTime
) -> None:
    async with await connected(sandbox, fake_time, "PJANSEN") as twinfield:
        fake_time.advance(3539)
        await twinfield.accessible_administrations()
        assert refreshes(sandbox) == 0
        fake_time.advance(1)
        await twinfield.accessible_administrations()
        assert refreshes(sandbox) == 1
    # The new token was validated before its first use: the cluster could have moved.
    assert [x["status"] for x in exchanges(sandbox, "validation")] == [200, 200]


async def test_two_concurrent_callers_share_one_refresh(sandbox: TwinfieldSandbox, fake_time: FakeTime) -> None:
    async with await connected(sandbox, fake_time, "PJANSEN", concurrency_per_organisation=2) as twinfield:
        fake_time.advance(3600)
        answers = await asyncio.gather(twinfield.dimensions("NLA201", "KPL"), twinfield.dimensions("NLA202", "KPL"),
                                       twinfield.accessible_administrations())
    assert [len(answer) for answer in answers] == [5, 5, 2]
    traffic = control(sandbox, "traffic")
    assert (traffic["refreshes"], traffic["reused_refresh_tokens"]) == (1, 0)


async def test_the_rotated_tokens_are_stored_before_they_are_used(sandbox: TwinfieldSandbox,
                                                                  fake_time: FakeTime) -> None:
    def uses(tokens: Tokens) -> int:
        """How many web-service calls the sandbox has seen with this access token."""
        grant = sandbox.state.authority.resolve(tokens.access_token)
        assert grant is not None
        return grant.uses

    uses_when_saved: list[int] = []
    store = RecordingTokenStore(on_save=lambda tokens: uses_when_saved.append(uses(tokens)))
    async with await connected(sandbox, fake_time, "PJANSEN", store) as twinfield:
        fake_time.advance(3590)
        await twinfield.accessible_administrations()
    first, rotated = store.saved
    assert rotated.refresh_token != first.refresh_token
    assert uses_when_saved == [0, 0]
    assert uses(rotated) == 1


async def test_tokens_that_could_not_be_stored_are_stored_before_their_first_use(sandbox: TwinfieldSandbox,
                                                                                 fake_time: FakeTime) -> None:
    failures = [OSError("disk full")]

    def fail_once(tokens: Tokens) -> None:
        if failures and tokens.issued_at > MONDAY_MORNING:
            raise failures.pop()

    store = RecordingTokenStore(on_save=fail_once)
    async with await connected(sandbox, fake_time, "PJANSEN", store) as twinfield:
        fake_time.advance(3590)
        with pytest.raises(OSError):
            await twinfield.accessible_administrations()
        assert len(await twinfield.accessible_administrations()) == 2
    assert refreshes(sandbox) == 1  # the pair Twinfield handed out was kept, not asked for again
    assert [tokens.issued_at for tokens in store.saved] == [MONDAY_MORNING, fake_time()]


async def test_the_sandbox_rotates_refresh_tokens_and_refuses_one_used_twice(sandbox: TwinfieldSandbox,
                                                                             fake_time: FakeTime) -> None:
    client = httpx.BasicAuth(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET)
    async with httpx.AsyncClient(base_url=sandbox.url, auth=client) as http:
        first = (await http.post("/auth/authentication/connect/token", data={
            "grant_type": "authorization_code", "redirect_uri": REDIRECT_URI,
            "code": authorization_code(sandbox, "MGROEN")})).json()
        assert first["expires_in"] == 3600

        def refresh(token: str):
            return http.post("/auth/authentication/connect/token",
                             data={"grant_type": "refresh_token", "refresh_token": token})

        second = await refresh(first["refresh_token"])
        assert second.status_code == 200 and second.json()["refresh_token"] != first["refresh_token"]
        old = await refresh(first["refresh_token"])
        assert (old.status_code, old.json()) == (400, {"error": "invalid_grant",
                                                       "error_description": "Refresh token already used."})
        checked = await http.get("/auth/authentication/connect/accesstokenvalidation",
                                 params={"token": second.json()["access_token"]})
    groen = sandbox.state.organisations["GROEN"]
    assert checked.json()["twf.clusterUrl"] == f"{sandbox.url}/clusters/eu1"
    assert checked.json()["twf.organisationId"] == groen.organisation_id
    assert control(sandbox, "traffic")["reused_refresh_tokens"] == 1


async def test_a_connection_holding_a_dead_refresh_token_must_be_reconnected(sandbox: TwinfieldSandbox,
                                                                             fake_time: FakeTime) -> None:
    store = InMemoryTokenStore()
    async with await connected(sandbox, fake_time, "PJANSEN", store) as twinfield:
        stale_copy = InMemoryTokenStore(store.tokens)  # e.g. a second process that read the store earlier
        fake_time.advance(3590)
        await twinfield.accessible_administrations()
    async with connector_for(sandbox, fake_time, stale_copy) as stale:
        with pytest.raises(AuthorizationError) as refused:
            await stale.accessible_administrations()
    assert refused.value.reason == "invalid_grant"
    assert "Refresh token already used." in str(refused.value)


async def test_access_tokens_killed_early_are_replaced_by_one_refresh(sandbox: TwinfieldSandbox,
                                                                      fake_time: FakeTime) -> None:
    async with await connected(sandbox, fake_time, "PJANSEN") as twinfield:
        await twinfield.accessible_administrations()  # validated and in use
        fake_time.advance(60)
        control(sandbox, "faults", {"expire_access_tokens": True})
        booked = await twinfield.execute(invoice("inv-1", "NLA201"))
    assert booked.administration == "NLA201"
    assert [e["invoice_number"] for e in ledger(sandbox)] == ["inv-1"]
    assert [(x["operation"], x["status"]) for x in exchanges(sandbox, "ProcessXml")] == [
        ("transaction", 401), ("transaction", 200)]
    traffic = control(sandbox, "traffic")
    assert (traffic["refreshes"], traffic["reused_refresh_tokens"]) == (1, 0)


async def test_a_token_issued_for_less_time_is_refreshed_before_it_runs_out(sandbox: TwinfieldSandbox,
                                                                            fake_time: FakeTime) -> None:
    control(sandbox, "faults", {"access_token_seconds": 300})
    async with await connected(sandbox, fake_time, "PJANSEN") as twinfield:
        for _ in range(4):
            fake_time.advance(120)
            await twinfield.accessible_administrations()
    # Refreshed at 240 s (a minute before 300) and at 480 s; never a 401.
    assert refreshes(sandbox) == 2
    assert "401" not in control(sandbox, "traffic")["statuses"]


async def test_a_401_that_a_refresh_cannot_cure_needs_a_reconnect(sandbox: TwinfieldSandbox,
                                                                  fake_time: FakeTime) -> None:
    store = InMemoryTokenStore()
    async with await connected(sandbox, fake_time, "PJANSEN", store) as twinfield:
        await twinfield.accessible_administrations()
        # A second process holding a copy of the same tokens refreshes first, and spends the refresh token.
        async with connector_for(sandbox, fake_time, InMemoryTokenStore(store.tokens)) as other:
            control(sandbox, "faults", {"expire_access_tokens": True})
            await other.accessible_administrations()
        with pytest.raises(AuthorizationError) as refused:
            await twinfield.accessible_administrations()
    assert refused.value.reason == "invalid_grant"
