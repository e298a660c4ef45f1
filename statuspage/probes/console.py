"""The console's pages for probes: their standing, results, response-time chart, run and pause."""

from __future__ import annotations

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template
from markupsafe import Markup

from statuspage.core import storage
from statuspage.core.auth import Role
from statuspage.core.settings import ProbeSettings
from statuspage.incidents import operations
from statuspage.probes.api import probe_list
from statuspage.probes.charts import response_time_svg
from statuspage.web.api_support import perform
from statuspage.web.console import form_of, render
from statuspage.web.security import requires


class ProbeConsole(Controller):
    path = "/console"
    include_in_schema = False
    guards = [requires(Role.VIEWER)]

    @get("/probes")
    async def probes(self, request: Request) -> Template:
        return render(request, "probes/probes.html", probes=await probe_list(request))

    @get("/probes/{key:str}")
    async def probe(self, request: Request, key: FromPath[str]) -> Template:
        settings = request.app.state.settings
        probe = _probe_settings(request, key)
        results = await request.app.state.store.read(storage.probe_results, key, 120)
        zone = settings.zone
        # An unambiguous date (year first) and the zone, like every console timestamp.
        points = [(storage.moment(row["at"]).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z"), row["duration_ms"],
                   bool(row["success"])) for row in reversed(results)]
        standing = next(item for item in await probe_list(request) if item.key == key)
        return render(request, "probes/probe.html", probe=probe, standing=standing, results=results[:30],
                      chart=Markup(response_time_svg(points, f"Response times of {key}")))

    @post("/probes/{key:str}/run", guards=[requires(Role.OPERATOR)])
    async def run_probe(self, request: Request, key: FromPath[str]) -> Response:
        _probe_settings(request, key)
        await request.app.state.prober.run(key)
        return Redirect(f"/console/probes/{key}")

    @post("/probes/{key:str}/pause", guards=[requires(Role.OPERATOR)])
    async def pause_probe(self, request: Request, key: FromPath[str]) -> Response:
        _probe_settings(request, key)
        paused = (await form_of(request)).get("paused") == "yes"
        await perform(request, operations.pause_probe, key, paused)
        return Redirect(f"/console/probes/{key}")


def _probe_settings(request: Request, key: str) -> ProbeSettings:
    probe = next((probe for probe in request.app.state.settings.probes if probe.key == key), None)
    if probe is None:
        raise NotFoundException(f"no probe {key!r}")
    return probe
