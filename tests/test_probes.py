"""Probes on a schedule: evidence moves component status, with hysteresis, and lost rights show
up for operators before anyone books."""

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from conftest import TEST_CONFIG
from litestar.testing import TestClient
from probe_helpers import probes_config, target_fixture  # noqa: F401 (fixtures)

from statuspage.app import create_app
from statuspage.config import load_settings
from statuspage.core.installed import INSTALLED
from statuspage.core.operation import Actor
from statuspage.core.settings import ConfigError
from statuspage.core.vocabulary import ComponentStatus as C
from statuspage.probes.hysteresis import Standing, advance, claim_for


@pytest.mark.parametrize(
    ("runs", "verdicts"),
    [
        ("FFF", [None, None, C.MAJOR_OUTAGE]),
        ("FFPFF", [None, None, None, None, None]),  # a blip in between resets the count
        ("FFFP", [None, None, C.MAJOR_OUTAGE, C.MAJOR_OUTAGE]),  # one pass does not recover
        ("FFFPP", [None, None, C.MAJOR_OUTAGE, C.MAJOR_OUTAGE, None]),
        ("FFFPFPP", [None, None, C.MAJOR_OUTAGE, C.MAJOR_OUTAGE, C.MAJOR_OUTAGE, C.MAJOR_OUTAGE, None]),
        ("PPP", [None, None, None]),
    ],
)
def test_a_probe_claims_a_status_only_after_three_failures_and_gives_it_up_after_two_passes(runs, verdicts) -> None:
    standing, seen = Standing(), []
    for run in runs:
        standing = advance(standing, run == "P", claim=C.MAJOR_OUTAGE, failure_threshold=3, success_threshold=2)
        seen.append(standing.verdict)
    assert seen == verdicts


@pytest.mark.parametrize(
    ("failed", "errored", "claim"),
    [
        ([{"RESPONSE_TIME"}], False, C.DEGRADED_PERFORMANCE),
        ([{"RESPONSE_TIME"}, {"STATUS"}], False, C.MAJOR_OUTAGE),
        ([{"STATUS"}], False, C.MAJOR_OUTAGE),
        ([], True, C.MAJOR_OUTAGE),  # no answer at all
    ],
)
def test_too_slow_is_degraded_performance_and_anything_else_the_probes_failing_status(failed, errored, claim) -> None:
    assert claim_for(failed, errored, C.MAJOR_OUTAGE) is claim


@pytest.fixture
def settings(tmp_path, target):
    path = tmp_path / "statuspage.toml"
    path.write_text(probes_config(target.url))
    return load_settings(path, environ={"STATUSPAGE_DB": str(tmp_path / "probes.db")})


def run(client, key: str):
    return client.blocking_portal.call(client.app.state.prober.run, key)


def status_of(client, component: str) -> str:
    return next(c["status"] for c in client.get("/api/v2/components.json").json()["components"] if c["id"] == component)


def test_an_http_probe_moves_its_component_only_on_repeated_evidence(client, target, tokens, clock) -> None:
    assert run(client, "twinfield-api").success
    target.status = 503
    first = run(client, "twinfield-api")
    assert not first.success
    assert [r.description for r in first.results][0] == "[STATUS] (503) == 200"
    assert status_of(client, "twinfield") == "operational"
    run(client, "twinfield-api")
    third = run(client, "twinfield-api")
    assert third.verdict is C.MAJOR_OUTAGE
    assert status_of(client, "twinfield") == "major_outage"
    # The outage the probe found is in the history the uptime bars are drawn from.
    clock.advance(minutes=10)
    html = client.get("/?lang=en").text
    twinfield = html[html.index('data-component="twinfield"'):]
    bar = twinfield.split('class="bar-legend"')[0]
    assert '<span class="cell major_outage" title="Nov 23, 2026: Major Outage. Down for 10 min">' in bar

    target.status = 200
    run(client, "twinfield-api")
    assert status_of(client, "twinfield") == "major_outage"
    run(client, "twinfield-api")
    assert status_of(client, "twinfield") == "operational"

    listed = {p["key"]: p for p in client.get("/api/v1/probes", headers=tokens["viewer"]).json()}
    assert listed["twinfield-api"]["last"]["success"] is True
    history = client.get("/api/v1/probes/twinfield-api/results", headers=tokens["viewer"]).json()
    assert [r["success"] for r in history] == [True, True, False, False, False, True]


SLOW_PROBE = """
[[probes]]
key = "slow-api"
kind = "http"
component = "twinfield"
url = "{url}/slow"
interval = 60
timeout = 30
conditions = ["[STATUS] == 200"]
"""


