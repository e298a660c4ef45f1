"""What the API and the configuration check answer to a mistake says what to fix, in the caller's own words, and the
answers say what they mean: a missing body, a bad query value, a limit, an empty entity list, a feed never synced,
the audit log's texts; a bool that is not one, a probe's interval, an empty configuration. Over HTTP and the CLI,
on the real SQLite file."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import TEST_CONFIG

from statuspage.config import load_settings
from statuspage.core import storage
from statuspage.core.settings import ConfigError

SETUP = """
[[environments]]
key = "jansen-groep"
name = "Jansen Groep"
administrations = [{ code = "201", name = "Jansen Installatietechniek B.V." }, { code = "202", name = "Holding" }]

[[probes]]
key = "exact-online-backlog"
kind = "backlog"
integration = "exact-online"
interval = 60
timeout = 10
"""


@pytest.fixture
def settings(tmp_path):
    path = tmp_path / "statuspage.toml"
    path.write_text(TEST_CONFIG + SETUP)
    return load_settings(path, environ={"STATUSPAGE_DB": str(tmp_path / "messages.db")})


def test_a_missing_body_is_said_to_be_missing(client, tokens) -> None:
    answer = client.post("/api/v1/incidents", headers=tokens["operator"])
    assert answer.status_code == 400
    [problem] = answer.json()["extra"]
    assert problem["message"] == "the request body is missing: send a JSON object with Content-Type: application/json"


def test_a_bad_query_value_names_the_query_parameter_and_its_values(client, tokens) -> None:
    answer = client.get("/api/v1/actions?state=bogus", headers=tokens["viewer"])
    assert answer.status_code == 400
    [problem] = answer.json()["extra"]
    assert problem["key"] == "state"
    assert problem["message"] == ("Invalid enum value 'bogus'; state must be one of 'queued', 'running', 'delayed', "
                                  "'done', 'undone', 'failed', 'cancelled'")


def test_an_idempotency_key_with_a_space_is_refused_in_words(client, tokens) -> None:
    answer = client.post("/api/v1/actions", headers=tokens["client"], json={
        "idempotency_key": "INV 1", "integration": "exact-online", "environment": "jansen-groep",
        "administration": "201", "kind": "book", "payload": {}})
    assert answer.status_code == 400
    [problem] = answer.json()["extra"]
    assert problem["key"] == "idempotency_key" and "regex" not in problem["message"]
    assert "visible ASCII characters only" in problem["message"] and "no spaces" in problem["message"]


def test_a_probes_results_take_a_limit(client, tokens) -> None:
    for _ in range(3):
        assert client.post("/api/v1/probes/exact-online-backlog/run", headers=tokens["operator"]).status_code == 201
    assert len(client.get("/api/v1/probes/exact-online-backlog/results", headers=tokens["viewer"]).json()) == 3
    assert len(client.get("/api/v1/probes/exact-online-backlog/results?limit=1", headers=tokens["viewer"]).json()) == 1
    assert client.get("/api/v1/probes/exact-online-backlog/results?limit=0", headers=tokens["viewer"]).status_code == 400


def test_an_empty_list_of_entities_is_refused_not_read_as_all(client, tokens) -> None:
    answer = client.post("/api/v1/sync-tasks", headers=tokens["operator"],
                         json={"environment": "jansen-groep", "kind": "full", "entities": []})
    assert answer.status_code == 400
    [problem] = answer.json()["extra"]
    assert problem["key"] == "entities" and "length >= 1" in problem["message"]


def test_the_feed_of_an_administration_never_synced_says_so(client, tokens, seed, clock) -> None:
    def synced(db):
        task, _ = storage.queue_sync_task(db, environment="jansen-groep", administration="201", kind="full",
                                       trigger="manual", entities=None, fingerprint="f", requested_by="t", now=clock())
        done = storage.insert_sync_run(db, task_id=task, environment="jansen-groep", administration="201",
                                       entity="accounts", kind="full", state="running", now=clock())
        storage.update_sync_run(db, done, clock(), state="done", finished_at=storage.iso(clock()))
        refused = storage.insert_sync_run(db, task_id=task, environment="jansen-groep", administration="202",
                                          entity="accounts", kind="full", state="running", now=clock())
        storage.update_sync_run(db, refused, clock(), state="failed", error="the connection user cannot open 202")

    seed(synced)
    empty = client.get("/api/v1/sync/jansen-groep/201/accounts", headers=tokens["client"]).json()
    assert (empty["rows"], empty["synced_at"], empty["last_error"]) == ([], "2026-11-23T09:30:00Z", None)
    never = client.get("/api/v1/sync/jansen-groep/202/accounts", headers=tokens["client"]).json()
    assert (never["rows"], never["synced_at"], never["last_error"]) == (
        [], None, "the connection user cannot open 202")


def test_the_audit_log_keeps_an_incidents_titles_as_an_object(client, tokens) -> None:
    opened = client.post("/api/v1/incidents", headers=tokens["operator"], json={
        "name": "Traag", "names": {"en": "Slow", "nl": "Traag"}, "message": "m", "messages": {"en": "m", "nl": "m"},
        "status": "investigating", "impact": "minor", "components": {}})
    assert opened.status_code == 201, opened.text
    [entry] = [e for e in client.get("/api/v1/audit", headers=tokens["viewer"]).json() if e["action"] == "incident.open"]
    assert entry["after"]["names"] == {"en": "Slow", "nl": "Traag"}


def test_a_bool_setting_that_is_not_one_says_true_or_false(tmp_path) -> None:
    path = tmp_path / "statuspage.toml"
    path.write_text(TEST_CONFIG)
    with pytest.raises(ConfigError) as refused:
        load_settings(path, environ={"STATUSPAGE_DEMO": "maybe"})
    assert str(refused.value).endswith("demo.enabled: expected `bool`, got `str`; use true or false")


def test_a_negative_interval_is_reported_against_the_interval(tmp_path) -> None:
    path = tmp_path / "statuspage.toml"
    path.write_text(TEST_CONFIG + SETUP.replace("interval = 60", "interval = -5"))
    with pytest.raises(ConfigError) as refused:
        load_settings(path, environ={})
    assert "probes[0].interval: probe 'exact-online-backlog': must be at least 1 second; got -5.0" in str(refused.value)


def test_checking_an_empty_configuration_warns_that_the_page_would_be_empty(tmp_path) -> None:
    path = tmp_path / "empty.toml"
    path.write_text("")
    checked = subprocess.run([sys.executable, "-m", "statuspage", "check-config", "--config", str(path)],
                             capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert checked.returncode == 0
    assert "0 components; configuration is valid" in checked.stdout
    assert "warning: " in checked.stderr and "defines no [[components]]: the status page will be empty" in checked.stderr
