"""Load benchmark of the public status page: `/` and `/api/v2/summary.json`.

Why: during an outage every customer refreshes the status page at once, so the public pages must
hold up under a flood of requests. The issues' targets are stated relative to what runs in the same
run, because absolute numbers depend on the machine:

    our /api/v2/summary.json >= 0.3 x nginx static, with p99 latency under 10 ms (issue 4);
    the If-None-Match (304) rows no slower than the 200 rows, and `/` with p99 under 10 ms;
    `serve --workers 2` >= 1.2 x one worker on summary.json, server CPU reported per worker;
    nginx serving the exported summary.json and index.html >= 0.95 x nginx static of the same bytes,
    and a change reaching the exported files within one second under that load (issue 15).

What it does, all on 127.0.0.1 and within about (duration + warm-up) x 10 targets:

1. starts our service twice, each with a fresh database in a temporary directory and the demo off
   (its sandboxes would run inside the server process; `--demo` keeps it on): `serve` (one granian
   worker), and `serve --workers 2 --export-dir DIR`; waits for both and for the exported files;
2. starts nginx in the foreground (one process, generated config in the temporary directory) with
   two servers: static copies of summary.json and of the exported summary.json and index.html (the
   baselines), and the export directory served by the repository's `deploy/nginx-static.conf`;
3. runs wrk (`-t1 -c<connections> -d<duration>s --latency`, a separate process) against each target
   in turn; while wrk loads the exported index.html, an operator changes a component's status on the
   two-worker service every two seconds and the script times how long until nginx serves the change;
4. prints requests/s, p50/p99 latency, errors (non-2xx/3xx responses and socket errors), the ratio
   to the row's baseline, bytes per response, the CPU (in cores) used by the server and by wrk, and
   the server's CPU time per request; then PASS/FAIL lines for the targets. It exits 0 either way:
   a benchmark is a measurement, not a test.

Exit status 2 (with the apt-get command to run) when wrk or nginx is not installed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "bench" / "results"
HOST = "127.0.0.1"
SUMMARY_PATH = "/api/v2/summary.json"
READY_PATH = "/api/v2/status.json"
APT_COMMAND = "apt-get update && apt-get install -y wrk nginx-light"

TARGET_RATIO = 0.3  # our summary.json requests/s relative to nginx's static file
TARGET_P99_MS = 10.0
TARGET_WORKERS_RATIO = 1.2  # two workers' summary.json requests/s relative to one worker's
TARGET_EXPORT_RATIO = 0.95  # nginx serving the export relative to nginx static of the same bytes
TARGET_FRESHNESS_S = 1.0  # a change reaches the exported files within this
CHANGE_EVERY_S = 2.0  # how often the freshness probe changes something during its target
NGINX_SAMPLE = REPO_ROOT / "deploy" / "nginx-static.conf"

STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0


# --------------------------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    expected_status: int = 200
    server_pgid: int = 0  # process group whose CPU time is charged to this target
    baseline: str | None = None  # the target whose requests/s this one is compared with (None: nginx static)
    per_process: bool = False  # report the server's CPU per process (several workers)


@dataclass
class WrkResult:
    requests_per_sec: float
    p50_ms: float
    p99_ms: float
    requests: int
    bytes_read: float
    non_2xx_3xx: int
    socket_errors: dict[str, int]

    @property
    def errors(self) -> int:
        return self.non_2xx_3xx + sum(self.socket_errors.values())

    @property
    def bytes_per_response(self) -> float:
        return self.bytes_read / self.requests if self.requests else 0.0


@dataclass
class Measurement:
    target: str
    url: str
    conditional: bool
    probe_status: int | None
    result: WrkResult | None
    server_cores: float | None = None
    wrk_cores: float | None = None
    failure: str | None = None
    ratio: float | None = None  # requests/s relative to the target's baseline
    baseline: str | None = None
    server_cpu_us_per_request: float | None = None  # the server's CPU time per request: less load-dependent
    cores_by_process: list[float] = field(default_factory=list)  # with per_process: each busy process, busiest first

    @property
    def errors(self) -> int | None:
        return self.result.errors if self.result else None


class ToolMissing(Exception):
    pass


class BenchmarkError(Exception):
    pass


# --------------------------------------------------------------------------------------------
# CPU accounting (Linux /proc): cores used = CPU seconds / wall seconds


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_stats() -> Iterator[tuple[int, int, str, int]]:
    """(pid, pgrp, state, utime + stime in ticks) of every process, from /proc/<pid>/stat."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        yield int(entry.name), int(fields[2]), fields[0], int(fields[11]) + int(fields[12])


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group."""
    return [pid for pid, pgrp, state, _ in process_stats() if pgrp == pgid and state != "Z"]


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU time of the live processes in a process group."""
    return sum(ticks for _, pgrp, _, ticks in process_stats() if pgrp == pgid) / CLOCK_TICKS


