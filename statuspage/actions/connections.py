"""The service's side of its connections to accounting systems, for every registered integration: credentials
kept in SQLite and shared by every process, "Connect" for an environment, the connector behind the rights
check, and which linked administrations the connection user cannot reach — the question nobody could answer
quickly in October 2019.

An environment connects to the integration its configuration names (`[[environments]] integration`); its
connection runs under one connection user for all its administrations. Integrations are known only through
their registry description (`integrations.registry.Integration`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from litestar.di import NamedDependency
from litestar.params import SkipValidation
from sqlite_utils import Database

from integrations.base import Administration, AuthorizationError, ConnectionUser, ConnectorError, Sleep
from integrations.budget import Window
from integrations.call_budget import BudgetReport, CallBudget, CallClass, calling_as
from integrations.master_data import MasterDataReader, ReadOptions
from integrations.registry import ConnectableConnector, ConnectorContext, Integration, Registry, UnknownIntegration
from integrations.rights import RightsCheck
from statuspage.actions import switches
from statuspage.core import signed, storage
from statuspage.core.clock import Clock
from statuspage.core.settings import EnvironmentSettings, Settings
from statuspage.core.storage import Store

log = logging.getLogger("statuspage.actions.connections")

CALLBACK_PATH = "/console/connections/{integration}/callback"
"""Where an OAuth flow returns to; for Exact Online `/console/connections/exact-online/callback`, as registered."""
STATE_LIFETIME = timedelta(minutes=15)


def callback_path(integration: str) -> str:
    return CALLBACK_PATH.format(integration=integration)


class UnknownEnvironment(ConnectorError):
    """An environment the configuration does not name (for this integration): no connection to make or use."""


class SwitchedOff(ConnectorError):
    """Work that needs the integration, asked while its kill switch is off."""


REFRESH_CLAIM = timedelta(seconds=30)
"""How long one process may hold the right to refresh a connection's tokens: longer than a token call takes."""


class SqliteCredentialStore:
    """A connection's credentials in its row, shared by every process: rotated tokens survive restarts and
    are written with a compare-and-set, so two processes cannot both rotate one refresh token; one refresh at
    a time is claimed in the row (`REFRESH_CLAIM`), so none is even attempted twice."""

    def __init__(self, store: Store, connection: int, clock: Clock) -> None:
        self.store, self.connection, self.clock = store, connection, clock

    async def claim_refresh(self) -> bool:
        now = self.clock()
        return await self.store.write(storage.claim_token_refresh, self.connection, now, now + REFRESH_CLAIM)

    async def release_refresh(self) -> None:
        await self.store.write(storage.release_token_refresh, self.connection)

    async def load(self) -> str | None:
        return await self.store.read(storage.connection_tokens, self.connection)

    async def save(self, secret: str, guard: str) -> None:
        await self.store.write(storage.save_connection_tokens, self.connection, secret, guard)

    async def replace(self, expected: str, secret: str, guard: str) -> bool:
        return await self.store.write(storage.replace_connection_tokens, self.connection, expected, secret, guard)


