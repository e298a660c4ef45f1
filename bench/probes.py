"""Benchmarks of the probes (run by hand; not a test).

1. Scheduler overhead: 1,000 http probes on the real APScheduler schedule against a local nginx,
   for a while: probes per second sustained, CPU milliseconds per probe run, runs missed.
2. The rights probe across 10,000 administrations (100 environments of 100 each) against the
   Exact Online sandbox: how long it takes, how many API calls, and whether any limit was hit.

    .venv/bin/python bench/probes.py                  # 1,000 probes every 10 s for 60 s; 10,000 administrations
    .venv/bin/python bench/probes.py --probes 200 --seconds 30 --skip-rights
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from integrations.exact_online.sandbox import (  # noqa: E402
    ExactOnlineSandbox,
    Faults,
    SandboxDivision,
    SandboxUser,
    Scenario,
)
from statuspage.actions.connections import ExactOnlineLink  # noqa: E402
from statuspage.config import load_settings  # noqa: E402
from statuspage.core import storage  # noqa: E402
from statuspage.core.clock import system_clock  # noqa: E402
from statuspage.page.snapshot import component_definitions  # noqa: E402
from statuspage.probes.runner import Prober  # noqa: E402
from statuspage.probes.scheduler import make_scheduler  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_nginx(folder: Path) -> tuple[subprocess.Popen, str]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        sys.exit("nginx is needed: apt-get update && apt-get install -y nginx-light")
    port = free_port()
    (folder / "www").mkdir()
    (folder / "www" / "health.json").write_text('{"status": "ok"}')
    (folder / "nginx.conf").write_text(f"""
daemon off; master_process off; worker_processes 1; pid {folder}/nginx.pid; error_log {folder}/error.log;
events {{ worker_connections 4096; }}
http {{ access_log off; client_body_temp_path {folder}; proxy_temp_path {folder}; fastcgi_temp_path {folder};
        uwsgi_temp_path {folder}; scgi_temp_path {folder}; keepalive_requests 1000000;
        server {{ listen 127.0.0.1:{port}; root {folder}/www; }} }}
""")
    process = subprocess.Popen([nginx, "-c", str(folder / "nginx.conf")], start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/health.json"
    for _ in range(100):
        try:
            httpx.get(url)
            return process, url
        except httpx.TransportError:
            time.sleep(0.05)
    sys.exit("nginx did not start")


def settings_with(folder: Path, text: str, **environ: str):
    config = folder / "bench.toml"
    config.write_text(text)
    return load_settings(config, environ={"STATUSPAGE_DB": str(folder / "bench.db"), **environ})


async def bench_scheduler(count: int, interval: float, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        nginx, url = start_nginx(folder)
        try:
            probes = "".join(f"""
