"""Probes over the JSON API: their last results and standing, their history, run now, pause; and the
master-data syncs the invoice product reports, which the sync probe watches."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, get, post, put
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED

from integrations.registry import ProbeKind
from statuspage.core import storage
from statuspage.core.auth import Role
from statuspage.core.clock import out_of_range
from statuspage.core.settings import Settings
from statuspage.core.storage import Store
from statuspage.core.vocabulary import ComponentStatus
from statuspage.incidents import operations
from statuspage.probes.kinds import configured
from statuspage.probes.runner import ProberDep, ProbeRun
from statuspage.web.api_support import PerformerDep
from statuspage.web.dependencies import SettingsDep, StoreDep
from statuspage.web.security import requires

Moment = Annotated[datetime, msgspec.Meta(tz=True)]


class ConditionResult(msgspec.Struct):
    condition: str
    success: bool
    description: str


class Result(msgspec.Struct):
    at: str
    duration_ms: float
    success: bool
    conditions: list[ConditionResult]
    error: str | None
    detail: Any = None


class Probe(msgspec.Struct):
    key: str
    kind: ProbeKind
    component: str | None
    interval: float
    paused: bool
    verdict: ComponentStatus | None  # the status the probe claims for its component now; null: none
    failures_in_a_row: int
    last: Result | None


class Paused(msgspec.Struct, forbid_unknown_fields=True):
    paused: bool


class SyncReport(msgspec.Struct, forbid_unknown_fields=True):
    environment: str
    integration: str
    """The environment's integration's key (`exact-online`, `twinfield`)."""
    kind: Literal["full", "incremental"]
    started_at: Moment
    finished_at: Moment


def _result(row: storage.ProbeResult) -> Result:
    return Result(storage.iso(row.at), row.duration_ms, row.success,
                  [ConditionResult(c.condition, c.success, c.description) for c in row.conditions], row.error, row.detail)


def _run(run: ProbeRun) -> Result:
    return Result(storage.iso(run.at), run.duration_ms, run.success,
                  [ConditionResult(r.condition, r.success, r.description) for r in run.results], run.error, run.detail)


async def probe_list(store: Store, settings: Settings) -> list[Probe]:
    def read(db) -> tuple[dict, dict]:
        return storage.probe_states(db), storage.latest_probe_results(db)

    states, latest = await store.read(read)
    listed = []
    for probe in configured(settings):
        state = states.get(probe.key) or storage.ProbeState(probe=probe.key)
        last = latest.get(probe.key)
        listed.append(Probe(probe.key, probe.kind, probe.component, probe.interval, state.paused,
                            state.verdict, state.failures, _result(last) if last else None))
    return listed


# The most results one answer lists.
RESULTS_KEPT = 200


def _known(settings: Settings, key: str) -> None:
    if not any(probe.key == key for probe in configured(settings)):
        raise NotFoundException(f"no probe {key!r}; GET /api/v1/probes lists them")


class ProbeController(Controller):
    path = "/probes"
    tags = ["Probes"]

    @get("/", guards=[requires(Role.VIEWER)])
    async def list_probes(self, store: StoreDep, settings: SettingsDep) -> list[Probe]:
        return await probe_list(store, settings)

    @get("/{key:str}/results", guards=[requires(Role.VIEWER)])
    async def results(
        self, store: StoreDep, settings: SettingsDep, key: FromPath[str],
        limit: Annotated[int, QueryParameter(ge=1, le=RESULTS_KEPT, description="how many, newest first")] = RESULTS_KEPT,
    ) -> list[Result]:
        """The probe's latest runs, newest first: `limit` of them (1–200, default 200)."""
        _known(settings, key)
        return [_result(row) for row in await store.read(storage.probe_results, key, limit)]

    @post("/{key:str}/run", guards=[requires(Role.OPERATOR)])
    async def run_now(self, settings: SettingsDep, prober: ProberDep, key: FromPath[str]) -> Result:
        _known(settings, key)
        return _run(await prober.run(key))

    @put("/{key:str}/paused", guards=[requires(Role.OPERATOR)])
    async def pause(
        self, performer: PerformerDep, store: StoreDep, settings: SettingsDep, key: FromPath[str],
        data: JSONBody[Paused],
    ) -> Probe:
        await performer.run(operations.pause_probe, key, data.paused)
        return next(probe for probe in await probe_list(store, settings) if probe.key == key)


class SyncController(Controller):
    path = "/syncs"
    tags = ["Probes"]

    @post("/", guards=[requires(Role.CLIENT)], status_code=HTTP_201_CREATED)
    async def report(self, store: StoreDep, settings: SettingsDep, data: JSONBody[SyncReport]) -> dict[str, int]:
        for field in ("started_at", "finished_at"):
            why = out_of_range(getattr(data, field), field)
            if why:
                raise HTTPException(status_code=400, detail=why)
        environment = settings.environment(data.environment)
        if environment is None:
            raise HTTPException(status_code=400, detail=f"unknown environment {data.environment!r}")
        if data.integration != environment.integration:
            raise HTTPException(status_code=400, detail=f"environment {data.environment!r} books into "
                                                        f"{environment.integration!r}, not {data.integration!r}")
        if data.finished_at < data.started_at:
            raise HTTPException(status_code=400, detail="finished_at lies before started_at")
        sync_id = await store.write(
            lambda db: storage.record_sync(db, environment=data.environment, integration=data.integration,
                                           kind=data.kind, started_at=data.started_at, finished_at=data.finished_at))
        return {"id": sync_id}
