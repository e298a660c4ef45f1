"""Twinfield as the service sees it: one `Integration` for the registry, and the settings it reads.

Settings come from `[integrations.twinfield]` (`TwinfieldSettings`); the client secret only from
`$STATUSPAGE_TWINFIELD_CLIENT_SECRET`, never from a file. `base_url` is Twinfield's identity server
(`https://login.twinfield.com`): the cluster that serves the SOAP web services is named by each access token's
validation, so it is never configured. Left without `base_url`, `statuspage serve` starts the sandbox. The sandbox
is imported only when started.

What the registry's words mean for Twinfield: an administration is an **office** (`CompanyCode`); a call budget is
kept per **organisation** (Twinfield's limits are the organisation's: `rate_limits`).
"""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import httpx

from integrations.master_data import ReadOptions
from integrations.registry import (
    AppRegistration,
    ConnectMethod,
    ConnectorContext,
    Integration,
    MasterData,
    PerBudget,
    ProbeKind,
    SandboxDescription,
    SandboxPackage,
    sign_in_grant,
)
from integrations.tokens import SharedTokenStore
from integrations.twinfield.client import OrganisationGates
from integrations.twinfield.connector import TwinfieldConnector
from integrations.twinfield.oauth import AUTHORIZE_PATH, OAuthApp, authorization_url
from integrations.twinfield.rate_limits import KEY, CreditMeter, TwinfieldLimits
from integrations.twinfield.settings import SANDBOX_CLIENT_ID, TwinfieldSettings
from integrations.twinfield.sync import SYNC_ENTITIES, TwinfieldMasterData

SECRET_VARIABLE = "STATUSPAGE_TWINFIELD_CLIENT_SECRET"
APP = AppRegistration(SECRET_VARIABLE, SANDBOX_CLIENT_ID, "sandbox-secret")  # the sandbox's one app (sandboxes/state.py)


def oauth_app(settings: TwinfieldSettings, base_url: str, redirect_uri: str) -> OAuthApp:
    return OAuthApp(client_id=APP.client_id(settings), client_secret=APP.client_secret(settings),
                    redirect_uri=redirect_uri, login_url=base_url)


def _gates_and_limits(context: ConnectorContext) -> tuple[OrganisationGates, TwinfieldLimits]:
    """The organisation gates and the credit meter of a process: Twinfield's limits are the organisation's, and two
    environments may be offices of one organisation. The credits the meter counts are kept in the context's
    `spent`, which the service's processes share."""
    settings: TwinfieldSettings = context.settings
    meter = CreditMeter(per_minute=settings.credits_per_minute, read_credits=settings.read_credits,
                        write_credits=settings.write_credits, clock=context.clock, spent=context.spent)
    return (OrganisationGates(concurrency=settings.concurrency_per_organisation, clock=context.clock, sleep=context.sleep),
            TwinfieldLimits(context.budget, meter, clock=context.clock, sleep=context.sleep))


_per_process = PerBudget(_gates_and_limits)


def make_connector(context: ConnectorContext) -> TwinfieldConnector:
    settings: TwinfieldSettings = context.settings
    gates, limits = _per_process(context)
    return TwinfieldConnector(
        oauth_app(settings, context.base_url, context.redirect_uri), SharedTokenStore(context.credentials),
        settings=settings, http=context.http, clock=context.clock, sleep=context.sleep,
        gates=gates, limits=limits,
    )


def make_master_data_reader(context: ConnectorContext, options: ReadOptions) -> TwinfieldMasterData:
    """The sync's reader of one connection: a connector of its own over the same context (tokens in the shared
    credential store, the process's organisation gates and credit meter, the shared call budget)."""
    return make_connector(context).master_data(page_size=options.page_size)


def _authorization_url(settings: TwinfieldSettings, base_url: str, redirect_uri: str, state: str) -> str:
    return authorization_url(APP.client_id(settings), redirect_uri, state, login_url=base_url)


def _sandbox() -> SandboxPackage:
    import integrations.twinfield.sandbox as sandbox  # only once a sandbox is used

    return sandbox


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


TWINFIELD = Integration(
    key=KEY,
    name="Twinfield",
    administration_term="office",
    connect_method=ConnectMethod.OAUTH_CODE,
    settings_type=TwinfieldSettings,
    make_connector=make_connector,
    authorization_url=_authorization_url,
    client_id=APP.client_id,
    sandbox=SandboxDescription.of(_sandbox, demo_grant=sign_in_grant(AUTHORIZE_PATH, "user", SANDBOX_CLIENT_ID),
                                  demo_invoice=_demo_invoice, demo_change=_demo_change),
    probe_kinds=(ProbeKind.HTTP, ProbeKind.RIGHTS, ProbeKind.BACKLOG, ProbeKind.SYNC),
    master_data=MasterData(
        entities=SYNC_ENTITIES, make_reader=make_master_data_reader,
        # A booking names a supplier, and the relation actions create suppliers and customers.
        refresh_after_booking=("suppliers", "customers"),
    ),
)