[[probes]]
key = "p{n:04d}"
kind = "http"
url = "{url}"
interval = {interval}
timeout = 5
conditions = ["[STATUS] == 200", "[BODY].status == \\"ok\\""]
""" for n in range(count))
            settings = settings_with(folder, f"[demo]\nenabled = false\n[probing]\nat_once = 50\n{probes}")
            store = storage.Store(settings.database.path)
            store.open()
            async with httpx.AsyncClient(limits=httpx.Limits(max_connections=100)) as http:
                prober = Prober(settings, store, system_clock, http, None)
                scheduler = make_scheduler(settings, store, system_clock, prober)
                cpu_before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
                scheduler.start()
                await asyncio.sleep(seconds)
                scheduler.shutdown(wait=False)
                elapsed = time.perf_counter() - started
                cpu_after = resource.getrusage(resource.RUSAGE_SELF)
            runs = await store.read(lambda db: db.execute("SELECT count(*), sum(success) FROM probe_results").fetchone())
            store.close()
        finally:
            os.killpg(nginx.pid, signal.SIGTERM)
            nginx.wait()
    total, passed = runs
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    expected = count * (seconds / interval)
    print(f"scheduler: {count:,} http probes every {interval:g} s for {elapsed:.0f} s against local nginx")
    print(f"  {total:,} runs ({passed:,} passed) = {total / elapsed:.1f} probes/s sustained; "
          f"the schedule asked for about {expected:,.0f}")
    print(f"  CPU {cpu:.1f} s for the service process = {cpu / max(total, 1) * 1000:.2f} ms per probe run "
          f"(scheduling, the HTTP call, the conditions and the stored result)")


def big_scenario(environments: int, per_environment: int) -> Scenario:
    divisions, users = [], []
    for e in range(environments):
        codes = [100_000 + e * per_environment + n for n in range(per_environment)]
        divisions += [SandboxDivision(code, f"Administratie {code}", f"Klant {e}") for code in codes]
        # Every tenth user has lost one administration: the probe must find exactly those.
        reachable = set(codes[1:] if e % 10 == 0 else codes)
        users.append(SandboxUser(f"user{e}", f"User {e}", reachable, current_division=codes[-1]))
    return Scenario(name="bench", divisions=divisions, users=users)


async def bench_rights(environments: int, per_environment: int, limit: int) -> None:
    scenario = big_scenario(environments, per_environment)
    sandbox = ExactOnlineSandbox(scenario, faults=Faults(minutely_limit=limit, daily_limit=1_000_000,
                                                         token_calls_per_day=10_000)).start()
    os.environ["STATUSPAGE_EXACT_CLIENT_SECRET"] = "sandbox-secret"
    try:
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            env_config = "".join(
                f'[[environments]]\nkey = "env-{e}"\nname = "Klant {e}"\nadministrations = ['
                + ", ".join(f'{{ code = "{d.code}", name = "{d.name}" }}'
                            for d in scenario.divisions[e * per_environment:(e + 1) * per_environment])
                + "]\n" for e in range(environments))
            settings = settings_with(folder, f"""[demo]
enabled = false
[[components]]
key = "exact-online"
name = "Exact Online"
[[probes]]
key = "rights"
kind = "rights"
component = "exact-online"
interval = 3600
timeout = 3600
conditions = ["[ERRORS] == 0"]
{env_config}""", STATUSPAGE_EXACT_BASE_URL=sandbox.url, STATUSPAGE_EXACT_CLIENT_ID="sandbox-client")
            store = storage.Store(settings.database.path)
            store.open()
            await store.write(storage.sync_components, component_definitions(settings), system_clock())
            async with httpx.AsyncClient() as http:
                link = ExactOnlineLink(settings, store, system_clock, sandbox.url, http)
                for e in range(environments):
                    answer = await http.post(f"{sandbox.url}/api/oauth2/auth", data={
                        "client_id": "sandbox-client", "redirect_uri": link.app.redirect_uri, "state": "b",
                        "username": f"user{e}"})
                    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
                    await link.connect(f"env-{e}", code, "bench")
                before = len((await http.get(f"{sandbox.url}/_sandbox/traffic")).json()["exchanges"])
                started = time.perf_counter()
                run = await Prober(settings, store, system_clock, http, link).run("rights")
                elapsed = time.perf_counter() - started
                traffic = (await http.get(f"{sandbox.url}/_sandbox/traffic")).json()
            store.close()
    finally:
        sandbox.stop()
    statuses = Counter(x["status"] for x in traffic["exchanges"][before:])
    print(f"rights probe: {environments} connections, {environments * per_environment:,} linked administrations, "
          f"sandbox limit {limit} calls/minute per division")
    print(f"  {elapsed:.1f} s; found {len(run.detail['unreachable'])} unreachable administrations "
          f"(expected {environments // 10}), {len(run.detail['errors'])} errors")
    print(f"  API calls answered by status: {dict(sorted(statuses.items()))}; 429s: {statuses.get(429, 0)}")
    if len(traffic["exchanges"]) >= 1000:
        print("  (the sandbox keeps its last 1000 exchanges: the counts above are a lower bound)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probes", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--environments", type=int, default=100)
    parser.add_argument("--per-environment", type=int, default=100)
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--skip-scheduler", action="store_true")
    parser.add_argument("--skip-rights", action="store_true")
    args = parser.parse_args()
    if not args.skip_scheduler:
        asyncio.run(bench_scheduler(args.probes, args.interval, args.seconds))
    if not args.skip_rights:
        asyncio.run(bench_rights(args.environments, args.per_environment, args.limit))


if __name__ == "__main__":
    main()
