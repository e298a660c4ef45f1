"""Load benchmark of the public status page: `/` and `/api/v2/summary.json`.

Why: during an outage every customer refreshes the status page at once, so the public pages must
hold up under a flood of requests. The issue's target is stated relative to nginx serving the same
bytes as a static file, because absolute numbers depend on the machine:

    our /api/v2/summary.json >= 0.3 x nginx (same run), with p99 latency under 10 ms

What it does, all on 127.0.0.1 and within about (duration + warm-up) x 5 targets:

1. starts our service (`python -m statuspage serve`, granian, one worker) on a free port with a
   fresh database in a temporary directory, waits for /api/v2/status.json, and fetches the current
   summary.json bytes and the ETags of `/` and summary.json;
2. starts nginx in the foreground (one process, generated config in the temporary directory)
   serving a copy of those summary.json bytes as a static file on another free port: the baseline;
3. runs wrk (`-t1 -c<connections> -d<duration>s --latency`, a separate process) against: nginx's
   static summary, our summary.json, our summary.json with If-None-Match (the 304 path), our `/`,
   and our `/` with If-None-Match;
4. prints requests/s, p50/p99 latency, errors (non-2xx/3xx responses and socket errors), the ratio
   to nginx, bytes per response and the CPU (in cores) used by the server and by wrk, then PASS/FAIL
   lines for the target. It exits 0 either way: a benchmark is a measurement, not a test.

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
    ratio_to_nginx: float | None = None

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


def start_service(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    log_path = workdir / "statuspage.log"
    argv = [sys.executable, "-m", "statuspage", "serve", "--host", HOST, "--port", str(port),
            "--db", str(workdir / "statuspage.db")]
    process = start_group(argv, log_path, cwd=REPO_ROOT)
    wait_ready(f"http://{HOST}:{port}", process, log_path)
    return process


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
}}
"""


def start_nginx(nginx: str, workdir: Path, port: int, summary: bytes) -> subprocess.Popen[bytes]:
    """nginx in the foreground, one process, serving `summary` at SUMMARY_PATH as a static file."""
    nginx_dir = workdir / "nginx"
    static_file = nginx_dir / "www" / SUMMARY_PATH.lstrip("/")
    static_file.parent.mkdir(parents=True)
    static_file.write_bytes(summary)
    config = nginx_dir / "nginx.conf"
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

    server_before, wrk_before, started = group_cpu_seconds(target.server_pgid), children_cpu_seconds(), time.monotonic()
    stdout, stderr, returncode = run_wrk(wrk, target, connections, duration)
    wall = time.monotonic() - started
    measurement.server_cores = (group_cpu_seconds(target.server_pgid) - server_before) / wall
    measurement.wrk_cores = (children_cpu_seconds() - wrk_before) / wall

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
    return measurement


# --------------------------------------------------------------------------------------------
# Report


COLUMNS = ("target", "req/s", "p50 ms", "p99 ms", "errors", "x nginx", "B/resp", "server CPU", "wrk CPU")


