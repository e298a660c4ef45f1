"""Running probes: each kind observes something and hands its values to the probe's conditions.

- http: an API's reachability and latency ([STATUS], [RESPONSE_TIME], [BODY]).
- rights: the pre-booking rights check, run ahead of bookings: for every connection of an
  integration, can its user still open every linked administration? ([UNREACHABLE], [ERRORS]).
  Asked through the connector (system/Divisions), within the API's limits, never by failing.
- backlog: queued and delayed invoice actions ([QUEUED], [DELAYED], [OLDEST_AGE] in seconds).
- sync: did each connection's master-data sync finish by the morning? ([LATE], [NEVER], [AGE]).

Every run is stored, moves the probe's standing (hysteresis, `rules`), and, when the
standing's verdict changes, the component's shown status with it.
"""

from __future__ import annotations

import asyncio
import logging
import time as stopwatch
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

import httpx
from litestar.di import NamedDependency
from litestar.params import SkipValidation

from integrations.base import ConnectorError
from integrations.budget import CallClass
from statuspage.actions.connections import Links, reach
from statuspage.core import storage
from statuspage.core.clock import Clock
from statuspage.core.settings import Settings
from statuspage.core.storage import Store
from statuspage.core.vocabulary import ComponentStatus
from statuspage.core.waiting import within
from statuspage.incidents.status_history import record_statuses_now
from statuspage.probes import conditions
from statuspage.probes.freshness import EndedSync, finished_syncs, sync_freshness
from statuspage.probes.hysteresis import Standing, advance, claim_for
from statuspage.probes.kinds import BacklogProbe, ConfiguredProbe, HttpProbe, RightsProbe, SyncProbe, configured

log = logging.getLogger("statuspage.probes")
TOKEN_PLACEHOLDER = "{{{}_token}}"
"""`{exact_online_token}`: an integration's key with underscores, then `_token`."""


def integrations_called(probe: ConfiguredProbe, keys: Iterable[str]) -> set[str]:
    """The integrations (of `keys`) a probe calls: a rights probe its own; an http probe those whose address or
    token its URL or headers name (`{exact_online}`, `{exact_online_token}`); backlog and sync probes none."""
    match probe:
        case RightsProbe():
            return {probe.integration}
        case HttpProbe():
            text = " ".join([probe.url, *probe.headers.values()])
            return {key for key in keys if "{" + key.replace("-", "_") in text}
    return set()


@dataclass
class Observation:
    values: dict[str, Any]
    detail: Any = None


@dataclass(frozen=True)
class ProbeRun:
    probe: str
    at: datetime
    duration_ms: float
    success: bool
    results: list[conditions.ConditionResult] = field(default_factory=list)
    error: str | None = None
    detail: Any = None
    verdict: ComponentStatus | None = None


