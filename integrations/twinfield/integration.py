"""Twinfield as the service sees it: one `Integration` for the registry, and the settings it reads.

Settings come from `[integrations.twinfield]` (`TwinfieldIntegrationSettings`); the client secret only from
`$STATUSPAGE_TWINFIELD_CLIENT_SECRET`, never from a file. `base_url` is Twinfield's identity server
(`https://login.twinfield.com`): the cluster that serves the SOAP web services is named by each access token's
validation, so it is never configured. Left without `base_url`, `statuspage serve` starts the sandbox. The sandbox
is imported only when started.

What the registry's words mean for Twinfield: an administration is an **office** (`CompanyCode`); a call budget is
kept per **organisation** (Twinfield's limits are the organisation's: `rate_limits`).
"""

from __future__ import annotations

import os
import random
import weakref
from collections.abc import Mapping
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from integrations.call_budget import CallBudget
from integrations.exact_online.tokens import SharedTokenStore
from integrations.master_data import ReadOptions
from integrations.registry import (
    ConnectMethod,
    ConnectorContext,
    Integration,
    IntegrationSettings,
    MasterData,
    ProbeKind,
    RunningSandbox,
    SandboxDescription,
)
from integrations.twinfield.client import OrganisationGates
from integrations.twinfield.connector import TwinfieldConnector
from integrations.twinfield.oauth import AUTHORIZE_PATH, OAuthApp, authorization_url
from integrations.twinfield.rate_limits import KEY, CreditMeter, TwinfieldLimits
from integrations.twinfield.settings import TwinfieldSettings
from integrations.twinfield.sync import SYNC_ENTITIES, TwinfieldMasterData

SECRET_VARIABLE = "STATUSPAGE_TWINFIELD_CLIENT_SECRET"
SANDBOX_CLIENT_ID = "sandbox-client"
SANDBOX_CLIENT_SECRET = "sandbox-secret"  # the one app the sandbox knows (integrations/sandboxes/state.py)


class TwinfieldIntegrationSettings(IntegrationSettings, kw_only=True, forbid_unknown_fields=True):
    """`[integrations.twinfield]`. Times are seconds, credits Twinfield's. `base_url` is the identity server.

    The credit prices are the customer's Twinfield contract's (Twinfield documents credits per minute per
    organisation, writes dearer than reads, without one number for all); the defaults are the sandbox's."""

    client_id: str = SANDBOX_CLIENT_ID
    """The app's client id (Twinfield's developer portal)."""
    concurrency_per_organisation: int = 1
    """Calls in flight at once per organisation; Twinfield advises one."""
    credits_per_minute: int = 600
    read_credits: int = 1
    write_credits: int = 3
    max_retry_after: float = 65.0
    """The longest `Retry-After` waited out inside a call; longer ones reschedule the action."""
    rate_limit_waits: int = 10
    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    refresh_margin: float = 60.0
    """Refresh an access token this long before it expires (Twinfield's live an hour)."""
    payables_account: str = "1600"
    """The creditors control account (dim1 of a purchase transaction's total line) of the offices booked into."""

    def __post_init__(self) -> None:
        if min(self.credits_per_minute, self.read_credits, self.write_credits) < 1:
            raise ValueError("credits_per_minute, read_credits and write_credits must be at least 1")
        self.client_settings()  # its own checks (concurrency, attempts, timeouts)

    def client_settings(self) -> TwinfieldSettings:
        return TwinfieldSettings(
            connect_timeout=self.connect_timeout, read_timeout=self.read_timeout,
            concurrency_per_organisation=self.concurrency_per_organisation, max_retry_after=self.max_retry_after,
            rate_limit_waits=self.rate_limit_waits, attempts=self.attempts, base_delay=self.base_delay,
            max_delay=self.max_delay, refresh_margin=self.refresh_margin, payables_account=self.payables_account,
            rights_cache_seconds=float(self.rights_cache_seconds),
        )


def oauth_app(settings: TwinfieldIntegrationSettings, base_url: str, redirect_uri: str) -> OAuthApp:
    sandbox = settings.uses_sandbox
    return OAuthApp(client_id=SANDBOX_CLIENT_ID if sandbox else settings.client_id,
                    client_secret=SANDBOX_CLIENT_SECRET if sandbox else os.environ.get(SECRET_VARIABLE, ""),
                    redirect_uri=redirect_uri, login_url=base_url)


_shared: weakref.WeakKeyDictionary[CallBudget, tuple[OrganisationGates, TwinfieldLimits]] = \
    weakref.WeakKeyDictionary()