def test_a_probe_that_hangs_times_out_is_recorded_and_blocks_nothing_else(tmp_path, clock, target) -> None:
    """The target holds every request until the test releases it: a probe with 0.5 s gives up while its request
    is still unanswered, and another probe's run goes on while a slower one waits for its answer."""
    path = tmp_path / "hang.toml"
    path.write_text(probes_config(target.url) + SLOW_PROBE.format(url=target.url))
    settings = load_settings(path, environ={"STATUSPAGE_DB": str(tmp_path / "hang.db")})
    target.hold()
    with TestClient(create_app(settings, clock=clock), base_url=settings.page.url) as client:

        async def runs():
            prober = client.app.state.prober
            slow = asyncio.create_task(prober.run("slow-api"))
            assert await asyncio.to_thread(target.arrived.wait, 30), "the slow probe's request never arrived"
            quick = await prober.run("backlog")
            slow_still_waiting = not slow.done()  # the quick one did not wait for it
            hung = await prober.run("twinfield-api")
            answered_when_it_gave_up = target.answered
            target.release()
            return hung, answered_when_it_gave_up, quick, slow_still_waiting, await slow

        hung, answered_when_it_gave_up, quick, slow_still_waiting, slow = client.blocking_portal.call(runs)
    assert not hung.success and hung.error == "no answer within 0.5 s"
    assert answered_when_it_gave_up == 0  # given up at its timeout, not when the server finally answered
    assert quick.success and slow_still_waiting
    assert slow.success  # answered once released: waiting blocked nothing, and lost nothing


def test_the_backlog_probe_sees_delayed_actions_and_their_age(client, tokens, clock) -> None:
    from exact_online_service_helpers import book

    client.put("/api/v1/integrations/exact-online/switch", headers=tokens["operator"],
               json={"enabled": False, "reason": "test"})
    for n in range(3):
        client.post("/api/v1/actions", json=book(f"B{n}") | {"environment": "jansen-groep", "administration": "201"},
                    headers=tokens["client"])
    clock.advance(minutes=15)
    result = run(client, "backlog")
    assert [r.description for r in result.results] == ["[DELAYED] (3) < 2", "[OLDEST_AGE] (900) < 600"]


def test_the_sync_probe_wants_last_nights_sync_finished_before_opening(settings, clock) -> None:
    clock.now = datetime(2026, 11, 23, 5, 30, tzinfo=UTC)  # 06:30 in Amsterdam: not due yet
    with TestClient(create_app(settings, clock=clock), base_url=settings.page.url) as client:
        from statuspage.incidents import operations

        state = client.app.state
        client.blocking_portal.call(state.store.write, lambda db: operations.create_token(
            db, settings, Actor("t"), clock(), "product", "client", "sp_product"))
        product = {"Authorization": "Bearer sp_product"}
        report = {"environment": "jansen-groep", "integration": "exact-online", "kind": "incremental",
                  "started_at": "2026-11-22T23:00:00+01:00", "finished_at": "2026-11-23T01:10:00+01:00"}
        assert client.post("/api/v1/syncs", json=report, headers=product).status_code == 201
        assert run(client, "sync").success
        clock.now = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)  # 07:30: today's finished at 01:10, in time
        assert run(client, "sync").success
        clock.now = datetime(2026, 11, 24, 6, 30, tzinfo=UTC)  # the next morning, no new sync
        late = run(client, "sync")
        assert not late.success and late.detail == {"late": ["jansen-groep"], "never": []}
        assert late.results[0].description == "[LATE] (1) == 0"


def test_the_rights_probe_lists_lost_rights_for_operators_but_not_the_public(tmp_path, clock) -> None:
    from exact_online_service_helpers import ENVIRONMENTS, sandbox_code

    path = tmp_path / "statuspage.toml"
    path.write_text(TEST_CONFIG + ENVIRONMENTS + """
[[probes]]
key = "rights"
kind = "rights"
component = "exact-online"
failure_threshold = 1
failing_status = "degraded_performance"
conditions = ["[UNREACHABLE] == 0"]
""")
    settings = load_settings(path, environ={"STATUSPAGE_DB": str(tmp_path / "rights.db"), "STATUSPAGE_DEMO": "false"})
    with TestClient(create_app(settings, clock=clock), base_url=settings.page.url) as client:
        link = client.app.state.links["exact-online"]
        sandbox_url = link.base_url

        class Sandbox:
            url = sandbox_url

        client.blocking_portal.call(link.connect, "jansen-groep", sandbox_code(Sandbox, link.redirect_uri, "p.jansen"), "t")
        result = run(client, "rights")
        assert not result.success
        assert result.detail["unreachable"] == [
            {"environment": "jansen-groep", "administration": "203", "name": "Jansen Verhuur B.V."}]
        assert status_of(client, "exact-online") == "degraded_performance"
        public = client.get("/api/v2/summary.json").text + client.get("/").text
        assert "Jansen Verhuur" not in public and "203" not in public.replace("2030", "")

        from page_helpers import sign_in

        from statuspage.incidents import operations

        client.blocking_portal.call(client.app.state.store.write, lambda db: operations.create_token(
            db, settings, Actor("t"), clock(), "op", "operator", "sp_op"))
        sign_in(client, "sp_op")
        console = client.get("/console/probes/rights")
        assert console.status_code == 200
        assert "Cannot reach: jansen-groep / 203 Jansen Verhuur B.V." in console.text


