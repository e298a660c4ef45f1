"""The registry of integrations: each accounting system describes itself once, and the service looks it up by key.

An integration is one package under `integrations/` that exposes one `Integration`: its key (`exact-online`),
its names, what it calls an administration, how an environment connects to it, the settings it takes from
`[integrations.<key>]`, a factory for the connector of one connection, its sandbox, the probe kinds it offers
and what it can sync. The service (`statuspage`) knows integrations only through this description; the one
place that lists the installed ones is `statuspage/core/installed.py`. Registering another accounting system
is adding its description there.
"""

from __future__ import annotations

import os
import random
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import msgspec

from integrations.base import INVOICE_KINDS, ActionKind, Clock, ConnectionUser, Connector, Sleep
from integrations.call_budget import CallBudget
from integrations.master_data import MasterDataReader, ReadOptions, SyncEntity, entity_table
from integrations.rate_limits import LocalSpent, SpentStore


class ConnectMethod(StrEnum):
    """How an operator connects an environment."""

    OAUTH_CODE = "oauth-authorization-code"
    """Sent to the accounting system's sign-in page, back with a code (Exact Online, Twinfield)."""
    CREDENTIALS = "credentials"
    """Types credentials the accounting system issued (an API key, a user and password) into the console."""


class ProbeKind(StrEnum):
    """The probe kinds an integration can be the subject of."""

    HTTP = "http"
    RIGHTS = "rights"
    BACKLOG = "backlog"
    SYNC = "sync"


class LimitWindow(StrEnum):
    """The span of the long window an accounting system states its limits in, beside any minute: where the call
    budget reschedules a spent budget past, and whose last share it keeps for its first class."""

    DAY = "day"
    """Exact Online: 5,000 calls a day per division (beside 60 a minute)."""
    HOUR = "hour"
    """Visma.net: calls per hour per company and client ("Rate Limits")."""


class IntegrationSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What every integration's `[integrations.<key>]` table holds; an integration subclasses it with its own."""

    base_url: str = ""
    """The accounting system's address; left out, `statuspage serve` starts the integration's sandbox."""
    sandbox_port: int = 0
    """Where the sandbox listens when it is started for the demo; 0 picks a free port."""
    rights_cache_seconds: int = 60
    """How long the connection user's accessible administrations and rights are believed (seconds)."""
    connect_timeout: float = 5.0
    """Seconds to wait for a connection to the accounting system."""
    read_timeout: float = 30.0
    """Seconds to wait for an answer once a request is sent."""
    commit_window_seconds: float = 30.0
    """Seconds after which a booking that was sent but not answered is surely visible to a look-up."""

    @property
    def uses_sandbox(self) -> bool:
        return not self.base_url

    def timeouts(self) -> httpx.Timeout:
        return httpx.Timeout(self.read_timeout, connect=self.connect_timeout)


class AppSettings(Protocol):
    """What `AppRegistration` reads of an integration's settings."""

    @property
    def uses_sandbox(self) -> bool: ...

    @property
    def client_id(self) -> str: ...


@dataclass(frozen=True)
class AppRegistration:
    """Which app an integration's connections sign in as: against its sandbox (`IntegrationSettings.uses_sandbox`)
    the one app the sandbox knows, otherwise the configured `client_id` with the secret from the environment
    variable `secret_variable`, never from a file."""

    secret_variable: str
    sandbox_client_id: str
    sandbox_client_secret: str

    def client_id(self, settings: AppSettings) -> str:
        return self.sandbox_client_id if settings.uses_sandbox else settings.client_id

    def client_secret(self, settings: AppSettings) -> str:
        """The sandbox's secret, or `$secret_variable` ("" when it is not set: the system refuses the app)."""
        return self.sandbox_client_secret if settings.uses_sandbox else os.environ.get(self.secret_variable, "")


class CredentialStore(Protocol):
    """Where one connection's credentials (tokens) live, shared by every process of the service.

    `guard` identifies what a secret may be replaced on (for rotating OAuth tokens, its refresh token's
    fingerprint): `replace` writes only when the stored guard is still `expected`, so two processes rotating
    the same refresh token cannot both win.
    """

    async def load(self) -> str | None: ...

    async def save(self, secret: str, guard: str) -> None:
        """Store unconditionally: a new connection replaces whatever was there."""
        ...

    async def replace(self, expected: str, secret: str, guard: str) -> bool:
        """Compare-and-set on the guard; False when another process changed the secret first."""
        ...

    async def claim_refresh(self) -> bool:
        """Take the one right (across processes, for a short while) to refresh; False while another holds it."""
        ...

    async def release_refresh(self) -> None: ...


