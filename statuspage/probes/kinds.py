"""The kinds of probe, as a tagged union of Structs: each kind (the `kind` key of a `[[probes]]` entry) declares
the settings it takes, what it observes (the [PLACEHOLDERS] its conditions may use) and the conditions it holds
to when the configuration names none; constraints a single value must meet are `msgspec.Meta` on its field.

Read with `runner.py`, where each kind's observer (`Prober._http`, `_rights`, `_backlog`, `_sync`) fills in
exactly these placeholders. `read_probes` turns the configuration's `[[probes]]` tables into these Structs, with
a ConfigError that names the entry and the key that is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, NoReturn

import msgspec

from integrations.registry import ProbeKind, Registry
from statuspage.core.settings import ConfigError, Settings
from statuspage.core.vocabulary import ComponentStatus
from statuspage.probes import conditions

KEY_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
TIME_OF_DAY_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d$"
URL_PATTERN = r"^(https?://|\{)"


class ProbeBase(msgspec.Struct, tag_field="kind", forbid_unknown_fields=True, kw_only=True):
    """What every probe has: what to look at how often, what must hold, and what its failing means."""

    key: Annotated[str, msgspec.Meta(pattern=KEY_PATTERN)]
    component: str | None = None
    interval: Annotated[float, msgspec.Meta(ge=1)] = 60.0
    """Seconds between runs."""
    timeout: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    """Seconds a run may take; at most `interval`."""
    conditions: list[str] = msgspec.field(default_factory=list)
    """What must hold (Gatus-style: `[STATUS] == 200`); empty: the kind's `default_conditions`."""
    failure_threshold: Annotated[int, msgspec.Meta(ge=1)] = 3
    """Failed runs in a row before the component is marked."""
    success_threshold: Annotated[int, msgspec.Meta(ge=1)] = 2
    """Passed runs in a row before it recovers."""
    failing_status: ComponentStatus = ComponentStatus.MAJOR_OUTAGE
    """What the component shows when the probe has failed enough; anything but operational."""

    placeholders: ClassVar[frozenset[str]]
    """What this kind observes: the [PLACEHOLDERS] its conditions may use."""
    default_conditions: ClassVar[tuple[str, ...]]

    @property
    def kind(self) -> ProbeKind:
        return ProbeKind(str(type(self).__struct_config__.tag))


class HttpProbe(ProbeBase, tag=ProbeKind.HTTP.value):
    """An API's reachability and latency. `url` may name `{page}` or an integration's address (`{exact_online}`),
    and a header `{exact_online_token}`, a connection's current access token (`Prober.url_of`, `headers_of`)."""

    url: Annotated[str, msgspec.Meta(pattern=URL_PATTERN)]
    method: str = "GET"
    headers: dict[str, str] = msgspec.field(default_factory=dict)

    placeholders: ClassVar[frozenset[str]] = frozenset({"STATUS", "RESPONSE_TIME", "BODY"})
    default_conditions: ClassVar[tuple[str, ...]] = ("[STATUS] < 400",)


class RightsProbe(ProbeBase, tag=ProbeKind.RIGHTS.value):
    """The pre-booking rights check for every connection of `integration` and every administration linked to it."""

    integration: str = "exact-online"

    placeholders: ClassVar[frozenset[str]] = frozenset({"UNREACHABLE", "CONNECTIONS", "ERRORS", "RESPONSE_TIME"})
    default_conditions: ClassVar[tuple[str, ...]] = ("[UNREACHABLE] == 0", "[ERRORS] == 0")


class BacklogProbe(ProbeBase, tag=ProbeKind.BACKLOG.value):
    """Queued and delayed invoice actions of `integration`: how many, and the age of the oldest in seconds."""

    integration: str = "exact-online"

    placeholders: ClassVar[frozenset[str]] = frozenset({"QUEUED", "DELAYED", "RUNNING", "OLDEST_AGE", "RESPONSE_TIME"})
    default_conditions: ClassVar[tuple[str, ...]] = ("[OLDEST_AGE] < 3600",)


class SyncProbe(ProbeBase, tag=ProbeKind.SYNC.value):
    """Whether each environment of `integration` had its master-data sync finished by `due_by`, local time (seed 000:
    a nightly sync still running at opening time delays the morning's invoices)."""

    integration: str = "exact-online"
    due_by: Annotated[str, msgspec.Meta(pattern=TIME_OF_DAY_PATTERN)] = "07:00"

    placeholders: ClassVar[frozenset[str]] = frozenset({"LATE", "NEVER", "AGE", "RESPONSE_TIME"})
    default_conditions: ClassVar[tuple[str, ...]] = ("[LATE] == 0",)


ConfiguredProbe = HttpProbe | RightsProbe | BacklogProbe | SyncProbe
"""A `[[probes]]` entry, by its `kind`."""
KINDS: dict[ProbeKind, type[ConfiguredProbe]] = {
    ProbeKind(str(kind.__struct_config__.tag)): kind for kind in (HttpProbe, RightsProbe, BacklogProbe, SyncProbe)}
IntegrationProbe = RightsProbe | BacklogProbe | SyncProbe
"""The kinds that look at one integration (`integration`)."""


def configured(settings: Settings) -> list[ConfiguredProbe]:
    """The probes of loaded settings (`read_probes` made them these Structs)."""
    return settings.probes


