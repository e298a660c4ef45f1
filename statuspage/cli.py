"""The `statuspage` command. Every subcommand takes --db and --config (or STATUSPAGE_DB and
STATUSPAGE_CONFIG); mistakes end in one line on stderr and exit status 2, never a traceback."""

from __future__ import annotations

import argparse
import contextlib
import errno
import getpass
import os
import socket
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from statuspage import sandboxes
from statuspage.config import load_settings
from statuspage.core import lease, logs, storage
from statuspage.core.auth import Role, new_token
from statuspage.core.clock import system_clock
from statuspage.core.operation import Actor, Refused
from statuspage.core.settings import ConfigError, Settings
from statuspage.core.storage import DatabaseUnavailable, open_database, write_transaction
from statuspage.incidents import operations
from statuspage.sandboxes import Sandboxes, SandboxUnavailable


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config, overrides=_overrides(args))
    except ConfigError as error:
        print(f"statuspage: configuration error: {error}", file=sys.stderr)
        return 2
    try:
        return args.run(settings, args)
    except (DatabaseUnavailable, SandboxUnavailable) as unavailable:
        return fail(str(unavailable))


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH", help="TOML configuration file (default: $STATUSPAGE_CONFIG, else the sample)")
    common.add_argument("--db", metavar="PATH", help="SQLite database file (default: $STATUSPAGE_DB, else statuspage.db here)")

    parser = argparse.ArgumentParser(prog="statuspage",
                                     description="Status page and incident control for accounting integrations.")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", parents=[common], help="run the web service")
    serve.add_argument("--host", help="address to listen on (default: from the configuration, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: from the configuration, 8080)")
    serve.add_argument("--workers", type=int, default=1, metavar="N",
                       help="web worker processes (default 1); the background work runs in exactly one of them, "
                            "the holder of the database lease")
    serve.add_argument("--web-only", action="store_true",
                       help="run no background work here: a 'statuspage worker' beside it does")
    serve.add_argument("--export-dir", metavar="DIR",
                       help="keep a static copy of the public site in DIR, current within a second of every change")
    serve.set_defaults(run=run_serve)

    export = commands.add_parser("export", parents=[common],
                                 help="write the public site as static files (for nginx or a CDN) and exit")
    export.add_argument("directory", metavar="DIR")
    export.set_defaults(run=run_export)

    worker = commands.add_parser("worker", parents=[common],
                                 help="run only the background work (actions, probes, notices, maintenance), "
                                      "while it holds the database lease")
    worker.set_defaults(run=run_worker)

    migrate = commands.add_parser("migrate", parents=[common], help="bring the database's schema up to date and exit")
    migrate.set_defaults(run=run_migrate)

    check = commands.add_parser("check-config", parents=[common], help="validate the configuration and exit")
    check.set_defaults(run=run_check_config)

    sandbox = commands.add_parser("sandbox", parents=[common],
                                  help="run a local stand-in of an accounting system's API (for demos and tests)")
    sandbox.add_argument("integration", help="the integration's key, e.g. exact-online")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    sandbox.add_argument("--seed", type=int, default=0, help="same seed, same tokens and entry numbers")
    sandbox.set_defaults(run=run_sandbox)

    probe = commands.add_parser("probe", help="list the configured probes, or run one once")
    probe_commands = probe.add_subparsers(title="probe commands", required=True, metavar="COMMAND")
    probe_list = probe_commands.add_parser("list", parents=[common], help="the probes with their last result")
    probe_list.set_defaults(run=run_probe_list)
    probe_run = probe_commands.add_parser("run", parents=[common],
                                          help="run one probe now and print what it found (exit 1 when it fails)")
    probe_run.add_argument("key")
    probe_run.add_argument("--host", help="where 'statuspage serve' listens, for {page} (default: where the serve "
                                          "running on this database listens, else the configuration's)")
    probe_run.add_argument("--port", type=int, help="the port 'statuspage serve' listens on, for {page}")
    probe_run.set_defaults(run=run_probe_once)

    token = commands.add_parser("token", help="manage API tokens of operators and clients")
    tokens = token.add_subparsers(title="token commands", required=True, metavar="COMMAND")
    create = tokens.add_parser("create", parents=[common], help="make a token and print it (once)")
    create.add_argument("--name", required=True, help="who or what uses it, unique (e.g. alice, invoice-product)")
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.set_defaults(run=run_token_create)
    listing = tokens.add_parser("list", parents=[common], help="list tokens (never the tokens themselves)")
    listing.set_defaults(run=run_token_list)
    revoke = tokens.add_parser("revoke", parents=[common], help="revoke a token by its name, or by --id")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("name", nargs="?", help="the token's name ('statuspage token list' shows them)")
    which.add_argument("--id", type=int, help="the token's id instead of its name")
    revoke.set_defaults(run=run_token_revoke)
    return parser