def group_cpu_by_process(pgid: int) -> dict[int, float]:
    """User + system CPU seconds of each live process in a process group."""
    return {pid: ticks / CLOCK_TICKS for pid, pgrp, _, ticks in process_stats() if pgrp == pgid}


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --------------------------------------------------------------------------------------------
# Processes


def find_tool(name: str) -> str | None:
    """`shutil.which`, also looking in the sbin directories an unprivileged PATH may lack."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/local/sbin"])
    return shutil.which(name, path=path)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_group(argv: list[str], log_path: Path, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a process in its own session (so its process group can be killed as a whole)."""
    with open(log_path, "wb") as log:
        return subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after a few seconds."""
    pgid = process.pid  # start_new_session: the leader's pid is the group id
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline:
            process.poll()  # reap the leader
            if not group_members(pgid):
                break
            time.sleep(0.05)
        else:
            continue  # still alive: escalate
        break
    process.wait(timeout=STOP_TIMEOUT_S)


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --------------------------------------------------------------------------------------------
# HTTP helpers (standard library only)


def http_get(url: str, headers: Mapping[str, str] | None = None, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:  # includes 304 Not Modified
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def wait_ready(base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchmarkError(f"{base_url} exited with status {process.returncode}:\n{log_tail(log_path)}")
        try:
            if http_get(base_url + READY_PATH, timeout=1.0)[0] == 200:
                return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.1)
    raise BenchmarkError(f"{base_url} not ready after {STARTUP_TIMEOUT_S:.0f} s:\n{log_tail(log_path)}")


def etag_of(url: str) -> tuple[str, bytes]:
    status, headers, body = http_get(url)
    if status != 200 or "etag" not in headers:
        raise BenchmarkError(f"GET {url}: expected 200 with an ETag, got {status} {sorted(headers)}")
    return headers["etag"], body


# --------------------------------------------------------------------------------------------
# Our service and the nginx baseline


def start_service(workdir: Path, port: int, *, workers: int = 1, export_dir: Path | None = None,
                  demo: bool = False) -> subprocess.Popen[bytes]:
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "statuspage.log"
    argv = [sys.executable, "-m", "statuspage", "serve", "--host", HOST, "--port", str(port),
            "--db", str(workdir / "statuspage.db"), "--workers", str(workers)]
    if export_dir is not None:
        argv += ["--export-dir", str(export_dir)]
    environ = os.environ | {"STATUSPAGE_DEMO": "true" if demo else "false"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, cwd=REPO_ROOT, env=environ, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    wait_ready(f"http://{HOST}:{port}", process, log_path)
    return process


def operator_token(workdir: Path) -> str:
    """A new operator token in the service's database (`statuspage token create`)."""
    workdir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "statuspage", "token", "create", "--name", "bench", "--role",
                           "operator", "--db", str(workdir / "statuspage.db")], cwd=REPO_ROOT, capture_output=True,
                          text=True, env=os.environ | {"STATUSPAGE_DEMO": "false"}, timeout=60)
    if done.returncode != 0:
        raise BenchmarkError(f"statuspage token create failed: {done.stderr.strip()}")
    return done.stdout.strip()


