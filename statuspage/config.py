"""Loading the configuration: core's reading and checks, then each area's own (the probes, as their kinds'
Structs; the mirror rules' mappings), and each installed integration's own settings, validated by the settings
type it declares.

The one entry point for the CLI, the app and the tests, so no configuration is used unchecked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from integrations.registry import Registry
from statuspage.core.installed import INSTALLED
from statuspage.core.settings import (
    LEGACY_VARIABLE_PREFIXES,
    ConfigError,
    Settings,
    integration_variable,
    read_settings,
    unknown_key_problem,
)
from statuspage.mirrors.rules import check_mirrors
from statuspage.probes.kinds import read_probes


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[tuple[str, str], Any] | None = None,
    registry: Registry = INSTALLED,
) -> Settings:
    """Read the configuration (see `read_settings` for where it comes from) and check all of it.

    Raises `ConfigError` naming the file or variable, the key and what is wrong.
    """
    environ = os.environ if environ is None else environ
    settings = read_settings(config_path, environ, overrides)
    path = Path(settings.source)
    origins = integration_overrides(settings, environ, registry, path)
    check_integrations(settings, path, registry, origins)
    read_probes(settings, Path(settings.source), registry)
    check_mirrors(settings, Path(settings.source), registry)
    return settings


def integration_overrides(settings: Settings, environ: Mapping[str, str], registry: Registry, path: Path
                          ) -> dict[tuple[str, str], str]:
    """Put each installed integration's settings given in the environment (`integration_variable`:
    STATUSPAGE_TWINFIELD_READ_TIMEOUT, and the older STATUSPAGE_EXACT_... for Exact Online) into its table, over
    the file's. Returns (integration, field) -> where the value came from, for messages. A field set under both
    its new and its old name is a `ConfigError` naming the new one."""
    origins: dict[tuple[str, str], str] = {}
    for integration in registry:
        legacy = LEGACY_VARIABLE_PREFIXES.get(integration.key)
        for field in msgspec.structs.fields(integration.settings_type):
            names = [integration_variable(integration.key, field.encode_name)]
            if legacy is not None:
                names.append(integration_variable(integration.key, field.encode_name, legacy))
            given = [name for name in names if name in environ]
            if not given:
                continue
            if len(given) > 1:
                raise ConfigError(f"environment variable {given[1]}", "",
                                  f"is now spelled {given[0]}; set only that one")
            table = settings.integrations.get(integration.key, {})
            if not isinstance(table, Mapping):
                table = msgspec.to_builtins(table)  # already validated once (settings loaded twice in one process)
            if not isinstance(table, dict):
                raise ConfigError(str(path), f"integrations.{integration.key}",
                                  f"must be a table, like [integrations.{integration.key}]")
            settings.integrations[integration.key] = {**table, field.encode_name: environ[given[0]]}
            origins[(integration.key, field.encode_name)] = f"environment variable {given[0]}"
    return origins


def check_integrations(settings: Settings, path: Path, registry: Registry,
                       origins: Mapping[tuple[str, str], str] | None = None) -> None:
    """Every `[integrations.<key>]` names an installed integration and holds what its settings type accepts;
    every installed integration gets its settings (its defaults where the file says nothing); every environment
    names an installed integration. `origins` names the environment variable a field came from."""
    origins = origins or {}

    def source(key: str, field: str) -> str:
        return origins.get((key, field), str(path))

    for key in settings.integrations:
        if key not in registry:
            raise ConfigError(str(path), f"integrations.{key}",
                              f"no integration {key!r} is installed; installed: {', '.join(registry.keys())}")
    validated: dict[str, Any] = {}
    for integration in registry:
        table = settings.integrations.get(integration.key, {})
        if not isinstance(table, Mapping):
            table = msgspec.to_builtins(table)  # already validated once (settings loaded twice in one process)
        where = f"integrations.{integration.key}"
        try:
            options = integration.settings_from(table)
        except msgspec.ValidationError as error:
            problem, _, location = str(error).partition(" - at `$")
            field = location.rstrip("`").lstrip(".")
            problem = unknown_key_problem(integration.settings_type, field, problem)
            raise ConfigError(source(integration.key, field.split(".")[0].split("[")[0]),
                              f"{where}.{field}" if field else where, problem[:1].lower() + problem[1:]) from None
        if options.base_url and not options.base_url.startswith(("https://", "http://")):
            raise ConfigError(source(integration.key, "base_url"), f"{where}.base_url",
                              f"{options.base_url!r} must start with https://")
        if not 0 <= options.sandbox_port < 65536:
            raise ConfigError(source(integration.key, "sandbox_port"), f"{where}.sandbox_port",
                              f"{options.sandbox_port} is not a TCP port (0 picks a free one)")
        for field in ("connect_timeout", "read_timeout"):
            if getattr(options, field) <= 0:
                raise ConfigError(source(integration.key, field), f"{where}.{field}", "must be more than 0 seconds")
        if options.commit_window_seconds < 0:
            raise ConfigError(source(integration.key, "commit_window_seconds"), f"{where}.commit_window_seconds",
                              "must be 0 seconds or more")
        validated[integration.key] = options
    settings.integrations = validated
    for index, environment in enumerate(settings.environments):
        if environment.integration not in registry:
            raise ConfigError(str(path), f"environments[{index}].integration",
                              f"{environment.integration!r} is not an installed integration; "
                              f"installed: {', '.join(registry.keys())}")