def _overrides(args: argparse.Namespace) -> dict[tuple[str, str], object]:
    serving = args.run in (run_serve, run_probe_once)  # probe run: where serve listens, for {page}
    return {
        ("database", "path"): args.db,
        ("server", "host"): args.host if serving else None,
        ("server", "port"): args.port if serving else None,
    }


def run_check_config(settings: Settings, args: argparse.Namespace) -> int:
    print(f"{settings.source}: {len(settings.groups)} groups, {len(settings.components)} components; configuration is valid")
    if not settings.components:
        # Valid, but the status page would show nothing: most likely the wrong file, or an empty one.
        print(f"statuspage: warning: {settings.source} defines no [[components]]: the status page will be empty",
              file=sys.stderr)
    return 0


def _operate(settings: Settings, work, *args):
    """Run one operation against the database as the command line's operator."""
    db = open_database(settings.database.path)
    try:
        with write_transaction(db):
            return work(db, settings, Actor(f"cli:{getpass.getuser()}"), system_clock(), *args)
    finally:
        db.close()


def run_token_create(settings: Settings, args: argparse.Namespace) -> int:
    token = new_token()
    try:
        token_id = _operate(settings, operations.create_token, args.name, args.role, token)
    except Refused as refused:
        return fail(str(refused))
    print(f"Token {token_id} for {args.name} ({args.role}); it is shown only now, keep it safe:", file=sys.stderr)
    print(token)
    return 0


def run_token_list(settings: Settings, args: argparse.Namespace) -> int:
    db = open_database(settings.database.path)
    try:
        rows = storage.list_tokens(db)
    finally:
        db.close()
    print(columns(["id", "name", "role", "created", "revoked"],
                  [[str(row["id"]), row["name"], row["role"], row["created_at"], row["revoked_at"] or "-"]
                   for row in rows]))
    return 0


