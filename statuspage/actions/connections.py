"""The service's side of the connections to Exact Online: tokens kept in SQLite, "Connect to Exact
Online" for an environment, and which linked administrations the connection user cannot reach —
the question nobody could answer quickly in October 2019.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import msgspec

from integrations.base import ConnectionUser, ConnectorError
from integrations.exact_online.connector import ExactOnlineConnector
from integrations.exact_online.oauth import OAuthApp, authorization_url
from integrations.exact_online.rate_limits import RateLimits
from integrations.exact_online.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from integrations.exact_online.tokens import Tokens
from integrations.rights import RightsCheck
from statuspage.actions import switches
from statuspage.core import storage
from statuspage.core.clock import Clock
from statuspage.core.settings import EnvironmentSettings, Settings
from statuspage.core.storage import Store

EXACT_ONLINE = "exact-online"
CALLBACK_PATH = "/console/connections/exact-online/callback"
STATE_LIFETIME = timedelta(minutes=15)


class UnknownEnvironment(ConnectorError):
    """An environment the configuration does not name: there is no connection to make or use."""


class SwitchedOff(ConnectorError):
    """Work that needs the integration, asked while its kill switch is off."""


def _switched_off(db, environment: str) -> bool:
    return not switches.may_send(switches.closed_scopes(db), EXACT_ONLINE, environment)


class SqliteTokenStore:
    """A connection's tokens in its row, so that a rotated refresh token survives a restart."""

    def __init__(self, store: Store, connection: int) -> None:
        self.store, self.connection = store, connection

    async def load(self) -> Tokens | None:
        text = await self.store.read(storage.connection_tokens, self.connection)
        return None if text is None else msgspec.json.decode(text, type=Tokens)

    async def save(self, tokens: Tokens) -> None:
        await self.store.write(storage.save_connection_tokens, self.connection, msgspec.json.encode(tokens).decode())


@dataclass(frozen=True)
class Reach:
    """One linked administration, and whether the connection user could open it when last checked."""

    code: str
    name: str
    reachable: bool


def reach(environment: EnvironmentSettings, accessible: list[dict] | None) -> list[Reach]:
    codes = {item["code"] for item in accessible or []}
    return [Reach(item.code, item.name, item.code in codes) for item in environment.administrations]


# ---------------------------------------------------------------------------------------------
# The OAuth `state`: which environment is being connected, by whom, until when — signed, so that
# nobody can send an operator back to us with a code for another environment.


def make_state(secret: str, environment: str, session: str, expires: datetime) -> str:
    stamp = str(int(expires.timestamp()))
    return f"{environment}.{stamp}.{_mac(secret, environment, session, stamp)}"


def read_state(secret: str, state: str, session: str, now: datetime) -> str | None:
    """The environment a state was made for, if it was made by us, for this session, and is not stale."""
    environment, _, rest = state.partition(".")
    stamp, _, mac = rest.partition(".")
    if not stamp.isdigit() or not hmac.compare_digest(_mac(secret, environment, session, stamp), mac):
        return None
    return environment if now.timestamp() < int(stamp) else None


def _mac(secret: str, environment: str, session: str, stamp: str) -> str:
    message = f"{environment}|{session}|{stamp}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


# ---------------------------------------------------------------------------------------------