class ConnectableConnector(Connector, Protocol):
    async def connect(self, grant: str) -> ConnectionUser:
        """Finish connecting with an authorization code (OAuth) or the credentials typed in; from now on the
        connection runs under the user who granted it."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class ConnectorContext:
    """Everything a connector factory is given for one connection."""

    settings: Any
    """The integration's own settings (an instance of its `settings_type`)."""
    base_url: str
    """Where the accounting system (or its sandbox) is reached."""
    redirect_uri: str
    """Where the OAuth flow returns to, for integrations that connect that way."""
    credentials: CredentialStore
    http: httpx.AsyncClient
    """Shared by the integration's connectors, with the integration's connect/read timeouts."""
    budget: CallBudget
    clock: Clock
    sleep: Sleep
    spent: SpentStore = field(default_factory=LocalSpent)
    """Spending the accounting system does not report (Twinfield's credits), shared by the service's processes."""


class RunningSandbox(Protocol):
    @property
    def url(self) -> str: ...

    def stop(self) -> None: ...


class SandboxPackage(Protocol):
    """What an integration's sandbox package (`integrations.<system>.sandbox`) offers the service."""

    def start_demo(self, host: str, port: int) -> RunningSandbox:
        """The demo scenario's sandbox on (host, port; 0 picks a free one), running on a thread."""
        ...

    def demo_users(self) -> Mapping[str, str]:
        """The demo scenario: environment name -> the sandbox user (or company) its connection is made under."""
        ...

    def main(self, argv: Sequence[str] | None = None) -> int:
        """The sandbox in the foreground, from command-line arguments."""
        ...


DemoGrant = Callable[[str, Any, str, str], Awaitable[str]]
"""(sandbox url, settings, redirect_uri, username) -> the grant `connect` takes, as a person would get it."""


@dataclass(frozen=True)
class SandboxDescription:
    """A local stand-in of the accounting system, for the demo and the tests."""

    start: Callable[[str, int], RunningSandbox]
    """Start the demo scenario on (host, port; 0 picks a free one), on a thread; returns it running."""
    demo_users: Callable[[], Mapping[str, str]]
    """The demo scenario: environment name -> the sandbox user its connection is made under."""
    demo_grant: DemoGrant
    main: Callable[[list[str]], int]
    """Run it in the foreground (`statuspage sandbox <key> --port ...`)."""
    demo_invoice: Callable[[random.Random, int, date], Mapping[str, Any]] | None = None
    """(rng, number, entry date) -> the payload of a purchase invoice the demo scenario's administrations accept
    (journal, supplier, GL account codes are each system's own); None: the service's generic demo invoice."""
    demo_change: Callable[[str, str, random.Random], Awaitable[str | None]] | None = None
    """(sandbox url, administration, rng) -> change a row of master data in the sandbox as a bookkeeper would, and
    name its entity (None when nothing changed), so the demo's sync has something to carry; None: no changes."""

    @classmethod
    def of(
        cls, package: Callable[[], SandboxPackage], *, demo_grant: DemoGrant,
        demo_invoice: Callable[[random.Random, int, date], Mapping[str, Any]] | None = None,
        demo_change: Callable[[str, str, random.Random], Awaitable[str | None]] | None = None,
    ) -> SandboxDescription:
        """The description of the sandbox package `package()` imports, called only once the sandbox is used: the
        service imports every integration, while only the demo, the tests and `statuspage sandbox` need a sandbox."""
        return cls(start=lambda host, port: package().start_demo(host, port),
                   demo_users=lambda: package().demo_users(), main=lambda argv: package().main(argv),
                   demo_grant=demo_grant, demo_invoice=demo_invoice, demo_change=demo_change)


def sign_in_grant(path: str, user_field: str, client_id: str) -> DemoGrant:
    """The `demo_grant` of a sandbox that signs in with an authorization code: post its sign-in form at `path` as the
    user (the form's `user_field`) and press Authorize, as a person would; the grant is the `code` the redirect
    carries (`integrations.sandboxes.oauth.authorize`)."""

    async def grant(url: str, settings: Any, redirect_uri: str, username: str) -> str:
        async with httpx.AsyncClient(timeout=settings.timeouts()) as http:
            answer = await http.post(f"{url}{path}", data={
                "client_id": client_id, "redirect_uri": redirect_uri, "state": "demo", user_field: username})
        return parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]

    return grant


T = TypeVar("T")


class PerBudget(Generic[T]):
    """One `T` per call budget, that is per service process, made by `make` for the first connection that asks:
    for what an accounting system limits across connections (Twinfield's organisations, Visma.net's companies),
    since two environments may work in one. Kept as long as its budget lives."""

    def __init__(self, make: Callable[[ConnectorContext], T]) -> None:
        self._make = make
        self._made: weakref.WeakKeyDictionary[CallBudget, T] = weakref.WeakKeyDictionary()

    def __call__(self, context: ConnectorContext) -> T:
        found = self._made.get(context.budget)
        if found is None:
            found = self._made[context.budget] = self._make(context)
        return found


