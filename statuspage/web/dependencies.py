"""The services handlers are given, by name, through Litestar's dependency injection.

A handler names what it uses as a typed parameter (`store: StoreDep`) instead of looking it up in
`request.app.state`; `app.create_app` registers each service once, at the app level. Each alias marks the
parameter as an injected dependency explicitly (`NamedDependency`; injection by name alone warns since 2.24)
and skips validation (`SkipValidation`: a service object is handed over as it is, not checked against its
type on every request). Services of an area declare their alias beside the service (`page.public.PagesDep`,
`actions.connections.LinksDep`, `actions.dispatcher.DispatcherDep`, `probes.runner.ProberDep`), since this
module sits below those areas.
"""

from __future__ import annotations

from typing import Any

from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import SkipValidation

from statuspage.core.auth import Limiter
from statuspage.core.clock import Clock
from statuspage.core.settings import Settings
from statuspage.core.storage import Store

StoreDep = NamedDependency[SkipValidation[Store]]
SettingsDep = NamedDependency[SkipValidation[Settings]]
ClockDep = NamedDependency[SkipValidation[Clock]]
LimiterDep = NamedDependency[SkipValidation[Limiter]]
"""Both limiters have this type: `sign_in_limiter` (console sign-ins) and `subscribe_limiter` (subscriptions)."""
SecretDep = NamedDependency[SkipValidation[str]]
"""`oauth_state_secret`: signs the state an OAuth sign-in carries through the accounting system; `console_secret`:
signs the messages a console redirect carries to the next page."""


def provided(value: Any) -> Provide:
    """A service made with the app: the same object for every request."""
    return Provide(lambda: value, use_cache=True, sync_to_thread=False)


def started_in_lifespan(name: str) -> Provide:
    """A service the lifespan makes (it needs the HTTP client and the integrations' addresses) and keeps in
    `app.state[name]`. Read on every request, not cached: caching would keep the first lifespan's service
    after the app is started again (as tests do)."""

    def from_state(state: State) -> Any:
        return state[name]

    return Provide(from_state, use_cache=False, sync_to_thread=False)