def read_probes(settings: Settings, path: Path, registry: Registry | None = None) -> None:
    """Replace the configuration's `[[probes]]` tables in `settings` by their kind's Struct, and check them: keys
    unique, a known component, an installed integration that offers the kind, a timeout within the interval, and
    conditions that parse and use only what the kind observes.

    Raises ConfigError naming `probes[N].<key>`, the probe and what to fix."""
    probes = [_convert(index, entry, path) for index, entry in enumerate(settings.probes)]
    components = {component.key for component in settings.components}
    seen: set[str] = set()
    for index, probe in enumerate(probes):
        where = f"probes[{index}]"

        def fail(key: str, problem: str, where: str = where, probe: ConfiguredProbe = probe) -> NoReturn:
            raise ConfigError(str(path), f"{where}.{key}", f"probe {probe.key!r}: {problem}")

        if probe.key in seen:
            raise ConfigError(str(path), f"{where}.key",
                              f"{probe.key!r} must be unique, in lower-case letters, digits and dashes")
        seen.add(probe.key)
        if probe.component is not None and probe.component not in components:
            fail("component", f"{probe.component!r} is not the key of any [[components]] entry")
        if probe.timeout > probe.interval:
            fail("timeout", f"needs 0 < timeout <= interval; got timeout {probe.timeout}, interval {probe.interval}")
        if probe.failing_status is ComponentStatus.OPERATIONAL:
            fail("failing_status", _HINTS["failing_status"](str(probe.failing_status)))
        if registry is not None and isinstance(probe, IntegrationProbe):
            if probe.integration not in registry:
                fail("integration", f"{probe.integration!r} is not an installed integration; "
                                    f"installed: {', '.join(registry.keys())}")
            offered = registry.get(probe.integration).probe_kinds
            if probe.kind not in offered:
                fail("kind", f"{probe.integration} offers no {probe.kind} probe; it offers {', '.join(offered)}")
        for number, text in enumerate(probe.conditions):
            try:
                condition = conditions.parse(text)
            except conditions.ConditionError as error:
                fail(f"conditions[{number}]", str(error))
            unknown = sorted(conditions.placeholders(condition) - probe.placeholders)
            if unknown:
                fail(f"conditions[{number}]", f"a {probe.kind} probe has no {', '.join(f'[{u}]' for u in unknown)}; "
                                              f"it offers {', '.join(f'[{p}]' for p in sorted(probe.placeholders))}")
    settings.probes = probes


_FAILING = ", ".join(status for status in ComponentStatus if status is not ComponentStatus.OPERATIONAL)
_HINTS = {
    "key": lambda value: f"{value!r} must be unique, in lower-case letters, digits and dashes",
    "kind": lambda value: f"unknown kind {value!r}; use one of {', '.join(KINDS)}",
    "url": lambda value: "an http probe needs a url starting with http://, https://, {page} or an integration's "
                         "address such as {exact_online}" + (f"; got {value!r}" if value is not None else ""),
    "interval": lambda value: f"must be at least 1 second; got {_seconds(value)}",
    "timeout": lambda value: f"must be more than 0 seconds; got {_seconds(value)}",
    "failure_threshold": lambda value: f"must be at least 1; got {value!r}",
    "success_threshold": lambda value: f"must be at least 1; got {value!r}",
    "failing_status": lambda value: f"must be one of {_FAILING}; got {value!r}",
    "due_by": lambda value: f"{value!r} must be a time like 07:00",
}
"""What to say of a value its field's type or `Meta` refused, by field."""


def _convert(index: int, entry: Any, path: Path) -> ConfiguredProbe:
    """One `[[probes]]` table as its kind's Struct; a refusal as a ConfigError naming the key that is wrong."""
    where = f"probes[{index}]"
    if not isinstance(entry, Mapping):
        raise ConfigError(str(path), where, "must be a table, like [[probes]]")
    named = f"probe {entry['key']!r}: " if isinstance(entry.get("key"), str) else ""
    if "kind" not in entry:
        raise ConfigError(str(path), f"{where}.kind", f"{named}needs a kind: one of {', '.join(KINDS)}")
    try:
        return msgspec.convert(entry, ConfiguredProbe, strict=False)
    except msgspec.ValidationError as error:
        problem, _, location = str(error).partition(" - at `$")
        field = location.rstrip("`").lstrip(".").split(".")[0].split("[")[0]
        if unknown := _between(problem, "unknown field `"):
            kind = KINDS[ProbeKind(entry["kind"])]
            settings = sorted(name for name in kind.__struct_fields__)
            raise ConfigError(str(path), f"{where}.{unknown}", f"{named}a {entry['kind']} probe has no setting "
                                                                f"{unknown!r}; it takes {', '.join(settings)}") from None
        if missing := _between(problem, "missing required field `"):
            field = missing
        hint = _HINTS.get(field)
        said = hint(entry.get(field)) if hint else problem[:1].lower() + problem[1:]
        raise ConfigError(str(path), f"{where}.{field}" if field else where, f"{named}{said}") from None


def _seconds(value: Any) -> str:
    """A number of seconds as the settings hold it (a float), anything else as given."""
    return str(float(value)) if isinstance(value, int | float) and not isinstance(value, bool) else repr(value)


def _between(text: str, start: str) -> str | None:
    """The name in backquotes after `start` in msgspec's message, if it says that."""
    return text.split(start, 1)[1].split("`", 1)[0] if start in text else None