class SqliteSpentStore:
    """Credits spent per (integration, budget key) per window, in the database (`integrations.rate_limits.SpentStore`):
    every process of the service spends from one count, each spending decided inside the writer's transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def spend(self, integration: str, administration: str, window: datetime, amount: int, limit: int) -> bool:
        return await self.store.write(storage.spend_credits, integration, administration, window, amount, limit)

    async def refund(self, integration: str, administration: str, window: datetime, amount: int) -> None:
        await self.store.write(storage.refund_credits, integration, administration, window, amount)

    async def spent(self, integration: str, administration: str, window: datetime) -> int:
        return await self.store.read(storage.spent_credits, integration, administration, window)


@dataclass(frozen=True)
class Reach:
    """One linked administration, and whether the connection user could open it when last checked."""

    code: str
    name: str
    reachable: bool


def reach(environment: EnvironmentSettings, accessible: list[Administration] | None) -> list[Reach]:
    """Each administration linked to `environment`, and whether it is among those the connection user could open
    (`accessible`, as last checked; None: never checked, so none is known to be reachable)."""
    codes = {item.code for item in accessible or []}
    return [Reach(item.code, item.name, item.code in codes) for item in environment.administrations]


# ---------------------------------------------------------------------------------------------
# The OAuth `state`: which environment is being connected, by whom, until when — signed, so that
# nobody can send an operator back to us with a code for another environment.


def make_state(secret: str, environment: str, session: str, expires: datetime) -> str:
    """The OAuth `state` for connecting `environment`, good for this console session until `expires`.

    The session is in the signature's salt, not in the token, so the state reveals nothing of it.
    """
    return signed.sign(secret, f"oauth-state:{session}", [environment, int(expires.timestamp())])


def read_state(secret: str, state: str, session: str, now: datetime) -> str | None:
    """The environment a state was made for, if it was made by us, for this session, and is not stale."""
    value = signed.unsign(secret, f"oauth-state:{session}", state)
    match value:
        case [str(environment), int(expires)] if now.timestamp() < expires:
            return environment
    return None


# ---------------------------------------------------------------------------------------------


class IntegrationLink:
    """One integration as this process reaches it: its settings, its address, a connector per connection."""

    def __init__(self, integration: Integration, settings: Settings, store: Store, clock: Clock, base_url: str,
                 budget: CallBudget, sleep: Sleep = asyncio.sleep) -> None:
        self.integration, self.settings, self.store, self.clock = integration, settings, store, clock
        self.options = settings.integration(integration.key)
        self.base_url = base_url
        self.budget = budget
        self.sleep = sleep
        self.redirect_uri = settings.page.url.rstrip("/") + callback_path(integration.key)
        # One client per integration, with the integration's own connect and read timeouts.
        self.http = httpx.AsyncClient(timeout=self.options.timeouts())
        self.spent = SqliteSpentStore(store)
        self._connectors: dict[int, ConnectableConnector] = {}
        self._checks: dict[str, RightsCheck] = {}
        self._generations: dict[str, int] = {}
        self._connection_ids: dict[str, int] = {}

    @property
    def key(self) -> str:
        return self.integration.key

    def authorization_url(self, state: str) -> str:
        if self.integration.authorization_url is None:
            raise ConnectorError(f"{self.integration.name} does not connect through a sign-in page")
        return self.integration.authorization_url(self.options, self.base_url, self.redirect_uri, state)

    def environment(self, key: str) -> EnvironmentSettings | None:
        """The configured environment `key`, if it connects to this integration."""
        found = self.settings.environment(key)
        return found if found is not None and found.integration == self.key else None

    async def connector(self, environment: str) -> ConnectableConnector:
        if self.environment(environment) is None:
            raise UnknownEnvironment(f"no environment {environment!r} connects to {self.integration.name} "
                                     f"in the configuration")
        connection = await self._connection(environment)
        if connection not in self._connectors:
            self._connectors[connection] = self.integration.make_connector(self._context(connection))
        return self._connectors[connection]

    async def master_data(self, environment: str, options: ReadOptions) -> MasterDataReader:
        """A reader of the environment's master data, made from the same context as its connector (the
        connection's shared credentials, this integration's http client, the shared call budget).
        `UnknownEnvironment` as for `connector`; `ConnectorError` when the integration mirrors nothing."""
        if self.environment(environment) is None:
            raise UnknownEnvironment(f"no environment {environment!r} connects to {self.integration.name} "
                                     f"in the configuration")
        if self.integration.master_data is None:
            raise ConnectorError(f"{self.integration.name}'s master data is not mirrored")
        return self.integration.master_data.make_reader(self._context(await self._connection(environment)), options)

    def _context(self, connection: int) -> ConnectorContext:
        return ConnectorContext(
            settings=self.options, base_url=self.base_url, redirect_uri=self.redirect_uri,
            credentials=SqliteCredentialStore(self.store, connection, self.clock), http=self.http,
            budget=self.budget, clock=self.clock, sleep=self.sleep, spent=self.spent,
        )

    async def checked(self, environment: str) -> RightsCheck:
        """The environment's connector behind the pre-booking rights check: the only way actions are sent.

        A reconnect made by any process (a new generation of the connection) is noticed here, before the next
        call: what the check knew of the previous connection user is forgotten. (Tokens are read from the
        database before every call anyway.)"""
        connector = await self.connector(environment)
        if environment not in self._checks:
            ttl = timedelta(seconds=self.options.rights_cache_seconds)
            self._checks[environment] = RightsCheck(connector, clock=self.clock, ttl=ttl)
        generation = await self.store.read(storage.connection_generation, await self._connection(environment))
        if self._generations.get(environment) != generation:
            self._checks[environment].forget()
            self._generations[environment] = generation
        return self._checks[environment]

    async def connect(self, environment: str, grant: str, connected_by: str) -> ConnectionUser:
        """Finish connecting: the connection runs under whoever authorized, for all its administrations.

        Like every other use of the integration, (re)connecting waits while a kill switch is off.
        """
        if await self.store.read(_switched_off, self.key, environment):
            raise SwitchedOff(f"the {self.integration.name} switch for {environment} is off; "
                              f"connect again after switching it on")
        connector = await self.connector(environment)
        with calling_as(CallClass.RIGHTS):
            user = await connector.connect(grant)
        # Another user may open other administrations: what the check knew is void.
        if environment in self._checks:
            self._checks[environment].forget()
        connection = await self._connection(environment)
        self._generations[environment] = await self.store.read(storage.connection_generation, connection)
        key = self.key

        def record(db: Database) -> None:
            before = next((row for row in storage.connections(db, key) if row.id == connection), None)
            storage.record_connection_user(
                db, connection, user_id=user.user_id, user_name=user.user_name, full_name=user.full_name,
                current_administration=user.current_administration, connected_by=connected_by, now=self.clock(),
            )
            storage.append_audit(
                db, at=self.clock(), actor=connected_by, action="connection.connect", subject_type="connection",
                subject_id=f"{environment}/{key}",
                before={"user_name": before.user_name} if before and before.user_name else None,
                after={"user_name": user.user_name, "full_name": user.full_name},
            )

        await self.store.write(record)
        await self.check(environment)
        return user

    async def check(self, environment: str, cls: CallClass = CallClass.RIGHTS) -> list[dict]:
        """Ask the accounting system which administrations the connection user can open now, and keep it.
        Raises the connector's errors; an `AuthorizationError` also marks the connection refused (`refused`)."""
        connector = await self.connector(environment)
        connection = await self._connection(environment)
        generation = await self.store.read(storage.connection_generation, connection)
        try:
            with calling_as(cls):
                administrations = await connector.accessible_administrations()
        except AuthorizationError as refusal:
            await self.refused(environment, refusal, generation)
            raise
        accessible = [{"code": item.code, "name": item.name} for item in administrations]
        await self.store.write(storage.record_accessible, connection, accessible, self.clock())
        return accessible

    async def refused(self, environment: str, refusal: AuthorizationError, generation: int | None = None) -> None:
        """The accounting system refused the connection's credentials (a refresh token it does not know, a user
        blocked): nothing more can be done with it until a person connects it again. Marked in the database, for
        every process: its actions wait, queued (`storage.lane_heads`), the console says so, and it is logged once
        (the refusal's words, never a secret). `generation`: of the credentials refused (default: the one this
        process last used for actions), so that a refusal that crossed a reconnect marks nothing."""
        connection = await self._connection(environment)
        if generation is None:
            generation = self._generations.get(environment)
        if generation is None:
            generation = await self.store.read(storage.connection_generation, connection)
        if await self.store.write(storage.mark_connection_refused, connection, generation, str(refusal), self.clock()):
            log.warning("%s refused the credentials of %s's connection (%s): it needs a person to connect it again "
                        "in the console; its actions wait until then", self.integration.name, environment, refusal)

    async def any_access_token(self) -> str:
        """An access token of the first connected environment, for the API probe (`{exact_online_token}`: the
        integration's key with underscores, then `_token`). Raises ConnectorError when no environment is connected
        (there is nothing to sign in with) or the integration signs in without tokens."""
        rows = await self.store.read(storage.connections, self.key)
        # A connection whose credentials were refused signs in nowhere: the API is not down for it.
        connected = [row.environment for row in rows
                     if row.user_name and not row.refused_at and self.environment(row.environment)]
        if not connected:
            raise ConnectorError(f"no environment is connected to {self.integration.name} with credentials it "
                                 f"accepts, so there is no token to sign in with")
        connector = await self.connector(connected[0])
        if not hasattr(connector, "access_token"):
            raise ConnectorError(f"{self.integration.name} signs in without an access token")
        token: str = await connector.access_token()
        return token

    async def _connection(self, environment: str) -> int:
        # A connection's id never changes: ask the database once per environment, not on every use.
        if environment not in self._connection_ids:
            self._connection_ids[environment] = await self.store.write(storage.connection_id, environment, self.key)
        return self._connection_ids[environment]

    async def aclose(self) -> None:
        for connector in self._connectors.values():
            await connector.aclose()
        await self.http.aclose()


