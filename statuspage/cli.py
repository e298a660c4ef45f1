"""The `statuspage` command. Every subcommand takes --db and --config (or STATUSPAGE_DB and
STATUSPAGE_CONFIG); mistakes end in one line on stderr and exit status 2, never a traceback."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from statuspage.settings import ConfigError, Settings, load_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config, overrides=_overrides(args))
    except ConfigError as error:
        print(f"statuspage: configuration error: {error}", file=sys.stderr)
        return 2
    return args.run(settings, args)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH", help="TOML configuration file (default: $STATUSPAGE_CONFIG, else the sample)")
    common.add_argument("--db", metavar="PATH", help="SQLite database file (default: $STATUSPAGE_DB, else statuspage.db here)")

    parser = argparse.ArgumentParser(prog="statuspage", description="Status page and incident control for accounting integrations.")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", parents=[common], help="run the web service")
    serve.add_argument("--host", help="address to listen on (default: from the configuration, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: from the configuration, 8080)")
    serve.set_defaults(run=run_serve)

    check = commands.add_parser("check-config", parents=[common], help="validate the configuration and exit")
    check.set_defaults(run=run_check_config)
    return parser


def _overrides(args: argparse.Namespace) -> dict[tuple[str, str], object]:
    return {
        ("database", "path"): args.db,
        ("server", "host"): getattr(args, "host", None),
        ("server", "port"): getattr(args, "port", None),
    }


def run_check_config(settings: Settings, args: argparse.Namespace) -> int:
    print(f"{settings.source}: {len(settings.groups)} groups, {len(settings.components)} components; configuration is valid")
    return 0


def run_serve(settings: Settings, args: argparse.Namespace) -> int:
    from granian.constants import Interfaces
    from granian.server import Server

    # The server process builds the app from the environment: pass on what the flags chose.
    os.environ["STATUSPAGE_CONFIG"] = settings.source
    os.environ["STATUSPAGE_DB"] = settings.database.path
    os.environ["STATUSPAGE_HOST"] = settings.server.host
    os.environ["STATUSPAGE_PORT"] = str(settings.server.port)
    print(f"statuspage: serving {settings.page.name} on http://{settings.server.host}:{settings.server.port}/ "
          f"(database {settings.database.path})", file=sys.stderr, flush=True)
    # One worker: background work started in the lifespan must run exactly once.
    Server(
        "statuspage.app:app_from_environment",
        address=settings.server.host,
        port=settings.server.port,
        interface=Interfaces.ASGI,
        workers=1,
        factory=True,
    ).serve()
    return 0
