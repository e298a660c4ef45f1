"""Bad configuration stops start-up with a message naming the file, the key and what is wrong."""

import subprocess
import sys
from pathlib import Path

import pytest

from statuspage.config import load_settings
from statuspage.core.settings import SAMPLE_CONFIG, ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return path


def test_the_shipped_sample_runs_out_of_the_box() -> None:
    settings = load_settings(None, environ={})
    assert settings.source == str(SAMPLE_CONFIG)
    assert settings.database.path == "statuspage.db"
    assert settings.page.time_zone == "Europe/Amsterdam"
    names = [component.name["en"] for component in settings.components]
    assert names == [
        "Website availability", "Login", "Text recognition", "API", "Document import",
        "Exact Online", "Twinfield", "FinMaster", "Unit4 API", "iMuis", "Local accounting systems",
    ]


def test_environment_overrides_the_file_and_flags_override_the_environment(tmp_path: Path) -> None:
    environ = {"STATUSPAGE_DB": "/data/from-env.db", "STATUSPAGE_PORT": "9000", "STATUSPAGE_TIME_ZONE": "UTC"}
    settings = load_settings(None, environ=environ, overrides={("database", "path"): "/data/from-flag.db"})
    assert settings.database.path == "/data/from-flag.db"
    assert settings.server.port == 9000
    assert settings.page.time_zone == "UTC"