def _switched_off(db, integration: str, environment: str) -> bool:
    return not switches.may_send(switches.closed_scopes(db), integration, environment)


class Links:
    """Every registered integration as this process reaches it, sharing one call budget."""

    def __init__(self, registry: Registry, settings: Settings, store: Store, clock: Clock,
                 addresses: Mapping[str, str], sleep: Sleep = asyncio.sleep) -> None:
        self.registry, self.settings, self.store, self.clock = registry, settings, store, clock
        self.budget = CallBudget(clock=clock, sleep=sleep, reserve_fraction=settings.budgets.daily_reserve)
        self._links = {integration.key: IntegrationLink(integration, settings, store, clock,
                                                        addresses.get(integration.key, ""), self.budget, sleep)
                       for integration in registry}

    def __getitem__(self, key: str) -> IntegrationLink:
        """Raises `UnknownIntegration` naming the installed ones."""
        if key not in self._links:
            raise UnknownIntegration(key, self._links)
        return self._links[key]

    def __iter__(self):
        return iter(self._links.values())

    def for_environment(self, environment: str) -> IntegrationLink:
        found = self.settings.environment(environment)
        if found is None:
            raise UnknownEnvironment(f"no environment {environment!r} in the configuration")
        return self[found.integration]

    async def keep_budgets(self) -> None:
        """Write what changed in the call budget to the database, and take in what other processes heard."""
        reports = self.budget.drain()
        now = self.clock()
        if reports:
            await self.store.write(_record_budgets, reports, now)
        for row in await self.store.read(storage.budget_rows, now.date()):
            self.budget.adopt(row.integration, row.administration, row.minutely, row.daily)

    async def keep_budgets_forever(self, every: float = 1.0) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self.keep_budgets()
            except Exception:  # a locked file must not end the keeping for good
                log.exception("keeping the call budgets failed; trying again")

    async def aclose(self) -> None:
        for link in self._links.values():
            await link.aclose()


def _record_budgets(db, reports: list[BudgetReport], now: datetime) -> None:
    for report in reports:
        storage.record_budget(
            db, report.integration, report.administration,
            minutely=_triple(report.minutely), daily=_triple(report.daily),
            calls={cls.label: n for cls, n in report.calls.items()}, day=now.date(), now=now,
        )


def _triple(window: Window | None) -> tuple[int, int, datetime] | None:
    return None if window is None else (window.limit, window.remaining, window.reset_at)



LinksDep = NamedDependency[SkipValidation[Links]]
"""`links`: every installed integration's link; injected into handlers (`web.dependencies`)."""