def _per_process(context: ConnectorContext) -> tuple[OrganisationGates, TwinfieldLimits]:
    """One set of gates and one credit meter per call budget (that is, per service process): Twinfield's limits are
    the organisation's, and two environments may be offices of one organisation. The credits the meter counts are
    kept in the context's `spent`, which the service's processes share."""
    found = _shared.get(context.budget)
    if found is None:
        settings: TwinfieldIntegrationSettings = context.settings
        meter = CreditMeter(per_minute=settings.credits_per_minute, read_credits=settings.read_credits,
                            write_credits=settings.write_credits, clock=context.clock, spent=context.spent)
        found = _shared[context.budget] = (
            OrganisationGates(concurrency=settings.concurrency_per_organisation, clock=context.clock,
                              sleep=context.sleep),
            TwinfieldLimits(context.budget, meter, clock=context.clock, sleep=context.sleep),
        )
    return found


def make_connector(context: ConnectorContext) -> TwinfieldConnector:
    settings: TwinfieldIntegrationSettings = context.settings
    gates, limits = _per_process(context)
    return TwinfieldConnector(
        oauth_app(settings, context.base_url, context.redirect_uri), SharedTokenStore(context.credentials),
        settings=settings.client_settings(), http=context.http, clock=context.clock, sleep=context.sleep,
        gates=gates, limits=limits,
    )


def make_master_data_reader(context: ConnectorContext, options: ReadOptions) -> TwinfieldMasterData:
    """The sync's reader of one connection: a connector of its own over the same context (tokens in the shared
    credential store, the process's organisation gates and credit meter, the shared call budget)."""
    return make_connector(context).master_data(page_size=options.page_size)


def _authorization_url(settings: TwinfieldIntegrationSettings, base_url: str, redirect_uri: str, state: str) -> str:
    app = oauth_app(settings, base_url, redirect_uri)
    return authorization_url(app.client_id, redirect_uri, state, login_url=base_url)


def _start_sandbox(host: str, port: int) -> RunningSandbox:
    from integrations.twinfield.sandbox import TwinfieldSandbox, demo_scenario

    return TwinfieldSandbox(demo_scenario(), host=host, port=port).start()


def _demo_users() -> Mapping[str, str]:
    from integrations.twinfield.sandbox import demo_scenario

    return {environment.name: environment.connection_user for environment in demo_scenario().environments}


async def _demo_grant(url: str, settings: TwinfieldIntegrationSettings, redirect_uri: str, username: str) -> str:
    """Sign in on the sandbox's page as `username` and press Authorize, as a person would; the code it gives."""
    async with httpx.AsyncClient(timeout=settings.timeouts()) as http:
        answer = await http.post(f"{url}{AUTHORIZE_PATH}", data={
            "client_id": SANDBOX_CLIENT_ID, "redirect_uri": redirect_uri, "state": "demo", "user": username})
    return parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]


def _demo_invoice(rng: random.Random, number: int, day: date) -> dict[str, Any]:
    """A purchase invoice the sandbox's demo offices accept: journal `INK`, a supplier of `2000`-`2024`, GL
    `7000` (purchases), cost centre `100`-`104` (the sandbox's generated master data)."""
    return {"journal": "INK", "supplier": str(2000 + rng.randrange(25)), "entry_date": day.isoformat(),
            "description": f"Demo invoice {number}",
            "lines": [{"gl_account": "7000", "amount": round(rng.uniform(20, 2500), 2), "vat_code": "IH",
                       "cost_center": str(100 + rng.randrange(5))}]}


async def _demo_change(url: str, office: str, rng: random.Random) -> str | None:
    """Rename one of the office's generated suppliers in the sandbox (its control API); `suppliers`."""
    name = f"Demo leverancier {rng.randint(1000, 9999)} B.V."
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{url}/_sandbox/dimensions/{office}/CRD/{2000 + rng.randrange(25)}",
                                 json={"name": name})
    return "suppliers" if answer.status_code == 200 else None


def _sandbox_main(argv: list[str]) -> int:
    from integrations.twinfield.sandbox import main

    return main(argv)


TWINFIELD = Integration(
    key=KEY,
    name="Twinfield",
    administration_term="office",
    connect_method=ConnectMethod.OAUTH_CODE,
    settings_type=TwinfieldIntegrationSettings,
    make_connector=make_connector,
    authorization_url=_authorization_url,
    client_id=lambda settings: SANDBOX_CLIENT_ID if settings.uses_sandbox else settings.client_id,
    sandbox=SandboxDescription(start=_start_sandbox, demo_users=_demo_users, demo_grant=_demo_grant,
                               main=_sandbox_main, demo_invoice=_demo_invoice, demo_change=_demo_change),
    probe_kinds=(ProbeKind.HTTP, ProbeKind.RIGHTS, ProbeKind.BACKLOG, ProbeKind.SYNC),
    master_data=MasterData(
        entities=SYNC_ENTITIES, make_reader=make_master_data_reader,
        # A booking names a supplier, and the relation actions create suppliers and customers.
        refresh_after_booking=("suppliers", "customers"),
    ),
)