def wait_exported(export_dir: Path, files: tuple[str, ...]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not all((export_dir / name).is_file() for name in files):
        if time.monotonic() > deadline:
            raise BenchmarkError(f"the export in {export_dir} lacks {files} after {STARTUP_TIMEOUT_S:.0f} s")
        time.sleep(0.1)


NGINX_CONFIG = """\
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;

events {{
    worker_connections 4096;
}}

http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    # Keep connections open like granian does (nginx's default closes one every 1000 requests).
    keepalive_requests 1000000;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    types {{
        application/json json;
    }}
    default_type application/octet-stream;

    server {{
        listen {host}:{port};
        root {dir}/www;
    }}
    include {dir}/export-server.conf;
}}
"""


def export_server(export_dir: Path, port: int) -> str:
    """The repository's sample nginx server for the export (deploy/nginx-static.conf), on `port` and `export_dir`."""
    sample = NGINX_SAMPLE.read_text()
    server = re.sub(r"^\s*listen 80;$", f"    listen {HOST}:{port};", sample, count=1, flags=re.MULTILINE)
    server = re.sub(r"^\s*root /srv/statuspage;$", f"    root {export_dir};", server, count=1, flags=re.MULTILINE)
    if server.count(f"listen {HOST}:{port};") != 1 or server.count(f"root {export_dir};") != 1:
        raise BenchmarkError(f"{NGINX_SAMPLE} no longer has the `listen 80;` and `root /srv/statuspage;` lines "
                             "the benchmark replaces")
    return server


def start_nginx(nginx: str, workdir: Path, port: int, static: Mapping[str, bytes], export_dir: Path,
                export_port: int) -> subprocess.Popen[bytes]:
    """nginx in the foreground, one process: `static` (path: bytes) as static files on `port`, and the export
    directory through the sample configuration on `export_port`."""
    nginx_dir = workdir / "nginx"
    for path, body in static.items():
        static_file = nginx_dir / "www" / path.lstrip("/")
        static_file.parent.mkdir(parents=True, exist_ok=True)
        static_file.write_bytes(body)
    summary = static[SUMMARY_PATH]
    config = nginx_dir / "nginx.conf"
    (nginx_dir / "export-server.conf").write_text(export_server(export_dir, export_port))
    config.write_text(NGINX_CONFIG.format(dir=nginx_dir, host=HOST, port=port))
    log_path = nginx_dir / "stdout.log"
    argv = [nginx, "-p", str(nginx_dir), "-e", str(nginx_dir / "error.log"), "-c", str(config)]
    process = start_group(argv, log_path)
    base_url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchmarkError(f"nginx exited with status {process.returncode}:\n"
                                 f"{log_tail(log_path)}\n{log_tail(nginx_dir / 'error.log')}")
        try:
            status, _, body = http_get(base_url + SUMMARY_PATH, timeout=1.0)
            if status == 200 and body == summary:
                return process
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.1)
    raise BenchmarkError(f"nginx not serving {SUMMARY_PATH} after {STARTUP_TIMEOUT_S:.0f} s")


# --------------------------------------------------------------------------------------------
# wrk


TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
BINARY_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}


def parse_duration_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not match:
        raise ValueError(f"unrecognised wrk duration {text!r}")
    return float(match[1]) * TIME_UNITS_MS[match[2]]


def parse_wrk(output: str) -> WrkResult:
    """Parse `wrk --latency` output: Requests/sec, the 50%/99% lines, totals and errors."""
    def find(pattern: str) -> re.Match[str]:
        match = re.search(pattern, output, re.MULTILINE)
        if not match:
            raise ValueError(f"wrk output lacks {pattern!r}:\n{output}")
        return match

    totals = find(r"^\s*(\d+) requests in [\d.]+\w+, ([\d.]+)([KMGTP]?)B read")
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(
        requests_per_sec=float(find(r"^Requests/sec:\s+([\d.]+)")[1]),
        p50_ms=parse_duration_ms(find(r"^\s+50%\s+(\S+)")[1]),
        p99_ms=parse_duration_ms(find(r"^\s+99%\s+(\S+)")[1]),
        requests=int(totals[1]),
        bytes_read=float(totals[2]) * BINARY_UNITS[totals[3]],
        non_2xx_3xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=(dict(zip(("connect", "read", "write", "timeout"), map(int, socket_errors.groups()), strict=True))
                       if socket_errors else {}),
    )