def test_probe_configuration_mistakes_name_the_probe_and_the_condition(tmp_path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(TEST_CONFIG + """
[[probes]]
key = "api"
kind = "http"
url = "http://127.0.0.1:9/x"
conditions = ["[STATUS] == 200", "[DELAYED] < 3"]
""")
    with pytest.raises(ConfigError) as raised:
        load_settings(path, environ={})
    assert str(raised.value) == (f"{path}: probes[0].conditions[1]: probe 'api': a http probe has no [DELAYED]; "
                                 "it offers [BODY], [RESPONSE_TIME], [STATUS]")
    path.write_text(TEST_CONFIG + '[[probes]]\nkey = "api"\nkind = "http"\nurl = "http://x"\nconditions = ["[STATUS] = 200"]\n')
    with pytest.raises(ConfigError, match=r"probes\[0\]\.conditions\[0\]: probe 'api': .*unknown operator '='"):
        load_settings(path, environ={})


@pytest.mark.parametrize(("entry", "key", "says"), [
    ('kind = "ping"', "kind", "unknown kind 'ping'; use one of http, rights, backlog, sync"),
    ("", "kind", "needs a kind: one of http, rights, backlog, sync"),
    ('kind = "http"\nurl = "http://x"\ndue_by = "07:00"', "due_by",
     "a http probe has no setting 'due_by'; it takes component, conditions, failing_status, failure_threshold, "
     "headers, interval, key, method, success_threshold, timeout, url"),
    ('kind = "http"', "url", "an http probe needs a url starting with http://, https://, {page} or an integration's "
                             "address such as {exact_online}"),
    ('kind = "http"\nurl = "ftp://x"', "url", "an http probe needs a url starting with http://, https://, {page} or "
                                              "an integration's address such as {exact_online}; got 'ftp://x'"),
    ('kind = "backlog"\ninterval = 0.5', "interval", "must be at least 1 second; got 0.5"),
    ('kind = "backlog"\ntimeout = 0', "timeout", "must be more than 0 seconds; got 0.0"),
    ('kind = "backlog"\ninterval = 30\ntimeout = 60', "timeout",
     "needs 0 < timeout <= interval; got timeout 60.0, interval 30.0"),
    ('kind = "backlog"\nfailure_threshold = 0', "failure_threshold", "must be at least 1; got 0"),
    ('kind = "backlog"\nfailing_status = "operational"', "failing_status",
     "must be one of under_maintenance, degraded_performance, partial_outage, major_outage; got 'operational'"),
    ('kind = "backlog"\nfailing_status = "down"', "failing_status",
     "must be one of under_maintenance, degraded_performance, partial_outage, major_outage; got 'down'"),
    ('kind = "sync"\ndue_by = "7am"', "due_by", "'7am' must be a time like 07:00"),
    ('kind = "rights"\nintegration = "unit4"', "integration",
     f"'unit4' is not an installed integration; installed: {', '.join(INSTALLED.keys())}"),
])
def test_a_probe_setting_its_kind_refuses_is_named_with_what_to_fix(tmp_path, entry, key, says) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(TEST_CONFIG + f'[[probes]]\nkey = "api"\n{entry}\n')
    with pytest.raises(ConfigError) as raised:
        load_settings(path, environ={})
    assert str(raised.value) == f"{path}: probes[0].{key}: probe 'api': {says}"


def test_a_probe_that_is_not_a_table_is_refused_naming_its_place(tmp_path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('probes = ["api"]\n' + TEST_CONFIG)
    with pytest.raises(ConfigError) as raised:
        load_settings(path, environ={})
    assert str(raised.value) == f"{path}: probes[0]: must be a table, like [[probes]]"


def test_each_probe_is_loaded_as_its_kinds_settings_with_that_kinds_defaults(settings) -> None:
    from statuspage.probes.kinds import BacklogProbe, HttpProbe, SyncProbe

    http, backlog, sync = settings.probes
    assert (type(http), type(backlog), type(sync)) == (HttpProbe, BacklogProbe, SyncProbe)
    assert (http.kind, http.method, http.timeout) == ("http", "GET", 0.5)
    assert (backlog.integration, backlog.default_conditions) == ("exact-online", ("[OLDEST_AGE] < 3600",))
    assert (sync.due_by, sync.failing_status, "[LATE]" in {f"[{p}]" for p in sync.placeholders}) == (
        "07:00", C.MAJOR_OUTAGE, True)


def test_the_scheduler_runs_each_probe_on_its_interval_with_jitter_and_one_at_a_time(settings, clock) -> None:
    from apscheduler.triggers.interval import IntervalTrigger

    from statuspage.probes.scheduler import make_scheduler

    scheduler = make_scheduler(settings, store=None, clock=clock, prober=None)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"twinfield-api", "backlog", "sync", "trim-probe-results"}
    probe = jobs["twinfield-api"]
    assert isinstance(probe.trigger, IntervalTrigger)
    assert probe.trigger.interval == timedelta(seconds=60) and probe.trigger.jitter == 6
    assert probe.max_instances == 1 and probe.coalesce is True and probe.misfire_grace_time == 60


def test_a_paused_probe_is_skipped_by_the_schedule_but_runs_when_asked(client, tokens) -> None:
    from statuspage.probes.scheduler import scheduled_run

    paused = client.put("/api/v1/probes/twinfield-api/paused", headers=tokens["operator"], json={"paused": True})
    assert paused.json()["paused"] is True
    state = client.app.state
    client.blocking_portal.call(scheduled_run, state.prober, state.store, "twinfield-api")
    assert client.get("/api/v1/probes/twinfield-api/results", headers=tokens["viewer"]).json() == []
    now = client.post("/api/v1/probes/twinfield-api/run", headers=tokens["operator"])
    assert now.status_code == 201 and now.json()["success"] is True


def test_the_running_service_probes_by_itself(client) -> None:
    """The schedule started with the app really runs: a probe that falls due fires without being asked."""
    from statuspage.core import storage

    scheduler = client.app.state.services.scheduler
    client.blocking_portal.call(lambda: scheduler.modify_job("sync", next_run_time=datetime.now(UTC)))
    deadline = time.monotonic() + 15
    results = []
    while time.monotonic() < deadline and not results:
        results = client.blocking_portal.call(client.app.state.store.read, storage.probe_results, "sync", 5)
        time.sleep(0.05)
    assert results, "no scheduled run within 15 s"


def test_probe_run_on_the_command_line_prints_the_result_and_exits_1_on_failure(tmp_path, target) -> None:
    import subprocess
    import sys

    config = tmp_path / "statuspage.toml"
    config.write_text(probes_config(target.url))
    command = [sys.executable, "-m", "statuspage", "probe", "run", "twinfield-api", "--config", str(config),
               "--db", str(tmp_path / "cli.db")]
    passed = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert passed.returncode == 0, passed.stderr
    assert passed.stdout.startswith("twinfield-api: passed in ")
    assert "ok   [STATUS] (200) == 200" in passed.stdout
    target.status = 502
    failed = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert failed.returncode == 1
    assert "FAIL [STATUS] (502) == 200" in failed.stdout
    listed = subprocess.run(command[:4] + ["list"] + command[6:], capture_output=True, text=True, timeout=60)
    assert "twinfield-api" in listed.stdout and "never run" in listed.stdout  # a CLI run is not recorded


def test_old_probe_results_are_trimmed_but_verdict_changes_are_kept(client, clock, settings) -> None:
    import sqlite3

    from statuspage.probes import runner as probes

    run(client, "twinfield-api")
    clock.advance(days=settings.probing.retention_days + 1)
    run(client, "twinfield-api")
    state = client.app.state
    assert client.blocking_portal.call(probes.trim, state.store, state.settings, state.clock) == 1
    db = sqlite3.connect(settings.database.path)
    assert db.execute("SELECT count(*) FROM probe_results").fetchone() == (1,)
    db.close()


def test_the_log_has_one_line_per_verdict_change_not_per_run(client, target, caplog) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    target.status = 503
    for _ in range(5):
        run(client, "twinfield-api")
    target.status = 200
    for _ in range(3):
        run(client, "twinfield-api")
    lines = [r.getMessage() for r in caplog.records if r.name.startswith(("statuspage.probes", "apscheduler"))
             and r.levelno >= logging.INFO]
    assert lines == ["probe twinfield-api now claims major_outage for twinfield ([STATUS] (503) == 200)",
                     "probe twinfield-api now claims nothing (recovered) for twinfield (passing)"]
