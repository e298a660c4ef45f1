"""Loading the configuration: core's reading and checks, then each area's own (the probes' conditions).

The one entry point for the CLI, the app and the tests, so no configuration is used unchecked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from statuspage.core.settings import Settings, read_settings
from statuspage.probes.kinds import check_probes


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[tuple[str, str], Any] | None = None,
) -> Settings:
    """Read the configuration (see `read_settings` for where it comes from) and check all of it.

    Raises `ConfigError` naming the file or variable, the key and what is wrong.
    """
    settings = read_settings(config_path, environ, overrides)
    check_probes(settings, Path(settings.source))
    return settings
