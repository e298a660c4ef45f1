"""A fresh demo (README's first command), started after the sync-freshness probe's due time, must not show Exact
Online as degraded once its start-up syncs have finished: a sync that finished today is fresh, whenever today it
finished, and an environment whose sync read everything its connection user can open has finished, although the
administration that user cannot open (Jansen Verhuur, by the demo's design) failed. Driven by the test's clock: the
demo's syncs, the probe's verdict and a restart later that day."""

import pytest
from conftest import wait_for
from litestar.testing import TestClient

from statuspage.app import create_app
from statuspage.config import load_settings
from statuspage.core import storage

EXACT_ONLINE = {"bakkerij-de-vries", "jansen-groep", "groen-hoveniers"}


@pytest.fixture(autouse=True)
def quiet(monkeypatch) -> None:
    monkeypatch.setattr("statuspage.demo.announce", lambda banner: None)


def start_up_syncs_ended(client: TestClient) -> bool:
    """The demo's full syncs of Exact Online's environments have ended, well or not."""
    tasks = client.blocking_portal.call(client.app.state.store.read, lambda db: storage.recent_sync_tasks(db, 100))
    ended = {task.environment for task in tasks if task.kind == "full" and task.finished_at}
    return ended >= EXACT_ONLINE


def freshness(client: TestClient):
    prober = client.app.state.prober
    return client.blocking_portal.call(lambda: prober.run("exact-online-sync", record=False))


def test_a_fresh_demo_started_after_the_due_time_is_not_late_once_its_syncs_ended_nor_after_a_restart(
    tmp_path, clock,
) -> None:
    settings = load_settings(None, environ={"STATUSPAGE_DB": str(tmp_path / "demo.db")})
    settings.demo.seconds_between_actions = 0.5
    assert clock().astimezone(settings.zone).hour >= 7  # 10:30 in Amsterdam: past the probe's due_by (07:00)
    with TestClient(create_app(settings, clock=clock), base_url=settings.page.url) as client:
        wait_for(lambda: start_up_syncs_ended(client), "the demo's start-up syncs",
                 tick=lambda: clock.advance(seconds=0.5))  # sync calls once bookings are quiet, by this clock
        run = freshness(client)
        assert run.success, run.detail
        assert run.detail == {"late": [], "never": []}
        clock.advance(minutes=7)
        assert freshness(client).success

    clock.advance(hours=3)  # restarted at 13:40 the same day: the morning's syncs still count
    with TestClient(create_app(settings, clock=clock), base_url=settings.page.url) as client:
        run = freshness(client)
        assert run.success and run.detail == {"late": [], "never": []}, run.detail

    # The next morning after the due time, with no sync since: stale, so late (the rule still catches it).
    clock.advance(days=1)
    settings.demo.enabled = False
    with TestClient(create_app(settings, clock=clock), base_url=settings.page.url) as client:
        run = freshness(client)
        assert not run.success and sorted(run.detail["late"]) == sorted(EXACT_ONLINE), run.detail