@dataclass(frozen=True)
class MasterData:
    """What an integration can sync into the service's mirror (`integrations.master_data`)."""

    entities: tuple[SyncEntity, ...]
    """In the order a sync reads them."""
    make_reader: Callable[[ConnectorContext, ReadOptions], MasterDataReader]
    """A reader of one connection's master data, from the same context its connector gets (same credentials,
    the shared call budget)."""
    refresh_after_booking: tuple[str, ...] = ()
    """Entities a booking touches, read again incrementally after each one is done (seed 002, "on send")."""
    approval_only: tuple[str, ...] = ()
    """Entities only an environment with an approval flow needs (seed 000: payments); never read for a
    `scan-book-archive` environment."""

    def __post_init__(self) -> None:
        table = entity_table(self.entities)
        unknown = sorted({*self.refresh_after_booking, *self.approval_only} - set(table))
        if unknown:
            raise ValueError(f"refresh_after_booking and approval_only name entities not described: {unknown}")

    @property
    def table(self) -> dict[str, SyncEntity]:
        """The entities by name, in reading order."""
        return entity_table(self.entities)


@dataclass(frozen=True)
class MirrorTarget:
    """An entity of the accounting system that mirror rules (`[[mirrors]]`, seed 001) may write into.

    Rows are identified by `key_field`, which the rule's key mapping fills (Visma.net customers: `reference`, the
    customer's `accountReference`); target rows whose key field is empty (made by hand) are never matched or
    written. Field names are the plain ones of the integration's rows as the mirror keeps them."""

    key_field: str
    insert_fields: tuple[str, ...]
    """What an insert may set besides the key field."""
    update_fields: tuple[str, ...]
    """What an update (mode insert-and-update) may change."""
    required: tuple[str, ...] = ()
    """Fields an insert must set (the rule's field mapping must name them)."""


@dataclass(frozen=True)
class Integration:
    key: str
    """Lower-case with dashes, as in the API's paths and the configuration: `exact-online`."""
    name: str
    """As customers know it: "Exact Online"."""
    administration_term: str
    """What the accounting system itself calls an administration ("division", "office")."""
    connect_method: ConnectMethod
    settings_type: type[IntegrationSettings]
    make_connector: Callable[[ConnectorContext], ConnectableConnector]
    authorization_url: Callable[[Any, str, str, str], str] | None = None
    """(settings, base url, redirect_uri, state) -> where to send the operator, for `OAUTH_CODE`."""
    client_id: Callable[[Any], str] | None = None
    """The app's id at the accounting system, for the sandbox's sign-in form."""
    sandbox: SandboxDescription | None = None
    probe_kinds: tuple[ProbeKind, ...] = (ProbeKind.RIGHTS, ProbeKind.BACKLOG, ProbeKind.SYNC)
    master_data: MasterData | None = None
    """What it can sync into the mirror, and how; None: its master data is not mirrored."""
    names: Mapping[str, str] = field(default_factory=dict)
    """The name per language, where it differs from `name`."""
    action_kinds: frozenset[ActionKind] = INVOICE_KINDS
    """The actions its connector carries out: the invoice product's (bookings, relations), or mirror writes."""
    credentials_hint: str = ""
    """For `ConnectMethod.CREDENTIALS`: what to type to connect, shown beside the console's field."""
    mirror_targets: Mapping[str, MirrorTarget] = field(default_factory=dict)
    """Entity name -> what mirror rules may write into it; empty: it is no mirror target."""
    limit_window: LimitWindow = LimitWindow.DAY
    """The span of the long window its limits are stated in (the call budget's `daily`, named so for its API)."""

    @property
    def first_class_name(self) -> str:
        """What the call budget's first class carries for it: its bookings, or, for a mirror target, mirror writes."""
        return "bookings" if self.action_kinds & INVOICE_KINDS else "mirror writes"

    def settings_from(self, table: Mapping[str, Any]) -> IntegrationSettings:
        """Its settings from `[integrations.<key>]`; raises msgspec.ValidationError naming the wrong key."""
        return msgspec.convert(dict(table), self.settings_type, strict=False)


class UnknownIntegration(LookupError):
    def __init__(self, key: str, known: Iterable[str]) -> None:
        super().__init__(f"unknown integration {key!r}; known: {', '.join(known) or 'none are installed'}")
        self.key = key


class Registry:
    """The installed integrations, by key."""

    def __init__(self, integrations: Iterable[Integration] = ()) -> None:
        self._by_key: dict[str, Integration] = {}
        for integration in integrations:
            self.register(integration)

    def register(self, integration: Integration) -> None:
        if integration.key in self._by_key:
            raise ValueError(f"integration {integration.key!r} is registered twice")
        self._by_key[integration.key] = integration

    def with_(self, *integrations: Integration) -> Registry:
        """A copy with more integrations registered (tests register fakes this way)."""
        return Registry([*self._by_key.values(), *integrations])

    def get(self, key: str) -> Integration:
        """Raises `UnknownIntegration` naming the known keys."""
        try:
            return self._by_key[key]
        except KeyError:
            raise UnknownIntegration(key, self._by_key) from None

    def keys(self) -> list[str]:
        return list(self._by_key)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def __iter__(self) -> Iterator[Integration]:
        return iter(self._by_key.values())
