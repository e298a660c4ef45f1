"""The console's pages for probes: their standing, results, response-time chart, run and pause."""

from __future__ import annotations

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template
from markupsafe import Markup

from statuspage.core import storage
from statuspage.core.auth import Role
from statuspage.core.settings import Settings
from statuspage.incidents import operations
from statuspage.probes.api import probe_list
from statuspage.probes.charts import response_time_svg
from statuspage.probes.kinds import ConfiguredProbe, configured
from statuspage.probes.runner import ProberDep
from statuspage.web.api_support import PerformerDep
from statuspage.web.console import ConsoleDep, form_of
from statuspage.web.dependencies import SettingsDep, StoreDep
from statuspage.web.security import requires


class ProbeConsole(Controller):
    path = "/console"
    include_in_schema = False
    guards = [requires(Role.VIEWER)]

    @get("/probes")
    async def probes(self, console: ConsoleDep, store: StoreDep, settings: SettingsDep) -> Template:
        return console.render("probes/probes.html", probes=await probe_list(store, settings))

    @get("/probes/{key:str}")
    async def probe(self, console: ConsoleDep, store: StoreDep, settings: SettingsDep, key: FromPath[str]) -> Template:
        probe = _probe_settings(settings, key)
        results = await store.read(storage.probe_results, key, 120)
        zone = settings.zone
        # An unambiguous date (year first) and the zone, like every console timestamp.
        points = [(run.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z"), run.duration_ms, run.success)
                  for run in reversed(results)]
        standing = next(item for item in await probe_list(store, settings) if item.key == key)
        return console.render("probes/probe.html", probe=probe, standing=standing, results=results[:30],
                              chart=Markup(response_time_svg(points, f"Response times of {key}")))

    @post("/probes/{key:str}/run", guards=[requires(Role.OPERATOR)])
    async def run_probe(self, settings: SettingsDep, prober: ProberDep, key: FromPath[str]) -> Response:
        _probe_settings(settings, key)
        await prober.run(key)
        return Redirect(f"/console/probes/{key}")

    @post("/probes/{key:str}/pause", guards=[requires(Role.OPERATOR)])
    async def pause_probe(
        self, request: Request, performer: PerformerDep, settings: SettingsDep, key: FromPath[str]
    ) -> Response:
        _probe_settings(settings, key)
        paused = (await form_of(request)).get("paused") == "yes"
        await performer.perform(operations.pause_probe, key, paused)
        return Redirect(f"/console/probes/{key}")


def _probe_settings(settings: Settings, key: str) -> ConfiguredProbe:
    probe = next((probe for probe in configured(settings) if probe.key == key), None)
    if probe is None:
        raise NotFoundException(f"no probe {key!r}")
    return probe
