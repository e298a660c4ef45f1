"""Settings: a TOML file, then environment variables, then command-line flags, each overriding the last.

Without a file the shipped sample configuration is used, so the service runs out of the box.
Every mistake is reported as a ConfigError naming the file (or variable), the key and what is wrong.
"""

from __future__ import annotations

import ipaddress
import os
import re
import string
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
import msgspec.inspect

from statuspage.core.vocabulary import MirrorMode, SyncProfile

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CONFIG = PACKAGE_ROOT / "sample-config.toml"
REPOSITORY_ROOT = PACKAGE_ROOT.parent
ENV_PREFIX = "STATUSPAGE_"
LANGUAGES = ("nl", "en")

# A name or description: one string for every language, or one per language code.
Text = str | dict[str, str]


class ConfigError(Exception):
    def __init__(self, source: str, key: str, problem: str) -> None:
        super().__init__(f"{source}: {key}: {problem}" if key else f"{source}: {problem}")
        self.source, self.key, self.problem = source, key, problem


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class PageSettings(_Section):
    id: str = "invoice-platform"
    name: str = "Invoice platform status"
    # The name per language, where it differs: names = { nl = "Status facturenplatform" }.
    names: dict[str, str] = msgspec.field(default_factory=dict)
    # Where visitors reach the page; links in feeds, e-mail and OAuth redirects are made from it.
    # Left out, it is this server's own address.
    url: str = ""
    time_zone: str = "Europe/Amsterdam"
    language: str = "nl"

    def name_in(self, language: str) -> str:
        """The page's name for visitors of `language`: its own when configured, else `name`."""
        return self.names.get(language) or self.name


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = 8080
    # Reverse proxies (addresses or networks, "10.0.0.0/8") whose X-Forwarded-For names the real client, for
    # the per-client limits (sign-in, subscriptions). Left empty, the header is ignored: anyone can write it.
    trusted_proxies: list[str] = []
    # Whether this process contends for the background lease (statuspage/background.py). False for web
    # workers placed beside a separate `statuspage worker` (`serve --web-only`).
    background: bool = True
    # A directory the background work keeps a static copy of the public site in (page/export.py), within a
    # second of every change (`serve --export-dir`); None: no copy.
    export_dir: str | None = None

    def __post_init__(self) -> None:
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"server.trusted_proxies: {proxy!r} is no address or network") from None


class DatabaseSettings(_Section):
    path: str = "statuspage.db"


class NotificationSettings(_Section):
    # E-mail subscriptions are offered only when an SMTP server is named. Its password comes from
    # $STATUSPAGE_SMTP_PASSWORD alone, so that it never sits in a file.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str | None = None
    mail_from: str = "status@localhost"
    # Tries per delivery before it is given up, with waits doubling from 30 seconds to an hour.
    max_attempts: int = 10
    # How often the outbox is looked at for notices to send.
    send_every_seconds: float = 1.0
    # Webhooks and callbacks to loopback, private, link-local or unspecified addresses are refused (at saving
    # and again when the name is resolved for sending), so that nobody can make the service call into its own
    # network. Set true only where receivers live there on purpose: the tests and the demo.
    allow_private_targets: bool = False


class IncidentTemplateSettings(_Section):
    """A recurring incident, written once: `{component}` and other `{placeholders}` are filled in
    when an operator uses it."""

    key: str
    name: str
    title: Text
    message: Text
    status: str = "identified"
    impact: str = "major"
    component_status: str = "major_outage"


class BudgetSettings(_Section):
    """The call budget per (integration, administration): see `integrations/budget.py`."""

    daily_reserve: float = 0.2
    """Share of an administration's daily limit kept for bookings (0.2: the last 20 % of the day's calls)."""


class ProbingSettings(_Section):
    retention_days: int = 30
    at_once: int = 20  # probes running at the same moment, at most
    # Probes first run within this many seconds of start-up, spread out; 0: after one interval.
    first_run_spread: float = 10.0


class DemoSettings(_Section):
    # With the sandbox only: connect the demo environments, hand in sample invoice actions, print a token.
    enabled: bool = False
    seconds_between_actions: float = 5.0


class AdministrationSettings(_Section):
    code: str
    name: str


