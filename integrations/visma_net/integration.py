"""Visma.net Financials as the service sees it: one `Integration` for the registry, and the settings it reads.

Settings come from `[integrations.visma-net]` (`VismaNetIntegrationSettings`); the client secret only from
`$STATUSPAGE_VISMA_NET_CLIENT_SECRET`, never from a file. `base_url` is the ERP API (`https://api.finance.visma.net`)
and `connect_url` Visma Connect (`https://connect.visma.com`); left without `base_url`, `statuspage serve` starts
the sandbox, which answers both. The sandbox is imported only when started.

What the registry's words mean for Visma.net: an administration is a **company**; a call budget is kept per
company, fed by Visma's hourly `X-RateLimit-*` window (`rate_limits`); Visma.net is a mirror target only (seed 001:
Exact Online relations kept as its customers), so its actions are mirror writes, never invoice actions, and its
master data is its customers, read into the mirror for the rules to reconcile against (`master_data`).
"""

from __future__ import annotations

from typing import Any

import httpx

from integrations.base import MIRROR_KINDS
from integrations.master_data import ReadOptions
from integrations.registry import (
    AppRegistration,
    ConnectMethod,
    ConnectorContext,
    Integration,
    IntegrationSettings,
    LimitWindow,
    MasterData,
    PerBudget,
    ProbeKind,
    SandboxDescription,
    SandboxPackage,
)
from integrations.visma_net.client import VismaNetClient
from integrations.visma_net.connector import MIRROR_TARGETS, VismaNetConnector
from integrations.visma_net.master_data import SYNC_ENTITIES, VismaNetMasterData
from integrations.visma_net.oauth import ServiceApp
from integrations.visma_net.rate_limits import KEY
from integrations.visma_net.settings import VismaNetSettings

SECRET_VARIABLE = "STATUSPAGE_VISMA_NET_CLIENT_SECRET"
SANDBOX_CLIENT_ID = "isv_statuspage_sandbox"
APP = AppRegistration(SECRET_VARIABLE, SANDBOX_CLIENT_ID,
                      "sandbox-secret-not-for-production")  # the sandbox's one app (sandbox/scenario.py)


_CLIENT = VismaNetSettings()
"""The client's defaults, which the service's settings keep: one default per limit."""


class VismaNetIntegrationSettings(IntegrationSettings, kw_only=True, forbid_unknown_fields=True):
    """`[integrations.visma-net]`. Times are seconds. `base_url` is the ERP API, `connect_url` Visma Connect."""

    client_id: str = SANDBOX_CLIENT_ID
    """The service integration's client id (Visma Developer Portal)."""
    connect_url: str = _CLIENT.connect_url
    attempts: int = _CLIENT.attempts
    """Tries of one call on 5xx and transport errors, `base_delay` doubling up to `max_delay` (full jitter) between."""
    base_delay: float = _CLIENT.base_delay
    max_delay: float = _CLIENT.max_delay
    max_wait: float = _CLIENT.max_wait
    """The longest wait inside one call (a 429's Retry-After, a spent hour); longer ones reschedule the write."""
    page_size: int = _CLIENT.page_size
    """Customers a call when the target is read into the mirror (Visma allows up to 1,000)."""

    def __post_init__(self) -> None:
        if not self.connect_url.startswith(("https://", "http://")):
            raise ValueError(f"connect_url {self.connect_url!r} must start with https://")
        self.client_settings(self.base_url)  # its own checks (attempts, timeouts, page size)

    def client_settings(self, base_url: str) -> VismaNetSettings:
        """The client's settings; against the sandbox (`uses_sandbox`) both addresses are the sandbox's."""
        return VismaNetSettings(
            connect_url=base_url if self.uses_sandbox else self.connect_url, api_url=base_url,
            connect_timeout=self.connect_timeout, read_timeout=self.read_timeout, attempts=self.attempts,
            base_delay=self.base_delay, max_delay=self.max_delay, max_wait=self.max_wait, page_size=self.page_size,
        )


def service_app(settings: VismaNetIntegrationSettings) -> ServiceApp:
    return ServiceApp(client_id=APP.client_id(settings), client_secret=APP.client_secret(settings))


def _client(context: ConnectorContext) -> VismaNetClient:
    """The client of a process: the hourly limit is per company and client id, and two environments may write into
    one company."""
    settings: VismaNetIntegrationSettings = context.settings
    return VismaNetClient(service_app(settings), settings=settings.client_settings(context.base_url), http=context.http,
                          clock=context.clock, sleep=context.sleep, budget=context.budget)


shared_client = PerBudget(_client)
"""One client per call budget (that is, per service process)."""


def make_connector(context: ConnectorContext) -> VismaNetConnector:
    return VismaNetConnector(shared_client(context), context.credentials,
                             client_id=service_app(context.settings).client_id)


def make_master_data_reader(context: ConnectorContext, options: ReadOptions) -> VismaNetMasterData:
    """A reader of the connection's customers (the mirror's target side), over the same shared client."""
    return VismaNetMasterData(make_connector(context), options)


def _sandbox() -> SandboxPackage:
    import integrations.visma_net.sandbox as sandbox  # only once a sandbox is used

    return sandbox


async def _demo_grant(url: str, settings: Any, redirect_uri: str, company: str) -> str:
    """What an operator types to connect: the company and the tenant id its administrator granted the app, as the
    Visma App Store shows them (here: the sandbox's scenario)."""
    async with httpx.AsyncClient(timeout=settings.timeouts()) as http:
        scenario = (await http.get(f"{url}/_sandbox/scenario")).json()
    tenant = next(item["tenant_id"] for item in scenario["companies"] if item["company_id"] == company)
    return f"{company}={tenant}"


VISMA_NET = Integration(
    key=KEY,
    name="Visma.net Financials",
    administration_term="company",
    connect_method=ConnectMethod.CREDENTIALS,
    settings_type=VismaNetIntegrationSettings,
    make_connector=make_connector,
    client_id=APP.client_id,
    sandbox=SandboxDescription.of(_sandbox, demo_grant=_demo_grant),
    probe_kinds=(ProbeKind.RIGHTS, ProbeKind.BACKLOG),
    master_data=MasterData(entities=SYNC_ENTITIES, make_reader=make_master_data_reader),
    action_kinds=MIRROR_KINDS,
    credentials_hint="COMPANY=TENANT for each company, e.g. 1896329=5f0c1e2a-7d3b-4c59-9a61-0b8e4f2d7c31: the company "
                     "id and the Visma Connect tenant id its administrator granted the app",
    mirror_targets=MIRROR_TARGETS,
    limit_window=LimitWindow.HOUR,  # per company and client, per hour (rate_limits.py)
)