class Prober:
    """Runs the configured probes against what the service can reach."""

    def __init__(self, settings: Settings, store: Store, clock: Clock, http: httpx.AsyncClient,
                 links: Links | None) -> None:
        self.settings, self.store, self.clock, self.http, self.links = settings, store, clock, http, links
        self._at_once = asyncio.Semaphore(settings.probing.at_once)

    def probe(self, key: str) -> ConfiguredProbe:
        found = next((probe for probe in configured(self.settings) if probe.key == key), None)
        if found is None:
            known = ", ".join(probe.key for probe in configured(self.settings)) or "none are configured"
            raise KeyError(f"no probe {key!r}; known: {known}")
        return found

    async def run(self, key: str, *, record: bool = True) -> ProbeRun:
        """Run one probe once, within its timeout, and (unless told not to) record what it found."""
        probe = self.probe(key)
        async with self._at_once:
            started, at = stopwatch.perf_counter(), self.clock()
            try:
                observation = await within(probe.timeout, self.observe(probe))
                error = None
            except TimeoutError:
                observation, error = Observation({}), f"no answer within {probe.timeout:g} s"
            except (httpx.HTTPError, ConnectorError, OSError) as failure:
                observation, error = Observation({}), f"{type(failure).__name__}: {failure}"
            duration_ms = (stopwatch.perf_counter() - started) * 1000
        observation.values.setdefault("RESPONSE_TIME", duration_ms)
        parsed = [conditions.parse(text) for text in probe.conditions or probe.default_conditions]
        results = conditions.evaluate_all(parsed, observation.values)
        success = error is None and conditions.all_passed(results)
        run = ProbeRun(probe.key, at, duration_ms, success, results, error, observation.detail)
        if record:
            verdict = await self.store.write(self._record, probe, run, parsed)
            run = ProbeRun(run.probe, run.at, run.duration_ms, run.success, run.results, run.error, run.detail, verdict)
        return run

    def _record(self, db, probe: ConfiguredProbe, run: ProbeRun, parsed: list[conditions.Condition]) -> ComponentStatus | None:
        storage.insert_probe_result(
            db, probe.key, at=run.at, duration_ms=run.duration_ms, success=run.success,
            conditions=[{"condition": r.condition, "success": r.success, "description": r.description} for r in run.results],
            error=run.error, detail=run.detail,
        )
        state = storage.probe_state(db, probe.key)
        before = Standing(state.failures, state.successes, state.verdict) if state else Standing()
        failed = [conditions.placeholders(condition) for condition, result in zip(parsed, run.results, strict=True)
                  if not result.success]
        claim = claim_for(failed, run.error is not None, ComponentStatus(probe.failing_status))
        after = advance(before, run.success, claim=claim, failure_threshold=probe.failure_threshold,
                        success_threshold=probe.success_threshold)
        storage.save_probe_state(db, probe.key, component=probe.component, failures=after.failures,
                                 successes=after.successes, verdict=after.verdict.value if after.verdict else None,
                                 now=run.at)
        if after.verdict != before.verdict:
            record_statuses_now(db, self.settings, run.at)
            # The one log line a probe writes: when its verdict changes, not on every run.
            log.warning("probe %s now claims %s for %s (%s)", probe.key,
                        after.verdict.value if after.verdict else "nothing (recovered)", probe.component or "no component",
                        run.error or "; ".join(r.description for r in run.results if not r.success) or "passing")
        return after.verdict

    # -----------------------------------------------------------------------------------------
    # What each kind observes: the placeholders its Struct in `kinds` declares

    def observe(self, probe: ConfiguredProbe) -> Awaitable[Observation]:
        match probe:
            case HttpProbe():
                return self._http(probe)
            case RightsProbe():
                return self._rights(probe)
            case BacklogProbe():
                return self._backlog(probe)
            case SyncProbe():
                return self._sync(probe)

    def url_of(self, probe: HttpProbe) -> str:
        """A probe's URL; `{page}` stands for this page's address and `{exact_online}` (an integration's key
        with underscores) for that integration's, so the shipped probes follow wherever the service and the
        sandboxes listen."""
        places = {"page": self.settings.page.url.rstrip("/")}
        for key, options in self.settings.integrations.items():
            address = self.links[key].base_url if self.links is not None else options.base_url
            places[key.replace("-", "_")] = address.rstrip("/")
        return probe.url.format_map(places)

    async def headers_of(self, probe: HttpProbe) -> dict[str, str]:
        """A probe's headers; `{exact_online_token}` (any installed integration's key with underscores, then
        `_token`) stands for one of its connections' current access token, so that the probe signs in as bookings
        do and a 401 (our credentials refused) fails it."""
        headers = dict(probe.headers)
        for key in self.settings.integrations:
            placeholder = TOKEN_PLACEHOLDER.format(key.replace("-", "_"))
            if not any(placeholder in value for value in headers.values()):
                continue
            if self.links is None:
                raise ConnectorError(f"no link to {key} in this process to sign in with")
            token = await self.links[key].any_access_token()
            headers = {name: value.replace(placeholder, token) for name, value in headers.items()}
        return headers

    async def _http(self, probe: HttpProbe) -> Observation:
        headers = await self.headers_of(probe)
        started = stopwatch.perf_counter()
        response = await self.http.request(probe.method, self.url_of(probe), headers=headers,
                                           timeout=probe.timeout, follow_redirects=False)
        elapsed = (stopwatch.perf_counter() - started) * 1000
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        return Observation({"STATUS": response.status_code, "RESPONSE_TIME": elapsed, "BODY": body})

    async def _rights(self, probe: RightsProbe) -> Observation:
        """Every connection's user against every administration linked to it: lost rights show up
        here, before an invoice is refused. Listed per connection for operators only."""
        if self.links is None:
            raise ConnectorError(f"no connection to {probe.integration} is available to this process")
        link = self.links[probe.integration]
        rows = {row.environment: row for row in await self.store.read(storage.connections, probe.integration)}
        unreachable: list[dict[str, str]] = []
        errors: list[dict[str, str]] = []
        checked = 0
        for environment in self.settings.environments:
            connection = rows.get(environment.key)
            if environment.integration != probe.integration or connection is None or not connection.user_name:
                continue  # not connected: nothing to check, and nothing can be booked there either
            checked += 1
            if connection.refused_at:  # asking again would only spend a token call on the same refusal
                errors.append({"environment": environment.key,
                               "error": f"credentials refused since {storage.iso(connection.refused_at)} "
                                        f"({connection.refused_reason}); a person must connect it again"})
                continue
            try:
                accessible = {item["code"] for item in await link.check(environment.key, CallClass.PROBE)}
            except ConnectorError as failure:
                errors.append({"environment": environment.key, "error": str(failure)})
                continue
            unreachable += [{"environment": environment.key, "administration": item.code, "name": item.name}
                            for item in environment.administrations if item.code not in accessible]
        return Observation({"UNREACHABLE": len(unreachable), "ERRORS": len(errors), "CONNECTIONS": checked},
                           {"unreachable": unreachable, "errors": errors})

    async def _backlog(self, probe: BacklogProbe) -> Observation:
        found = await self.store.read(storage.backlog_of, probe.integration)
        age = (self.clock() - found.oldest).total_seconds() if found.oldest else 0.0
        return Observation({"QUEUED": found.queued, "DELAYED": found.delayed, "RUNNING": found.running,
                            "OLDEST_AGE": round(age)})

    async def _sync(self, probe: SyncProbe) -> Observation:
        """The cause of the morning's delayed invoices in seed 000: a nightly sync still running at
        opening time. After `due_by` local time, the last sync of each environment of the probe's integration
        must have finished today. Judged: the syncs the invoice product reports (POST /api/v1/syncs) and this
        service's own syncs of everything (nightly, monthly, manual; issue 13), whichever finished last; one of
        ours counts when it read every administration the connection user can open (`finished_syncs`)."""
        judged_environments = [environment.key for environment in self.settings.environments
                               if environment.integration == probe.integration]

        def read(db) -> dict[str, datetime]:
            reported = storage.last_syncs(db, probe.integration)
            unreachable = {row.environment: {item.code for item in reach(environment, row.accessible)
                                             if not item.reachable}
                           for row in storage.connections(db, probe.integration) if row.accessible is not None
                           and (environment := self.settings.environment(row.environment)) is not None}
            ended = [EndedSync(row["environment"], row["finished_at"], frozenset(row["failed"]))
                     for row in storage.ended_syncs_of_everything(db) if row["environment"] in judged_environments]
            ours = finished_syncs(ended, unreachable)
            return {key: max(moment for moment in (reported.get(key), ours.get(key)) if moment is not None)
                    for key in reported.keys() | ours.keys()}

        last = await self.store.read(read)
        hours, minutes = map(int, probe.due_by.split(":"))
        judged = sync_freshness(last, judged_environments, self.clock(), self.settings.zone, time(hours, minutes))
        return Observation({"LATE": len(judged.late), "NEVER": len(judged.never), "AGE": round(judged.oldest_age)},
                           {"late": judged.late, "never": judged.never})


RETENTION_CHECK = timedelta(hours=1)


async def trim(store: Store, settings: Settings, clock: Clock) -> int:
    """Forget probe results older than the retention; state changes (probe_events) are kept."""
    return await store.write(storage.trim_probe_results, clock() - timedelta(days=settings.probing.retention_days))


ProberDep = NamedDependency[SkipValidation[Prober]]
"""`prober`: runs a probe now; injected into handlers (`web.dependencies`)."""