class EnvironmentSettings(_Section):
    """A customer environment of the invoice product, and the administrations it books into."""

    key: str
    name: str
    # The accounting system it books into, by its key in the registry; older configurations name none.
    integration: str = "exact-online"
    administrations: list[AdministrationSettings] = msgspec.field(default_factory=list)
    # Master-data sync (issue 13). "scan-book-archive": no approval flow, so no payment state is synced (seed 000).
    profile: SyncProfile = SyncProfile.APPROVAL
    # The nightly incremental sync starts inside this window, page time, "HH:MM-HH:MM" (seed 000: done by morning);
    # "00:00-00:00" never opens: no nightly sync.
    nightly_window: str = "01:00-06:00"


class SyncSettings(_Section):
    """The master-data sync engine (issue 13)."""

    enabled: bool = True
    # How often the engine looks for due nightly runs, bookings to refresh and queued tasks (seconds).
    poll_seconds: float = 2.0
    # $top of sync calls; 0 leaves Exact's maximum of 1,000 rows a call.
    page_size: int = 0


class MirroringSettings(_Section):
    """The mirror engine (issue 16)."""

    enabled: bool = True
    # How often the engine looks for rules whose source finished a sync since their last run (seconds).
    poll_seconds: float = 2.0
    # How long a run waits for its target to be read again before it reconciles with the target as last read.
    target_wait_seconds: float = 120.0


class MirrorEndSettings(_Section):
    """One side of a mirror rule: an environment's administration (for Visma.net its company) and an entity."""

    environment: str
    administration: str
    entity: str


class MirrorSettings(_Section):
    """A mirror rule (seed 001): keep the source's rows as rows of the target, identified by a key mapping.

    Checked against the registry when the configuration is loaded (`statuspage.mirrors.rules.check_mirrors`)."""

    key: str
    source: MirrorEndSettings
    target: MirrorEndSettings
    # TARGET_FIELD = EXPRESSION: the target's key field and how a source row gives it ('reference = "EOL-" + trim(code)').
    identified_by: str
    # Target field = expression over the source row's fields; seed 001 takes the name over unchanged.
    fields: dict[str, str] = msgspec.field(default_factory=lambda: {"name": "name"})
    mode: MirrorMode = MirrorMode.INSERT_ONLY
    name: str = ""


class GroupSettings(_Section):
    key: str
    name: Text
    description: Text | None = None


class ComponentSettings(_Section):
    key: str
    name: Text
    group: str | None = None
    description: Text | None = None
    only_show_if_degraded: bool = False
    showcase: bool = True


class Settings(_Section):
    page: PageSettings = msgspec.field(default_factory=PageSettings)
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    database: DatabaseSettings = msgspec.field(default_factory=DatabaseSettings)
    notifications: NotificationSettings = msgspec.field(default_factory=NotificationSettings)
    # `[integrations.<key>]` tables, each validated by its integration's own settings type when the
    # configuration is loaded (`statuspage.config`); after that, the values are those settings objects.
    integrations: dict[str, Any] = msgspec.field(default_factory=dict)
    budgets: BudgetSettings = msgspec.field(default_factory=BudgetSettings)
    demo: DemoSettings = msgspec.field(default_factory=DemoSettings)
    # `[[probes]]` tables, each made its kind's Struct and checked by the probes area when the configuration is
    # loaded (`statuspage.probes.kinds.read_probes`); after that, the values are those Structs.
    probes: list[Any] = msgspec.field(default_factory=list)
    probing: ProbingSettings = msgspec.field(default_factory=ProbingSettings)
    environments: list[EnvironmentSettings] = msgspec.field(default_factory=list)
    sync: SyncSettings = msgspec.field(default_factory=SyncSettings)
    mirrors: list[MirrorSettings] = msgspec.field(default_factory=list)
    mirroring: MirroringSettings = msgspec.field(default_factory=MirroringSettings)
    groups: list[GroupSettings] = msgspec.field(default_factory=list)
    components: list[ComponentSettings] = msgspec.field(default_factory=list)
    incident_templates: list[IncidentTemplateSettings] = msgspec.field(default_factory=list)
    templates_dir: str = str(REPOSITORY_ROOT / "templates")
    # Where this configuration came from, for messages; not read from the file.
    source: str = ""

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.page.time_zone)

    def integration(self, key: str) -> Any:
        """The validated settings of an installed integration (KeyError for one not installed)."""
        return self.integrations[key]

    def environment(self, key: str) -> EnvironmentSettings | None:
        return next((environment for environment in self.environments if environment.key == key), None)