def test_the_config_file_can_come_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, '[page]\nname = "From env"\n')
    assert load_settings(None, environ={"STATUSPAGE_CONFIG": str(path)}).page.name == "From env"


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("[page]\ntime_zone = 'Mars/Olympus'\n", "page.time_zone", "unknown time zone 'Mars/Olympus'"),
        ("[page]\nlanguage = 'de'\n", "page.language", "must be one of nl, en; got 'de'"),
        ("[page]\nurl = 'status.example.com'\n", "page.url", "must start with http:// or https://"),
        ("[page]\ncolour = 'blue'\n", "page", "unknown key 'colour'; known keys: id, name, names, url"),
        ("[server]\nport = 'eighty'\n", "server.port", "expected `int`, got `str`"),
        ("[server]\nport = 70000\n", "server.port", "70000 is not a TCP port"),
        ("[server]\nhost = 'localhost'\n", "server.host", "'localhost' is not an IP address"),
        ("[[components]]\nname = 'No key'\n", "components[0]", "missing required field `key`"),
        ("[[components]]\nkey = 'Exact Online'\nname = 'x'\n", "components[0].key", "lower-case letters"),
        (
            "[[components]]\nkey = 'a'\nname = 'A'\n[[components]]\nkey = 'a'\nname = 'B'\n",
            "components[1].key",
            "'a' is used twice",
        ),
        ("[[components]]\nkey = 'a'\nname = 'A'\ngroup = 'nowhere'\n", "components[0].group", "'nowhere' is not the key"),
        ("[[components]]\nkey = 'a'\nname = { fr = 'A' }\n", "components[0].name", "languages must be among nl, en"),
    ],
)
def test_a_mistake_is_named_by_file_key_and_problem(tmp_path: Path, text: str, key: str, problem: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_settings(path, environ={})
    assert raised.value.source == str(path)
    assert raised.value.key == key
    assert problem in raised.value.problem
    assert str(raised.value).startswith(f"{path}: {key}: ")


def test_a_bad_value_from_the_environment_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(None, environ={"STATUSPAGE_PORT": "http"})
    assert raised.value.source == "environment variable STATUSPAGE_PORT"
    assert raised.value.key == "server.port"


def test_a_missing_or_broken_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nothing.toml: file not found"):
        load_settings(tmp_path / "nothing.toml", environ={})
    with pytest.raises(ConfigError, match="bad.toml: is not valid TOML"):
        load_settings(write(tmp_path, "[page\nname = 1"), environ={})


@pytest.mark.parametrize("command", ["serve", "check-config"])
def test_the_command_line_reports_bad_configuration_in_one_line_without_a_traceback(
    tmp_path: Path, command: str
) -> None:
    path = write(tmp_path, "[server]\nport = 'eighty'\n")
    result = subprocess.run(
        [sys.executable, "-m", "statuspage", command, "--config", str(path), "--db", str(tmp_path / "x.db")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == f"statuspage: configuration error: {path}: server.port: expected `int`, got `str`\n"
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "x.db").exists()


def known_keys(problem: str) -> list[str]:
    return problem.partition("; known keys: ")[2].split(", ")


@pytest.mark.parametrize(("text", "key", "unknown", "some_known"), [
    ("[integrations.visma-net]\nretries = 3\n", "integrations.visma-net", "retries",
     ["base_url", "connect_url", "client_id", "attempts"]),
    ("[integrations.visma-net]\napi_url = 'https://x'\n", "integrations.visma-net", "api_url", ["base_url"]),
    ("[integrations.twinfield]\nretries = 3\n", "integrations.twinfield", "retries", ["base_url", "write_credits"]),
    ("[server]\nportt = 80\n", "server", "portt", ["host", "port"]),
    ("[[components]]\nkey = 'a'\nname = 'A'\ngroupp = 'x'\n", "components[0]", "groupp", ["key", "name", "group"]),
    ("colour = 'blue'\n", "", "colour", ["page", "server", "components", "integrations"]),
])
def test_an_unknown_key_names_its_table_and_the_keys_it_knows(tmp_path: Path, text: str, key: str, unknown: str,
                                                              some_known: list[str]) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(write(tmp_path, text), environ={})
    assert error.value.key == key
    assert error.value.problem.startswith(f"unknown key {unknown!r}; known keys: ")
    assert set(some_known) <= set(known_keys(error.value.problem))
    assert unknown not in known_keys(error.value.problem)


def test_check_config_lists_the_known_keys_of_an_integrations_table(tmp_path: Path) -> None:
    path = write(tmp_path, "[integrations.visma-net]\nretries = 3\n")
    result = subprocess.run([sys.executable, "-m", "statuspage", "check-config", "--config", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    prefix = f"statuspage: configuration error: {path}: integrations.visma-net: unknown key 'retries'; known keys: "
    assert result.stderr.startswith(prefix), result.stderr
    assert {"base_url", "connect_url", "client_id"} <= set(result.stderr.strip().removeprefix(prefix).split(", "))
    assert "Traceback" not in result.stdout + result.stderr


def test_check_config_accepts_the_sample() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "statuspage", "check-config"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "2 groups, 11 components; configuration is valid" in result.stdout



def test_an_integration_has_its_own_table_and_each_environment_names_its_integration(tmp_path: Path) -> None:
    path = write(tmp_path, """
[integrations.exact-online]
base_url = "https://start.exactonline.nl"
client_id = "our-app"
read_timeout = 12.5

[[environments]]
key = "old-style"
name = "Names no integration"
""")
    settings = load_settings(path, environ={"STATUSPAGE_EXACT_CLIENT_ID": "from-env"})
    exact = settings.integration("exact-online")
    assert (exact.base_url, exact.client_id, exact.read_timeout, exact.connect_timeout) == (
        "https://start.exactonline.nl", "from-env", 12.5, 5.0)
    assert exact.timeouts().read == 12.5 and exact.timeouts().connect == 5.0
    assert [environment.integration for environment in settings.environments] == ["exact-online"]


def test_every_integrations_settings_come_from_variables_named_after_its_key(tmp_path: Path) -> None:
    path = write(tmp_path, "[integrations.twinfield]\nread_timeout = 40.0\nconcurrency_per_organisation = 1\n")
    settings = load_settings(path, environ={
        "STATUSPAGE_TWINFIELD_READ_TIMEOUT": "12.5", "STATUSPAGE_TWINFIELD_CONCURRENCY_PER_ORGANISATION": "2",
        "STATUSPAGE_EXACT_ONLINE_CONNECT_TIMEOUT": "3", "STATUSPAGE_EXACT_BASE_URL": "https://start.exactonline.nl",
        "STATUSPAGE_EXACT_CLIENT_ID": "old-name"})
    twinfield, exact = settings.integration("twinfield"), settings.integration("exact-online")
    assert (twinfield.read_timeout, twinfield.concurrency_per_organisation) == (12.5, 2), "over the file's"
    assert (exact.connect_timeout, exact.base_url, exact.client_id) == (3.0, "https://start.exactonline.nl",
                                                                        "old-name"), "the old EXACT_ names still work"
    with pytest.raises(ConfigError) as wrong:
        load_settings(path, environ={"STATUSPAGE_TWINFIELD_READ_TIMEOUT": "soon"})
    assert wrong.value.source == "environment variable STATUSPAGE_TWINFIELD_READ_TIMEOUT"
    assert wrong.value.key == "integrations.twinfield.read_timeout"
    with pytest.raises(ConfigError) as twice:
        load_settings(path, environ={"STATUSPAGE_EXACT_ONLINE_CLIENT_ID": "a", "STATUSPAGE_EXACT_CLIENT_ID": "b"})
    assert str(twice.value) == ("environment variable STATUSPAGE_EXACT_CLIENT_ID: is now spelled "
                                "STATUSPAGE_EXACT_ONLINE_CLIENT_ID; set only that one")


def test_the_old_exact_online_table_keeps_working(tmp_path: Path) -> None:
    path = write(tmp_path, '[exact_online]\nbase_url = "https://start.exactonline.nl"\nrights_cache_seconds = 5\n')
    exact = load_settings(path, environ={}).integration("exact-online")
    assert (exact.base_url, exact.rights_cache_seconds) == ("https://start.exactonline.nl", 5)


@pytest.mark.parametrize(("text", "key", "problem"), [
    ("[exact_online]\nclient_id = 'a'\n[integrations.exact-online]\nclient_id = 'b'\n", "exact_online",
     "[exact_online] is now spelled [integrations.exact-online]; move its settings there and remove [exact_online]"),
    ("[integrations.exact-online]\nbase_url = 'start.exactonline.nl'\n", "integrations.exact-online.base_url",
     "must start with https://"),
    ("[integrations.exact-online]\nread_timeout = 0\n", "integrations.exact-online.read_timeout",
     "must be more than 0 seconds"),
    ("[integrations.exact-online]\nclient = 'x'\n", "integrations.exact-online", "unknown key 'client'; known keys: "),
    ("[integrations.unit4]\nbase_url = 'https://x'\n", "integrations.unit4",
     "no integration 'unit4' is installed; installed: exact-online, twinfield"),
    ("[[environments]]\nkey = 'a'\nname = 'A'\nintegration = 'unit4'\n", "environments[0].integration",
     "'unit4' is not an installed integration"),
    ("[integrations.twinfield]\nwrite_credits = 0\n", "integrations.twinfield", "must be at least 1"),
    ("[budgets]\ndaily_reserve = 1.5\n", "budgets.daily_reserve", "must be a share from 0 up to 1"),
])
def test_integration_settings_mistakes_name_the_new_spelling_and_the_key(tmp_path: Path, text: str, key: str,
                                                                         problem: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(write(tmp_path, text), environ={})
    assert error.value.key == key
    assert problem in error.value.problem