def table_row(m: Measurement) -> tuple[str, ...]:
    def fmt(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    r = m.result
    return (
        m.target,
        fmt(r and r.requests_per_sec, ",.0f"),
        fmt(r and r.p50_ms, ".2f"),
        fmt(r and r.p99_ms, ".2f"),
        "FAILED" if r is None else (f"{r.errors} ERRORS" if r.errors else "0"),
        fmt(m.ratio_to_nginx, ".2f"),
        fmt(r and r.bytes_per_response, ",.0f"),
        fmt(m.server_cores, ".2f"),
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


def verdicts(nginx: Measurement, summary: Measurement) -> list[tuple[str, bool, str]]:
    """The issue's two conditions on our plain (unconditional) summary.json, as (name, passed, detail)."""
    clean = (nginx.result is not None and summary.result is not None
             and nginx.result.errors == 0 and summary.result.errors == 0)
    caveat = "" if clean else " (run failed or had errors)"
    if nginx.result and summary.result:
        ratio = summary.result.requests_per_sec / nginx.result.requests_per_sec
        p99 = summary.result.p99_ms
        ratio_detail = (f"{summary.result.requests_per_sec:,.0f}/s = {ratio:.2f} x nginx's "
                        f"{nginx.result.requests_per_sec:,.0f}/s (need >= {TARGET_RATIO} x = "
                        f"{TARGET_RATIO * nginx.result.requests_per_sec:,.0f}/s){caveat}")
        p99_detail = f"p99 {p99:.2f} ms (need < {TARGET_P99_MS:g} ms){caveat}"
        return [("throughput", clean and ratio >= TARGET_RATIO, ratio_detail),
                ("latency", clean and p99 < TARGET_P99_MS, p99_detail)]
    return [("throughput", False, "no result" + caveat), ("latency", False, "no result" + caveat)]


def save_results(args: argparse.Namespace, measurements: list[Measurement],
                 verdict: list[tuple[str, bool, str]], versions: dict[str, str]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC)
    path = RESULTS_DIR / f"load-{stamp:%Y%m%dT%H%M%SZ}.json"
    document = {
        "timestamp": stamp.isoformat(timespec="seconds"),
        "settings": {"duration_s": args.duration, "connections": args.connections, "warmup_s": args.warmup,
                     "wrk_threads": 1},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), **versions},
        "measurements": [{**asdict(m), "errors": m.errors} for m in measurements],
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


def build_targets(our_base: str, nginx_base: str, our_pgid: int, nginx_pgid: int) -> list[Target]:
    summary_etag, _ = etag_of(our_base + SUMMARY_PATH)
    page_etag, _ = etag_of(our_base + "/")
    return [
        Target("nginx static summary.json", nginx_base + SUMMARY_PATH, server_pgid=nginx_pgid),
        Target("summary.json", our_base + SUMMARY_PATH, server_pgid=our_pgid),
        Target("summary.json If-None-Match", our_base + SUMMARY_PATH, {"If-None-Match": summary_etag}, 304, our_pgid),
        Target("/", our_base + "/", server_pgid=our_pgid),
        Target("/ If-None-Match", our_base + "/", {"If-None-Match": page_etag}, 304, our_pgid),
    ]


def run(args: argparse.Namespace, wrk: str, nginx: str) -> None:
    processes: list[subprocess.Popen[bytes]] = []
    workdir = Path(tempfile.mkdtemp(prefix="statuspage-bench-"))
    try:
        our_port, nginx_port = free_port(), free_port()
        our_base, nginx_base = f"http://{HOST}:{our_port}", f"http://{HOST}:{nginx_port}"
        print(f"starting statuspage on {our_base} (database in {workdir})", flush=True)
        processes.append(service := start_service(workdir, our_port))
        _, summary = etag_of(our_base + SUMMARY_PATH)
        print(f"starting nginx on {nginx_base} with a copy of summary.json ({len(summary):,} bytes)", flush=True)
        processes.append(baseline := start_nginx(nginx, workdir, nginx_port, summary))
        targets = build_targets(our_base, nginx_base, service.pid, baseline.pid)

        print(f"wrk -t1 -c{args.connections} -d{args.duration:g}s --latency, {args.warmup:g} s warm-up each, "
              f"{len(targets)} targets, {os.cpu_count()} CPUs\n", flush=True)
        measurements: list[Measurement] = []
        for target in targets:
            print(f"  {target.name} ...", flush=True)
            measurements.append(measure(wrk, target, args.connections, args.duration, args.warmup))

        nginx_rps = measurements[0].result.requests_per_sec if measurements[0].result else None
        for m in measurements:
            if nginx_rps and m.result:
                m.ratio_to_nginx = m.result.requests_per_sec / nginx_rps
        print()
        print_table(measurements)
        print("\n(server CPU and wrk CPU are cores used: CPU seconds / wall seconds; B/resp = bytes read per response)")

        verdict = verdicts(measurements[0], measurements[1])
        print("\nissue target for /api/v2/summary.json (without If-None-Match):")
        for name, passed, detail in verdict:
            print(f"  {'PASS' if passed else 'FAIL'}  {name}: {detail}")
        if not args.no_save:
            path = save_results(args, measurements, verdict, tool_versions(wrk, nginx))
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