def columns(header: list[str], rows: list[list[str]]) -> str:
    """A plain table: each column as wide as its widest cell, two spaces apart; the first (an id) right-aligned."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=False)]
    lines = []
    for cells in [header, *rows]:
        line = [cells[0].rjust(widths[0])] + [cell.ljust(width) for cell, width in zip(cells[1:], widths[1:],
                                                                                          strict=True)]
        lines.append("  ".join(line).rstrip())
    return "\n".join(lines)


def run_token_revoke(settings: Settings, args: argparse.Namespace) -> int:
    """By name, or by `--id`: a name made of digits is a name, never an id."""
    token_id: int = args.id
    if token_id is None:
        db = open_database(settings.database.path)
        try:
            row = storage.token_by_name(db, args.name)
        finally:
            db.close()
        if row is None:
            hint = f" (to revoke the token with id {args.name}: --id {args.name})" if args.name.isdigit() else ""
            return fail(f"no token named {args.name!r}; 'statuspage token list' shows them{hint}")
        token_id = row["id"]
    try:
        _operate(settings, operations.revoke_token, token_id)
    except Refused as refused:
        return fail(str(refused))
    print(f"Token {token_id} revoked; its console sessions are ended.", file=sys.stderr)
    return 0


def run_probe_list(settings: Settings, args: argparse.Namespace) -> int:
    db = open_database(settings.database.path)
    try:
        latest, states = storage.latest_probe_results(db), storage.probe_states(db)
    finally:
        db.close()
    if not settings.probes:
        print("no probes are configured ([[probes]] in the configuration)")
    for probe in settings.probes:
        last, state = latest.get(probe.key), states.get(probe.key) or storage.ProbeState(probe=probe.key)
        outcome = "never run" if last is None else (
            f"{'passed' if last.success else 'FAILED'} at {storage.iso(last.at)} in {last.duration_ms:.0f} ms")
        claims = f"claims {state.verdict}" if state.verdict else "claims nothing"
        paused = " (paused)" if state.paused else ""
        print(f"{probe.key:<28} {probe.kind:<8} every {probe.interval:>5g} s  {outcome}; {claims}{paused}")
    return 0


def run_probe_once(settings: Settings, args: argparse.Namespace) -> int:
    """Run one probe in this process and print what it found: against the sandboxes a running `serve` on the same
    database started (recorded in it, `statuspage.sandboxes`), and for `{page}` against where that serve listens,
    unless --host/--port or the configuration's page.url say otherwise. Exit 1 when the probe fails, 2 when it
    cannot run here (a sandbox it needs is not running)."""
    import asyncio

    import httpx

    from statuspage.actions.connections import Links
    from statuspage.core.installed import INSTALLED
    from statuspage.probes.runner import Prober, integrations_called

    probe = next((probe for probe in settings.probes if probe.key == args.key), None)
    if probe is None:
        known = ", ".join(probe.key for probe in settings.probes) or "none are configured"
        return fail(f"no probe {args.key!r}; known: {known}")
    db = open_database(settings.database.path)
    try:
        alive = sandboxes.alive(db)
    finally:
        db.close()
    on_sandbox = {integration.key: alive[sandboxes.sandbox_name(integration.key)]
                  for integration in INSTALLED if sandboxes.sandbox_name(integration.key) in alive}
    called = integrations_called(probe, settings.integrations)
    lacking = sandboxes.missing(INSTALLED, settings, on_sandbox, called)
    if lacking:
        return fail(f"probe {probe.key} calls {' and '.join(lacking)}, which runs against the demo's sandbox, and no "
                    f"'statuspage serve' runs one on {settings.database.path} now; start serve first, or set "
                    f"base_url under [integrations.<key>] to reach the real system")
    derived = f"http://{settings.server.host}:{settings.server.port}"
    if settings.page.url == derived and args.host is None and args.port is None and sandboxes.SERVE in alive:
        settings.page.url = alive[sandboxes.SERVE]  # no address of its own: the running serve's

    async def once():
        store = storage.Store(settings.database.path)
        store.open()
        try:
            async with httpx.AsyncClient() as http:
                links = Links(INSTALLED, settings, store, system_clock,
                              sandboxes.addresses(INSTALLED, settings, on_sandbox)) if called else None
                try:
                    return await Prober(settings, store, system_clock, http, links).run(args.key, record=False)
                finally:
                    if links is not None:
                        await links.keep_budgets()  # what this process spent, for the service to see
                        await links.aclose()
        finally:
            store.close()

    run = asyncio.run(once())
    print(f"{run.probe}: {'passed' if run.success else 'FAILED'} in {run.duration_ms:.0f} ms")
    if run.error:
        print(f"  error: {run.error}")
    for result in run.results:
        print(f"  {'ok  ' if result.success else 'FAIL'} {result.description}")
    if run.detail:
        print(f"  detail: {run.detail}")
    return 0 if run.success else 1


def fail(message: str) -> int:
    print(f"statuspage: error: {message}", file=sys.stderr)
    return 2


def run_sandbox(settings: Settings, args: argparse.Namespace) -> int:
    from statuspage.core.installed import INSTALLED

    with_sandbox = [integration.key for integration in INSTALLED if integration.sandbox is not None]
    if args.integration not in with_sandbox:
        return fail(f"no sandbox for {args.integration!r}; integrations with one: {', '.join(with_sandbox)}")
    if not 0 <= args.port < 65536:
        return fail(f"--port {args.port} is not a TCP port (1-65535, or 0 for a free one)")
    sandbox = INSTALLED.get(args.integration).sandbox
    assert sandbox is not None
    return sandbox.main(["--host", args.host, "--port", str(args.port), "--seed", str(args.seed)])


def run_migrate(settings: Settings, args: argparse.Namespace) -> int:
    """Apply the migrations not yet applied (under the file's migration lock) and exit."""
    open_database(settings.database.path).close()
    print(f"statuspage: {settings.database.path} is up to date", file=sys.stderr)
    return 0


def run_serve(settings: Settings, args: argparse.Namespace) -> int:
    """Serve with granian: `--workers` web worker processes, each contending for the background lease
    (statuspage/background.py) unless `--web-only`; exactly one holds it and runs the background work."""
    from granian.constants import Interfaces
    from granian.server import Server

    if args.workers < 1:
        return fail("--workers must be at least 1")
    refused = listen_refusal(settings.server.host, settings.server.port)
    if refused is not None:
        return fail(refused)
    if args.export_dir and (unwritable := directory_refusal(args.export_dir)) is not None:
        return fail(unwritable)
    # Migrate once, before any worker serves (the workers find nothing left to do).
    open_database(settings.database.path).close()
    # The server process builds the app from the environment: pass on what the flags chose.
    os.environ["STATUSPAGE_CONFIG"] = settings.source
    os.environ["STATUSPAGE_DB"] = settings.database.path
    os.environ["STATUSPAGE_HOST"] = settings.server.host
    os.environ["STATUSPAGE_PORT"] = str(settings.server.port)
    if args.web_only:
        os.environ["STATUSPAGE_BACKGROUND"] = "false"
    if args.export_dir:
        os.environ["STATUSPAGE_EXPORT_DIR"] = str(Path(args.export_dir).resolve())
    logs.configure()
    # The demo's sandboxes run here, once, however many workers serve: they find them in the database.
    with started_here(settings):
        print(f"statuspage: serving {settings.page.name} on http://{settings.server.host}:{settings.server.port}/ "
              f"(database {settings.database.path}, {args.workers} worker{'s' if args.workers > 1 else ''}"
              f"{', web only' if args.web_only else ''})", file=sys.stderr, flush=True)
        Server(
            "statuspage.app:app_from_environment",
            address=settings.server.host,
            port=settings.server.port,
            interface=Interfaces.ASGI,
            workers=args.workers,
            # A web worker that dies (killed mid-request, out of memory) is replaced; the others serve on, and
            # the background work moves to another worker through the lease.
            respawn_failed_workers=args.workers > 1,
            factory=True,
            # granian's own lines ("Listening at") carry no time; give them the service's UTC stamp.
            log_dictconfig={"formatters": {
                "generic": logs.formatter_config("%(asctime)s %(levelname)s granian: %(message)s"),
                "access": logs.formatter_config("%(message)s")}},
        ).serve()
    return 0


@contextlib.contextmanager
def started_here(settings: Settings) -> Iterator[Sandboxes]:
    """For `serve`'s main process: the sandboxes the configuration runs against, started (or found alive), and
    this service's address, recorded in the database for the workers and every other process
    (`statuspage.sandboxes`); stopped and forgotten when serving ends."""
    from statuspage.core.installed import INSTALLED

    url = sandboxes.reachable_url(settings.server.host, settings.server.port)
    db = open_database(settings.database.path)
    try:
        with write_transaction(db):
            found = sandboxes.find_or_start(db, INSTALLED, settings, system_clock())
            storage.record_listener(db, sandboxes.SERVE, url, lease.process_name(), system_clock())
    finally:
        db.close()
    try:
        yield found
    finally:
        found.stop()
        db = open_database(settings.database.path)
        try:
            with write_transaction(db):
                found.forget(db)
                storage.forget_listener(db, sandboxes.SERVE, url)
        finally:
            db.close()


def listen_refusal(host: str, port: int) -> str | None:
    """Why `serve` cannot listen on host:port, or None when it can.

    granian binds with SO_REUSEPORT (always, in 2.8), so a second `serve` on a port another one holds would
    start beside it and the kernel would split visitors between the two. A socket bound here without
    SO_REUSEPORT is refused while anything listens there; SO_REUSEADDR lets a restart bind over the last run's
    connections in TIME_WAIT. What starts between this check and granian's bind is not caught (a moment).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return (f"address already in use: something listens on {host}:{port} (another statuspage serve?); "
                        f"stop it, or choose another --port")
            return f"cannot listen on {host}:{port}: {error.strerror or error}"
    return None


def directory_refusal(directory: str) -> str | None:
    """Why the static copy cannot be written into `directory` (made when missing), or None when it can."""
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        return f"cannot export to {directory}: it is a file, not a directory"
    except OSError as error:
        return f"cannot export to {directory}: cannot make the directory ({error.strerror or error})"
    if not os.access(path, os.W_OK | os.X_OK):
        return f"cannot export to {directory}: no permission to write there"
    return None


def run_export(settings: Settings, args: argparse.Namespace) -> int:
    """Write the public site into DIR once (page/export.py): the same bytes the server answers."""
    if (unwritable := directory_refusal(args.directory)) is not None:
        return fail(unwritable)
    import asyncio

    from statuspage.page.export import export
    from statuspage.page.public import PublicPages
    from statuspage.web.templating import make_environment

    async def work() -> int:
        store = storage.Store(settings.database.path)
        await asyncio.to_thread(store.open)
        try:
            pages = PublicPages(settings, store, system_clock, make_environment(settings.templates_dir))
            return await export(pages, Path(args.directory))
        finally:
            await asyncio.to_thread(store.close)

    changed = asyncio.run(work())
    print(f"statuspage: exported the public site to {args.directory} ({changed} files changed)", file=sys.stderr)
    return 0


def run_worker(settings: Settings, args: argparse.Namespace) -> int:
    """Run the background work alone, under the lease, until SIGINT or SIGTERM."""
    import asyncio
    import signal

    from statuspage.app import run_services

    async def work() -> None:
        store = storage.Store(settings.database.path)
        await asyncio.to_thread(store.open)
        print(f"statuspage: background worker on {settings.database.path}", file=sys.stderr, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            async with run_services(settings, store, system_clock, background=True):
                await stop.wait()
        finally:
            await asyncio.to_thread(store.close)

    logs.configure()
    asyncio.run(work())
    return 0
