"""The kinds of probe, as data: what each observes (the [PLACEHOLDERS] its conditions may use), the
conditions it holds to when the configuration names none, and the check of a configured probe.

Read with `runner.py`, where each kind's observer fills in these placeholders.
"""

from __future__ import annotations

from pathlib import Path

from integrations.registry import Registry
from statuspage.core.settings import ConfigError, Settings
from statuspage.probes import conditions

# What each kind of probe observes, as the [PLACEHOLDERS] its conditions may use.
PROBE_PLACEHOLDERS = {
    "http": {"STATUS", "RESPONSE_TIME", "BODY"},
    "rights": {"UNREACHABLE", "CONNECTIONS", "ERRORS", "RESPONSE_TIME"},
    "backlog": {"QUEUED", "DELAYED", "RUNNING", "OLDEST_AGE", "RESPONSE_TIME"},
    "sync": {"LATE", "NEVER", "AGE", "RESPONSE_TIME"},
}
DEFAULT_CONDITIONS = {
    "http": ["[STATUS] < 400"],
    "rights": ["[UNREACHABLE] == 0", "[ERRORS] == 0"],
    "backlog": ["[OLDEST_AGE] < 3600"],
    "sync": ["[LATE] == 0"],
}


def check_probes(settings: Settings, path: Path, registry: Registry | None = None) -> None:
    """Every configured probe is of a known kind and its conditions parse and use only what its kind observes.

    Raises ConfigError naming the probe, the condition's place in the file and the placeholders on offer.
    """
    for index, probe in enumerate(settings.probes):
        where = f"probes[{index}]"
        if probe.kind not in PROBE_PLACEHOLDERS:
            raise ConfigError(str(path), f"{where}.kind", f"probe {probe.key!r}: unknown kind {probe.kind!r}; "
                                                          f"use one of {', '.join(PROBE_PLACEHOLDERS)}")
        if registry is not None and probe.kind != "http":
            if probe.integration not in registry:
                raise ConfigError(str(path), f"{where}.integration",
                                  f"probe {probe.key!r}: {probe.integration!r} is not an installed integration; "
                                  f"installed: {', '.join(registry.keys())}")
            if probe.kind not in registry.get(probe.integration).probe_kinds:
                offered = ", ".join(registry.get(probe.integration).probe_kinds)
                raise ConfigError(str(path), f"{where}.kind", f"probe {probe.key!r}: {probe.integration} offers no "
                                                              f"{probe.kind} probe; it offers {offered}")
        for number, text in enumerate(probe.conditions):
            try:
                condition = conditions.parse(text)
            except conditions.ConditionError as error:
                raise ConfigError(str(path), f"{where}.conditions[{number}]", f"probe {probe.key!r}: {error}") from None
            unknown = sorted(conditions.placeholders(condition) - PROBE_PLACEHOLDERS.get(probe.kind, set()))
            if unknown:
                raise ConfigError(str(path), f"{where}.conditions[{number}]",
                                  f"probe {probe.key!r}: a {probe.kind} probe has no {', '.join(f'[{u}]' for u in unknown)}; "
                                  f"it offers {', '.join(f'[{p}]' for p in sorted(PROBE_PLACEHOLDERS[probe.kind]))}")