# Scalar settings that an environment variable may set: STATUSPAGE_DB sets database.path, and so on.
ENVIRONMENT_KEYS = {
    "DB": ("database", "path"),
    "HOST": ("server", "host"),
    "PORT": ("server", "port"),
    "BACKGROUND": ("server", "background"),
    "EXPORT_DIR": ("server", "export_dir"),
    "PAGE_ID": ("page", "id"),
    "PAGE_NAME": ("page", "name"),
    "PAGE_URL": ("page", "url"),
    "TIME_ZONE": ("page", "time_zone"),
    "LANGUAGE": ("page", "language"),
    "SMTP_HOST": ("notifications", "smtp_host"),
    "SMTP_PORT": ("notifications", "smtp_port"),
    "SMTP_USERNAME": ("notifications", "smtp_username"),
    "MAIL_FROM": ("notifications", "mail_from"),
    "DEMO": ("demo", "enabled"),
}
"""Each installed integration's settings are set the same way, named after its key and the field
(`integration_variable`): STATUSPAGE_TWINFIELD_READ_TIMEOUT sets `[integrations.twinfield] read_timeout`."""

LEGACY_VARIABLE_PREFIXES = {"exact-online": "EXACT"}
"""Older names of integrations in environment variables, still read: STATUSPAGE_EXACT_BASE_URL is
STATUSPAGE_EXACT_ONLINE_BASE_URL."""

LEGACY_TABLES = {"exact_online": "exact-online"}
"""Tables of older configurations, read as `[integrations.<key>]`: `[exact_online]` is `[integrations.exact-online]`."""

def integration_variable(integration: str, field: str, prefix: str | None = None) -> str:
    """The environment variable that sets `field` of `[integrations.<integration>]`: STATUSPAGE_, the key in
    upper case with underscores for dashes (or an older `prefix`), an underscore, the field in upper case."""
    name = prefix or integration.upper().replace("-", "_")
    return f"{ENV_PREFIX}{name}_{field.upper()}"


_KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_WINDOW_PATTERN = re.compile(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d")


def read_settings(
    config_path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[tuple[str, str], Any] | None = None,
) -> Settings:
    """Read the configuration file, apply environment variables and flags, and check what core can judge.

    Use `statuspage.config.load_settings`, which adds each area's own checks (the probes' conditions).

    `config_path` falls back to $STATUSPAGE_CONFIG, then to the shipped sample configuration.
    `overrides` are command-line values keyed by (section, key); None values are ignored.
    """
    environ = os.environ if environ is None else environ
    path = Path(config_path or environ.get(f"{ENV_PREFIX}CONFIG") or SAMPLE_CONFIG)
    raw = _read_toml(path)
    _read_legacy_tables(raw, path)
    origins: dict[tuple[str, ...], str] = {}
    for name, (*sections, key) in ENVIRONMENT_KEYS.items():
        if f"{ENV_PREFIX}{name}" in environ:
            _put(raw, sections, key, environ[f"{ENV_PREFIX}{name}"], path)
            origins[(*sections, key)] = f"environment variable {ENV_PREFIX}{name}"
    for (section, key), value in (overrides or {}).items():
        if value is not None:
            _put(raw, [section], key, value, path)
            origins[(section, key)] = f"command-line option for {section}.{key}"
    raw["source"] = str(path)
    settings = _convert(raw, path, origins)
    if not settings.page.url:
        settings.page.url = f"http://{settings.server.host}:{settings.server.port}"
    _check(settings, path, origins)
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    """The file's tables as tomllib reads them: untyped until `_convert` makes them Settings."""
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(str(path), "", "file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(str(path), "", f"cannot be read ({error})") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(str(path), "", f"is not valid TOML: {error}") from None


def _put(raw: dict[str, Any], sections: list[str], key: str, value: Any, path: Path) -> None:
    table = raw
    for depth, section in enumerate(sections):
        table = table.setdefault(section, {})
        if not isinstance(table, dict):
            name = ".".join(sections[:depth + 1])
            raise ConfigError(str(path), name, "must be a table, like [" + name + "]")
    table[key] = value


def _read_legacy_tables(raw: dict[str, Any], path: Path) -> None:
    """An older table keeps working as its new spelling; both at once is a mistake that names the new one."""
    for old, key in LEGACY_TABLES.items():
        if old not in raw:
            continue
        integrations = raw.setdefault("integrations", {})
        if not isinstance(integrations, dict) or key in integrations:
            raise ConfigError(str(path), old, f"[{old}] is now spelled [integrations.{key}]; "
                                              f"move its settings there and remove [{old}]")
        integrations[key] = raw.pop(old)


def _convert(raw: dict[str, Any], path: Path, origins: dict[tuple[str, ...], str]) -> Settings:
    try:
        # Not strict: environment variables are strings, and "8080" is a fine port.
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as error:
        problem, _, location = str(error).partition(" - at `$")
        key = _dotted(location.rstrip("`"))
        section_key = tuple(key.split(".", 1))
        source = origins.get(section_key, str(path)) if len(section_key) == 2 else str(path)
        if problem == "Expected `bool`, got `str`":
            # TOML has booleans; an environment variable has only text, and "maybe" reads as neither.
            problem += "; use true or false"
        if problem.startswith("Invalid enum value"):
            allowed = _enum_values(key)
            if allowed:
                problem += f"; allowed: {', '.join(allowed)}"
        problem = unknown_key_problem(Settings, key, problem)
        raise ConfigError(source, key, _lower_first(problem)) from None


def unknown_key_problem(root: type, key: str, problem: str) -> str:
    """msgspec's "Object contains unknown field `x`" at table `key` (dotted, `""` for `root` itself) as
    "unknown key 'x'; known keys: a, b, ...", the known keys in the order the table declares them, so an operator
    sees the spelling they meant; any other problem comes back unchanged."""
    unknown = re.fullmatch(r"Object contains unknown field `(.*)`", problem)
    table = _concrete(_type_at(root, key)) if unknown else None
    if not unknown or not isinstance(table, msgspec.inspect.StructType):
        return problem
    known = ", ".join(field.encode_name for field in table.fields)
    return f"unknown key {unknown.group(1)!r}; known keys: {known}"


def _concrete(info: Any) -> Any:
    """`X | None` as X; any other type info unchanged."""
    if isinstance(info, msgspec.inspect.UnionType):
        return next((item for item in info.types if not isinstance(item, msgspec.inspect.NoneType)), None)
    return info


def _type_at(root: type, key: str) -> Any:
    """The msgspec type info of the setting at `key` (`mirrors[0].mode`) below `root`; None when not found."""
    info: Any = msgspec.inspect.type_info(root)
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", key):
        info = _concrete(info)
        if part.startswith("["):
            info = getattr(info, "item_type", None)
        elif isinstance(info, msgspec.inspect.StructType):
            info = next((field.type for field in info.fields if field.encode_name == part), None)
        else:
            return None
    return info


def _enum_values(key: str) -> list[str]:
    """The values the setting at `key` (`mirrors[0].mode`) accepts, when it is an enum; [] when not found."""
    info = _concrete(_type_at(Settings, key))
    if isinstance(info, msgspec.inspect.EnumType):
        return [str(member.value) for member in info.cls]
    return []


def _dotted(location: str) -> str:
    """Turn msgspec's `.components[2].name` into `components[2].name`."""
    return location.lstrip(".")


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _check(settings: Settings, path: Path, origins: dict[tuple[str, ...], str]) -> None:
    def fail(section: str, key: str, problem: str) -> None:
        source = origins.get((section, key), str(path))
        raise ConfigError(source, f"{section}.{key}", problem)

    try:
        ZoneInfo(settings.page.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        fail("page", "time_zone", f"unknown time zone {settings.page.time_zone!r}; use an IANA name like 'Europe/Amsterdam'")
    if settings.page.language not in LANGUAGES:
        fail("page", "language", f"must be one of {', '.join(LANGUAGES)}; got {settings.page.language!r}")
    if not settings.page.url.startswith(("http://", "https://")):
        fail("page", "url", f"{settings.page.url!r} must start with http:// or https://")
    if not 0 < settings.server.port < 65536:
        fail("server", "port", f"{settings.server.port} is not a TCP port (1-65535)")
    try:
        # granian binds an address, never a name: "localhost" would fail only once the workers start.
        ipaddress.ip_address(settings.server.host)
    except ValueError:
        fail("server", "host", f"{settings.server.host!r} is not an IP address; use one like 127.0.0.1, "
                               f"0.0.0.0 (every IPv4 address of this machine) or ::")
    if not settings.database.path:
        fail("database", "path", "must not be empty")
    if settings.notifications.send_every_seconds <= 0:
        fail("notifications", "send_every_seconds", "must be more than 0")
    if not 1 <= settings.notifications.max_attempts <= 50:
        fail("notifications", "max_attempts", f"{settings.notifications.max_attempts} must be between 1 and 50")

    seen: set[str] = set()
    entries: list[tuple[str, int, GroupSettings | ComponentSettings]] = [
        ("groups", index, group) for index, group in enumerate(settings.groups)]
    entries += [("components", index, component) for index, component in enumerate(settings.components)]
    for table, index, entry in entries:
        where = f"{table}[{index}]"
        if not _KEY_PATTERN.match(entry.key):
            raise ConfigError(str(path), f"{where}.key", f"{entry.key!r} must be lower-case letters, digits and dashes")
        if entry.key in seen:
            raise ConfigError(str(path), f"{where}.key", f"{entry.key!r} is used twice; keys must be unique")
        seen.add(entry.key)
        for field in ("name", "description"):
            text = getattr(entry, field)
            if isinstance(text, dict):
                unknown = sorted(set(text) - set(LANGUAGES))
                if unknown or not text:
                    raise ConfigError(
                        str(path), f"{where}.{field}", f"languages must be among {', '.join(LANGUAGES)}; got {unknown or 'none'}"
                    )
    _check_incident_templates(settings, path)
    for language in settings.page.names:
        if language not in LANGUAGES:
            fail("page", f"names.{language}", f"languages are {', '.join(LANGUAGES)}")
    if settings.demo.enabled and settings.demo.seconds_between_actions <= 0:
        fail("demo", "seconds_between_actions", "must be more than 0")
    if not 0 <= settings.budgets.daily_reserve < 1:
        fail("budgets", "daily_reserve", f"{settings.budgets.daily_reserve} must be a share from 0 up to 1, like 0.2")
    environment_keys: set[str] = set()
    for index, environment in enumerate(settings.environments):
        if not _KEY_PATTERN.match(environment.key) or environment.key in environment_keys:
            raise ConfigError(str(path), f"environments[{index}].key",
                              f"{environment.key!r} must be unique, in lower-case letters, digits and dashes")
        environment_keys.add(environment.key)
        if not _WINDOW_PATTERN.fullmatch(environment.nightly_window):
            raise ConfigError(str(path), f"environments[{index}].nightly_window",
                              f"{environment.nightly_window!r} must be a window like 01:00-06:00")
    if settings.sync.poll_seconds <= 0:
        fail("sync", "poll_seconds", "must be more than 0")
    for key in ("poll_seconds", "target_wait_seconds"):
        if getattr(settings.mirroring, key) <= 0:
            fail("mirroring", key, "must be more than 0")
    group_keys = {group.key for group in settings.groups}
    for index, component in enumerate(settings.components):
        if component.group is not None and component.group not in group_keys:
            raise ConfigError(
                str(path), f"components[{index}].group", f"{component.group!r} is not the key of any [[groups]] entry"
            )


_INCIDENT_STATUSES = ("investigating", "identified", "monitoring", "resolved")
_IMPACTS = ("none", "minor", "major", "critical")
_COMPONENT_STATUSES = ("operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance")


def _check_incident_templates(settings: Settings, path: Path) -> None:
    seen: set[str] = set()
    for index, template in enumerate(settings.incident_templates):
        where = f"incident_templates[{index}]"
        if template.key in seen:
            raise ConfigError(str(path), f"{where}.key", f"{template.key!r} is used twice; keys must be unique")
        seen.add(template.key)
        for field, allowed in (("status", _INCIDENT_STATUSES), ("impact", _IMPACTS),
                               ("component_status", _COMPONENT_STATUSES)):
            if getattr(template, field) not in allowed:
                raise ConfigError(str(path), f"{where}.{field}",
                                  f"must be one of {', '.join(allowed)}; got {getattr(template, field)!r}")
        for field in ("title", "message"):
            text = getattr(template, field)
            for language_text in [text] if isinstance(text, str) else text.values():
                try:
                    placeholders(language_text)
                except ValueError as error:
                    raise ConfigError(str(path), f"{where}.{field}", f"is not a valid template: {error}") from None


def placeholders(text: str) -> set[str]:
    """The {names} a template text asks for; raises ValueError for a malformed one."""
    names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    bad = sorted(name for name in names if not name.isidentifier())
    if bad:
        raise ValueError(f"placeholders must be plain names like {{component}}; got {', '.join(map(repr, bad))}")
    return names


def text_in(text: Text | None, language: str, fallback: str) -> str | None:
    """A configured text in the wanted language, else the page's language, else any."""
    if text is None or isinstance(text, str):
        return text
    return text.get(language) or text.get(fallback) or next(iter(text.values()))
