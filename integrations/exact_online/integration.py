"""Exact Online as the service sees it: one `Integration` for the registry, and the settings it reads.

Settings come from `[integrations.exact-online]` (the old `[exact_online]` table is read as the same); the client
secret only from `$STATUSPAGE_EXACT_CLIENT_SECRET`, never from a file. The sandbox is imported only when started.
"""

from __future__ import annotations

import random

import httpx

from integrations.exact_online.connector import DEFAULT_COMMIT_WINDOW, ExactOnlineConnector
from integrations.exact_online.oauth import AUTH_PATH, OAuthApp, authorization_url
from integrations.exact_online.rate_limits import KEY, RateLimits
from integrations.exact_online.sync import SYNC_ENTITIES, ExactOnlineMasterData
from integrations.master_data import ReadOptions
from integrations.registry import (
    AppRegistration,
    ConnectMethod,
    ConnectorContext,
    Integration,
    IntegrationSettings,
    MasterData,
    ProbeKind,
    SandboxDescription,
    SandboxPackage,
    sign_in_grant,
)
from integrations.tokens import SharedTokenStore

SECRET_VARIABLE = "STATUSPAGE_EXACT_CLIENT_SECRET"
SANDBOX_CLIENT_ID = "sandbox-client"
APP = AppRegistration(SECRET_VARIABLE, SANDBOX_CLIENT_ID, "sandbox-secret")  # the sandbox's one app (sandbox/scenario.py)


class ExactOnlineSettings(IntegrationSettings, kw_only=True, forbid_unknown_fields=True):
    """`[integrations.exact-online]`; left without `base_url`, the sandbox is started and used."""

    client_id: str = SANDBOX_CLIENT_ID
    """The app's client id at Exact Online (its App Center registration)."""
    commit_window_seconds: float = DEFAULT_COMMIT_WINDOW


def oauth_app(settings: ExactOnlineSettings, base_url: str, redirect_uri: str) -> OAuthApp:
    return OAuthApp(client_id=APP.client_id(settings), client_secret=APP.client_secret(settings),
                    redirect_uri=redirect_uri, base_url=base_url)


def make_connector(context: ConnectorContext) -> ExactOnlineConnector:
    settings: ExactOnlineSettings = context.settings
    return ExactOnlineConnector(
        oauth_app(settings, context.base_url, context.redirect_uri), SharedTokenStore(context.credentials),
        http=context.http, clock=context.clock, sleep=context.sleep,
        rate_limits=RateLimits(clock=context.clock, sleep=context.sleep, budget=context.budget),
        commit_window=settings.commit_window_seconds,
    )


def make_master_data_reader(context: ConnectorContext, options: ReadOptions) -> ExactOnlineMasterData:
    """The sync's reader of one connection: a connector of its own over the same context (tokens in the shared
    credential store, the shared call budget and http client), so its calls meet Exact's rules as bookings do."""
    return ExactOnlineMasterData(make_connector(context).master_data(page_size=options.page_size))


def _authorization_url(settings: ExactOnlineSettings, base_url: str, redirect_uri: str, state: str) -> str:
    return authorization_url(APP.client_id(settings), redirect_uri, state, base_url=base_url)


def _sandbox() -> SandboxPackage:
    import integrations.exact_online.sandbox as sandbox  # only once a sandbox is used

    return sandbox


async def _demo_change(url: str, division: str, rng: random.Random) -> str | None:
    """Rename one of the first 20 accounts of the division in the sandbox (its control API), or, one time in four,
    add a relation (a mirror rule of the demo then inserts it elsewhere); `accounts`."""
    number = rng.randint(10_000, 99_999)
    async with httpx.AsyncClient() as http:
        if rng.random() < 0.25:
            answer = await http.post(f"{url}/_sandbox/data/{division}/accounts",
                                     json={"set": {"Code": f"D{number}", "Name": f"Nieuwe relatie {number} B.V."}})
        else:
            answer = await http.post(f"{url}/_sandbox/data/{division}/accounts/{rng.randrange(20)}",
                                     json={"set": {"Name": f"Demo relatie {number} B.V."}})
    return "accounts" if answer.status_code == 200 else None


EXACT_ONLINE = Integration(
    key=KEY,
    name="Exact Online",
    administration_term="division",
    connect_method=ConnectMethod.OAUTH_CODE,
    settings_type=ExactOnlineSettings,
    make_connector=make_connector,
    authorization_url=_authorization_url,
    client_id=APP.client_id,
    sandbox=SandboxDescription.of(_sandbox, demo_grant=sign_in_grant(AUTH_PATH, "username", SANDBOX_CLIENT_ID),
                                  demo_change=_demo_change),
    probe_kinds=(ProbeKind.HTTP, ProbeKind.RIGHTS, ProbeKind.BACKLOG, ProbeKind.SYNC),
    master_data=MasterData(
        entities=SYNC_ENTITIES, make_reader=make_master_data_reader,
        # Seed 002: after sending, the booked entry's lines and the relation it used.
        refresh_after_booking=("transaction_lines", "accounts"),
        approval_only=("payments",),
    ),
)