def wrk_argv(wrk: str, target: Target, connections: int, duration: int) -> list[str]:
    argv = [wrk, "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
    for name, value in target.headers.items():
        argv += ["-H", f"{name}: {value}"]
    return argv + [target.url]


def run_wrk(wrk: str, target: Target, connections: int, duration: int) -> tuple[str, str, int]:
    completed = subprocess.run(wrk_argv(wrk, target, connections, duration), capture_output=True,
                               text=True, timeout=duration + 30)
    return completed.stdout, completed.stderr, completed.returncode


def measure(wrk: str, target: Target, connections: int, duration: int, warmup: int) -> Measurement:
    probe_status = http_get(target.url, target.headers)[0]
    measurement = Measurement(target.name, target.url, bool(target.headers), probe_status, None)
    if probe_status != target.expected_status:
        measurement.failure = f"probe answered {probe_status}, expected {target.expected_status}"
    if warmup > 0:
        run_wrk(wrk, target, connections, warmup)

    by_process_before = group_cpu_by_process(target.server_pgid)
    wrk_before, started = children_cpu_seconds(), time.monotonic()
    stdout, stderr, returncode = run_wrk(wrk, target, connections, duration)
    wall = time.monotonic() - started
    by_process = group_cpu_by_process(target.server_pgid)
    used = {pid: seconds - by_process_before.get(pid, 0.0) for pid, seconds in by_process.items()}
    server_seconds = sum(used.values())
    measurement.server_cores = server_seconds / wall
    measurement.wrk_cores = (children_cpu_seconds() - wrk_before) / wall
    if target.per_process:
        measurement.cores_by_process = sorted((seconds / wall for seconds in used.values() if seconds / wall >= 0.01),
                                              reverse=True)

    if returncode != 0:
        measurement.failure = f"wrk exited {returncode}: {stderr.strip() or stdout.strip()}"
        return measurement
    after = http_get(target.url, target.headers)[0]
    if after != target.expected_status and not measurement.failure:
        measurement.failure = f"answered {after} after the run, expected {target.expected_status} (ETag changed?)"
    try:
        measurement.result = parse_wrk(stdout)
    except ValueError as error:
        measurement.failure = str(error)
    if measurement.result and measurement.result.requests:
        measurement.server_cpu_us_per_request = server_seconds / measurement.result.requests * 1e6
    return measurement


# --------------------------------------------------------------------------------------------
# Report


COLUMNS = ("target", "req/s", "p50 ms", "p99 ms", "errors", "x base", "B/resp", "server CPU", "µs/req", "wrk CPU")


def table_row(m: Measurement) -> tuple[str, ...]:
    def fmt(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    r = m.result
    return (
        m.target,
        fmt(r.requests_per_sec if r else None, ",.0f"),
        fmt(r.p50_ms if r else None, ".2f"),
        fmt(r.p99_ms if r else None, ".2f"),
        "FAILED" if r is None else (f"{r.errors} ERRORS" if r.errors else "0"),
        fmt(m.ratio, ".2f"),
        fmt(r.bytes_per_response if r else None, ",.0f"),
        fmt(m.server_cores, ".2f") + (f" ({' + '.join(f'{c:.2f}' for c in m.cores_by_process)})"
                                      if m.cores_by_process else ""),
        fmt(m.server_cpu_us_per_request, ",.0f"),
        fmt(m.wrk_cores, ".2f"),
    )


def print_table(measurements: list[Measurement]) -> None:
    rows = [COLUMNS] + [table_row(m) for m in measurements]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        print("  ".join(cells))
        if index == 0:
            print("  ".join("-" * width for width in widths))
    for m in measurements:
        if m.failure:
            print(f"note: {m.target}: {m.failure}")
        if m.result and m.result.errors:
            print(f"note: {m.target}: {m.result.non_2xx_3xx} non-2xx/3xx responses, socket errors {m.result.socket_errors}")


Verdict = tuple[str, bool, str]  # (check, passed, detail)


def verdicts(measurements: list[Measurement], freshness: list[float]) -> list[Verdict]:
    """The issues' conditions, each a PASS only from a run without errors."""
    by_name = {m.target: m for m in measurements}

    def clean(*names: str) -> bool:
        return all(by_name[name].result is not None and by_name[name].errors == 0 for name in names)

    def rps(name: str) -> float:
        result = by_name[name].result
        return result.requests_per_sec if result else 0.0

    def caveat(*names: str) -> str:
        return "" if clean(*names) else " (run failed or had errors)"

    found: list[Verdict] = []
    nginx, summary = "nginx static summary.json", "summary.json"
    ratio = rps(summary) / rps(nginx) if rps(nginx) else 0.0
    found.append(("summary.json throughput", clean(nginx, summary) and ratio >= TARGET_RATIO,
                  f"{rps(summary):,.0f}/s = {ratio:.2f} x nginx's {rps(nginx):,.0f}/s (need >= {TARGET_RATIO} x)"
                  f"{caveat(nginx, summary)}"))
    for name in (summary, "/", "/, 2 workers"):
        result = by_name[name].result
        p99 = result.p99_ms if result else float("inf")
        found.append((f"{name} latency", clean(name) and p99 < TARGET_P99_MS,
                      f"p99 {p99:.2f} ms (need < {TARGET_P99_MS:g} ms){caveat(name)}"))
    for name in (summary, "/"):
        conditional = f"{name} If-None-Match"
        cpu = [by_name[n].server_cpu_us_per_request or 0.0 for n in (conditional, name)]
        found.append((f"{conditional} no slower", clean(name, conditional) and rps(conditional) >= rps(name),
                      f"{rps(conditional):,.0f}/s against {rps(name):,.0f}/s with 200 "
                      f"({rps(conditional) / rps(name) if rps(name) else 0:.2f} x); server CPU {cpu[0]:,.0f} against "
                      f"{cpu[1]:,.0f} µs a request{caveat(name, conditional)}"))
    two = "summary.json, 2 workers"
    ratio = rps(two) / rps(summary) if rps(summary) else 0.0
    cores = " + ".join(f"{c:.2f}" for c in by_name[two].cores_by_process) or "-"
    found.append(("2 workers", clean(two, summary) and ratio >= TARGET_WORKERS_RATIO,
                  f"{rps(two):,.0f}/s = {ratio:.2f} x one worker's {rps(summary):,.0f}/s (need >= "
                  f"{TARGET_WORKERS_RATIO} x); server CPU by process {cores} cores{caveat(two, summary)}"))
    for name in ("summary.json", "index.html"):
        exported, copy = f"nginx export {name}", f"nginx static {name} (same bytes)"
        ratio = rps(exported) / rps(copy) if rps(copy) else 0.0
        found.append((f"export {name}", clean(exported, copy) and ratio >= TARGET_EXPORT_RATIO,
                      f"{rps(exported):,.0f}/s = {ratio:.2f} x nginx static of the same bytes "
                      f"(need >= {TARGET_EXPORT_RATIO} x){caveat(exported, copy)}"))
    slowest = max(freshness) if freshness else float("inf")
    found.append(("export freshness", bool(freshness) and slowest <= TARGET_FRESHNESS_S,
                  f"changes under load reached nginx's exported summary.json in "
                  f"{', '.join(f'{x:.2f}' for x in freshness) or '-'} s (need each <= {TARGET_FRESHNESS_S:g} s)"))
    return found


# --------------------------------------------------------------------------------------------
# Freshness of the export under load


class FreshnessProbe:
    """While wrk loads nginx, change a component's status on the service every CHANGE_EVERY_S seconds (an
    operator override, set and cleared in turn) and time, from the service's answer to the change, until
    nginx serves an exported summary.json that shows it."""

    def __init__(self, service_base: str, token: str, export_base: str) -> None:
        self.service_base, self.token, self.export_base = service_base, token, export_base
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        summary = json.loads(http_get(export_base + SUMMARY_PATH)[2])
        self.component = next(c["id"] for c in summary["components"] if not c.get("group"))

    def _exported_status(self) -> str | None:
        status, _, body = http_get(self.export_base + SUMMARY_PATH, timeout=5.0)
        if status != 200:
            return None
        return next((c["status"] for c in json.loads(body)["components"] if c["id"] == self.component), None)

    def _change(self, outage: bool) -> None:
        request = urllib.request.Request(
            f"{self.service_base}/api/v1/components/{self.component}/override", method="PUT" if outage else "DELETE",
            data=json.dumps({"status": "major_outage", "reason": "bench"}).encode() if outage else None,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()

    def _run(self) -> None:
        outage = True
        while not self._stop.wait(CHANGE_EVERY_S):
            try:
                self._change(outage)
                changed = time.monotonic()
                while (self._exported_status() == "major_outage") != outage:
                    if time.monotonic() - changed > 10 * TARGET_FRESHNESS_S:
                        raise BenchmarkError("the change did not reach the export within ten times the target")
                    time.sleep(0.005)
                self.latencies.append(time.monotonic() - changed)
            except (OSError, urllib.error.URLError, BenchmarkError, ValueError) as error:
                self.failures.append(str(error))
            outage = not outage

    def __enter__(self) -> FreshnessProbe:
        self._thread = threading.Thread(target=self._run, name="freshness-probe", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


def save_results(args: argparse.Namespace, measurements: list[Measurement], verdict: list[Verdict],
                 freshness: list[float], versions: dict[str, str]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC)
    path = RESULTS_DIR / f"load-{stamp:%Y%m%dT%H%M%SZ}.json"
    document = {
        "timestamp": stamp.isoformat(timespec="seconds"),
        "settings": {"duration_s": args.duration, "connections": args.connections, "warmup_s": args.warmup,
                     "wrk_threads": 1, "demo": args.demo},
        "load_average": os.getloadavg(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), **versions},
        "measurements": [{**asdict(m), "errors": m.errors} for m in measurements],
        "freshness_s": freshness,
        "verdict": [{"check": name, "passed": passed, "detail": detail} for name, passed, detail in verdict],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def tool_versions(wrk: str, nginx: str) -> dict[str, str]:
    def first_line(argv: list[str]) -> str:
        done = subprocess.run(argv, capture_output=True, text=True)
        lines = (done.stdout + done.stderr).strip().splitlines()
        return lines[0] if lines else "?"

    granian = subprocess.run([sys.executable, "-c", "import granian; print(granian.__version__)"],
                             capture_output=True, text=True).stdout.strip()
    return {"wrk": first_line([wrk, "-v"]), "nginx": first_line([nginx, "-v"]),
            "granian": granian or "?", "python": platform.python_version()}


# --------------------------------------------------------------------------------------------
# Main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk per target (default 10)")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections (default 50)")
    parser.add_argument("--warmup", type=int, default=1,
                        help="seconds of unmeasured wrk before each target (default 1; 0 to skip)")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/load-<time>.json")
    parser.add_argument("--demo", action="store_true",
                        help="run the services with the demo on, as README's first command does (its sandboxes "
                             "then run inside the server process)")
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.connections < 1 or args.warmup < 0:
        parser.error("--duration and --connections must be positive, --warmup not negative")
    return args


def require_tools() -> tuple[str, str]:
    wrk, nginx = find_tool("wrk"), find_tool("nginx")
    missing = [name for name, path in (("wrk", wrk), ("nginx", nginx)) if path is None]
    if missing:
        raise ToolMissing(f"bench/load.py needs {' and '.join(missing)}; install with:\n    {APT_COMMAND}")
    assert wrk and nginx
    return wrk, nginx


@contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into SystemExit so the cleanup in `finally` blocks runs."""
    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def build_targets(one: str, two: str, nginx_base: str, export_base: str, one_pgid: int, two_pgid: int,
                  nginx_pgid: int) -> list[Target]:
    summary_etag, _ = etag_of(one + SUMMARY_PATH)
    page_etag, _ = etag_of(one + "/")
    static = "nginx static summary.json"
    return [
        Target(static, nginx_base + SUMMARY_PATH, server_pgid=nginx_pgid),
        Target("summary.json", one + SUMMARY_PATH, server_pgid=one_pgid),
        Target("summary.json If-None-Match", one + SUMMARY_PATH, {"If-None-Match": summary_etag}, 304, one_pgid,
               baseline="summary.json"),
        Target("/", one + "/", server_pgid=one_pgid),
        Target("/ If-None-Match", one + "/", {"If-None-Match": page_etag}, 304, one_pgid, baseline="/"),
        Target("summary.json, 2 workers", two + SUMMARY_PATH, server_pgid=two_pgid, baseline="summary.json",
               per_process=True),
        Target("/, 2 workers", two + "/", server_pgid=two_pgid, baseline="/", per_process=True),
        Target("nginx static summary.json (same bytes)", nginx_base + "/export-copy" + SUMMARY_PATH,
               server_pgid=nginx_pgid),
        Target("nginx export summary.json", export_base + SUMMARY_PATH, server_pgid=nginx_pgid,
               baseline="nginx static summary.json (same bytes)"),
        Target("nginx static index.html (same bytes)", nginx_base + "/export-copy/index.html", server_pgid=nginx_pgid),
        Target("nginx export index.html", export_base + "/index.html", server_pgid=nginx_pgid,
               baseline="nginx static index.html (same bytes)"),
    ]


# The target during which the freshness probe changes the page: nginx at its busiest on the exported page.
FRESHNESS_TARGET = "nginx export index.html"


def run(args: argparse.Namespace, wrk: str, nginx: str) -> None:
    processes: list[subprocess.Popen[bytes]] = []
    workdir = Path(tempfile.mkdtemp(prefix="statuspage-bench-"))
    try:
        one_port, two_port, nginx_port, export_port = free_port(), free_port(), free_port(), free_port()
        one, two = f"http://{HOST}:{one_port}", f"http://{HOST}:{two_port}"
        nginx_base, export_base = f"http://{HOST}:{nginx_port}", f"http://{HOST}:{export_port}"
        export_dir = workdir / "export"
        print(f"starting statuspage (one worker) on {one} and statuspage --workers 2 --export-dir on {two} "
              f"(databases in {workdir}; demo {'on' if args.demo else 'off'})", flush=True)
        processes.append(service := start_service(workdir / "one", one_port, demo=args.demo))
        token = operator_token(workdir / "two")
        processes.append(service2 := start_service(workdir / "two", two_port, workers=2, export_dir=export_dir,
                                                   demo=args.demo))
        wait_exported(export_dir, ("index.html", SUMMARY_PATH.lstrip("/")))
        _, summary = etag_of(one + SUMMARY_PATH)
        static = {SUMMARY_PATH: summary,
                  "/export-copy" + SUMMARY_PATH: (export_dir / SUMMARY_PATH.lstrip("/")).read_bytes(),
                  "/export-copy/index.html": (export_dir / "index.html").read_bytes()}
        print(f"starting nginx on {nginx_base} (static copies) and {export_base} ({NGINX_SAMPLE.name} on the export)",
              flush=True)
        processes.append(baseline := start_nginx(nginx, workdir, nginx_port, static, export_dir, export_port))
        targets = build_targets(one, two, nginx_base, export_base, service.pid, service2.pid, baseline.pid)

        print(f"wrk -t1 -c{args.connections} -d{args.duration:g}s --latency, {args.warmup:g} s warm-up each, "
              f"{len(targets)} targets, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}\n", flush=True)
        measurements: list[Measurement] = []
        freshness: list[float] = []
        for target in targets:
            print(f"  {target.name} ...", flush=True)
            if target.name == FRESHNESS_TARGET:
                with FreshnessProbe(two, token, export_base) as probe:
                    measurements.append(measure(wrk, target, args.connections, args.duration, args.warmup))
                freshness = probe.latencies
                for failure in probe.failures:
                    print(f"note: freshness probe: {failure}")
            else:
                measurements.append(measure(wrk, target, args.connections, args.duration, args.warmup))

        by_name = {m.target: m for m in measurements}
        for target, m in zip(targets, measurements, strict=True):
            base = by_name[target.baseline or "nginx static summary.json"]
            m.baseline = base.target
            if base.result and m.result:
                m.ratio = m.result.requests_per_sec / base.result.requests_per_sec
        print()
        print_table(measurements)
        print("\n(x base: requests/s relative to the row's baseline: nginx static summary.json, or the row it is compared "
              "with in the verdicts; server CPU and wrk CPU are cores used: CPU seconds / wall seconds, with each busy "
              "server process in brackets for several workers; µs/req = server CPU time per request; B/resp = bytes "
              f"read per response; load average afterwards {os.getloadavg()[0]:.1f})")

        verdict = verdicts(measurements, freshness)
        print("\nissue targets:")
        for name, passed, detail in verdict:
            print(f"  {'PASS' if passed else 'FAIL'}  {name}: {detail}")
        if not args.no_save:
            path = save_results(args, measurements, verdict, freshness, tool_versions(wrk, nginx))
            print(f"\nresults written to {path.relative_to(REPO_ROOT)}")
    finally:
        for process in reversed(processes):
            stop_group(process)
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        wrk, nginx = require_tools()
    except ToolMissing as error:
        print(error, file=sys.stderr)
        return 2
    try:
        with terminate_on_sigterm():
            run(args, wrk, nginx)
    except BenchmarkError as error:
        print(f"bench/load.py: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench/load.py: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