class ExactOnlineLink:
    """The app's one registration with Exact Online (or its sandbox), and a connector per connection."""

    def __init__(self, settings: Settings, store: Store, clock: Clock, base_url: str, http: httpx.AsyncClient) -> None:
        self.settings, self.store, self.clock, self.http = settings, store, clock, http
        sandbox = settings.exact_online.uses_sandbox
        self.app = OAuthApp(
            client_id=SANDBOX_CLIENT_ID if sandbox else settings.exact_online.client_id,
            client_secret=SANDBOX_CLIENT_SECRET if sandbox else os.environ.get("STATUSPAGE_EXACT_CLIENT_SECRET", ""),
            redirect_uri=settings.page.url.rstrip("/") + CALLBACK_PATH,
            base_url=base_url,
        )
        # Exact's limits are per app and division, whichever connection calls.
        self.rate_limits = RateLimits(clock=clock, sleep=asyncio.sleep)
        self._connectors: dict[int, ExactOnlineConnector] = {}
        self._checks: dict[str, RightsCheck] = {}
        self._connection_ids: dict[str, int] = {}

    def authorization_url(self, state: str) -> str:
        return authorization_url(self.app.client_id, self.app.redirect_uri, state, base_url=self.app.base_url)

    def environment(self, key: str) -> EnvironmentSettings | None:
        return next((environment for environment in self.settings.environments if environment.key == key), None)

    async def connector(self, environment: str) -> ExactOnlineConnector:
        if self.environment(environment) is None:
            raise UnknownEnvironment(f"no environment {environment!r} in the configuration")
        connection = await self._connection(environment)
        if connection not in self._connectors:
            self._connectors[connection] = ExactOnlineConnector(
                self.app, SqliteTokenStore(self.store, connection), http=self.http, clock=self.clock,
                rate_limits=self.rate_limits,
            )
        return self._connectors[connection]

    async def checked(self, environment: str) -> RightsCheck:
        """The environment's connector behind the pre-booking rights check: the only way actions are sent."""
        if environment not in self._checks:
            ttl = timedelta(seconds=self.settings.exact_online.rights_cache_seconds)
            self._checks[environment] = RightsCheck(await self.connector(environment), clock=self.clock, ttl=ttl)
        return self._checks[environment]

    async def connect(self, environment: str, code: str, connected_by: str) -> ConnectionUser:
        """Finish the authorization: the connection runs under whoever authorized, for all its administrations.

        Like every other use of the integration, (re)connecting waits while a kill switch is off.
        """
        if await self.store.read(_switched_off, environment):
            raise SwitchedOff(f"the Exact Online switch for {environment} is off; connect again after switching it on")
        connector = await self.connector(environment)
        user = await connector.connect(code)
        # Another user may open other administrations: what the check knew is void.
        if environment in self._checks:
            self._checks[environment].forget()
        connection = await self._connection(environment)

        def record(db) -> None:
            before = next((row for row in storage.connections(db, EXACT_ONLINE) if row["id"] == connection), None)
            storage.record_connection_user(
                db, connection, user_id=user.user_id, user_name=user.user_name, full_name=user.full_name,
                current_administration=user.current_administration, connected_by=connected_by, now=self.clock(),
            )
            storage.append_audit(
                db, at=self.clock(), actor=connected_by, action="connection.connect", subject_type="connection",
                subject_id=f"{environment}/{EXACT_ONLINE}",
                before={"user_name": before["user_name"]} if before and before["user_name"] else None,
                after={"user_name": user.user_name, "full_name": user.full_name},
            )

        await self.store.write(record)
        await self.check(environment)
        return user

    async def check(self, environment: str) -> list[dict]:
        """Ask Exact Online which administrations the connection user can open now, and keep the answer."""
        connector = await self.connector(environment)
        accessible = [{"code": item.code, "name": item.name} for item in await connector.accessible_administrations()]
        connection = await self._connection(environment)
        await self.store.write(storage.record_accessible, connection, accessible, self.clock())
        return accessible

    async def any_access_token(self) -> str:
        """An access token of the first connected environment, for the API probe (`{exact_online_token}`).
        Raises ConnectorError when no environment is connected: there is nothing to sign in with."""
        rows = await self.store.read(storage.connections, EXACT_ONLINE)
        connected = [row["environment"] for row in rows if row["user_name"] and self.environment(row["environment"])]
        if not connected:
            raise ConnectorError("no environment is connected to Exact Online, so there is no token to sign in with")
        return await (await self.connector(connected[0])).access_token()

    async def _connection(self, environment: str) -> int:
        # A connection's id never changes: ask the database once per environment, not on every use.
        if environment not in self._connection_ids:
            self._connection_ids[environment] = await self.store.write(storage.connection_id, environment, EXACT_ONLINE)
        return self._connection_ids[environment]

    async def aclose(self) -> None:
        for connector in self._connectors.values():
            await connector.aclose()
