"""The per-client limits hold across web workers (issue 15): two instances of the app on one SQLite file, as
two workers of `serve --workers 2` are, count failed sign-ins and e-mail subscriptions against the same limit.
One injected clock for both: the window lifts when the clock says so, not when the wall clock does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from conftest import TOKENS
from litestar.testing import TestClient
from mail_helpers import mail_sink_fixture  # noqa: F401 (a fixture)
from page_helpers import sign_in

from statuspage.app import create_app
from statuspage.config import load_settings


@pytest.fixture
def workers(seed, clock, tokens) -> Iterator[list[TestClient]]:
    """Two apps over the seeded database: the `tokens` fixture stored the tokens there."""
    with ExitStack() as stack:
        yield [stack.enter_context(TestClient(create_app(seed.settings, clock=clock), base_url=seed.settings.page.url))
               for _ in range(2)]


@pytest.fixture
def mail_workers(tmp_path, config_file, clock, mail_sink) -> Iterator[list[TestClient]]:
    settings = load_settings(config_file, environ={
        "STATUSPAGE_DB": str(tmp_path / "mail.db"), "STATUSPAGE_SMTP_HOST": "127.0.0.1",
        "STATUSPAGE_SMTP_PORT": str(mail_sink.port), "STATUSPAGE_MAIL_FROM": "status@example.test"})
    with ExitStack() as stack:
        yield [stack.enter_context(TestClient(create_app(settings, clock=clock), base_url=settings.page.url))
               for _ in range(2)]


def test_failed_sign_ins_on_either_worker_count_against_one_limit(workers, clock) -> None:
    first, second = workers
    for n in range(5):
        assert sign_in(workers[n % 2], "sp_guess").status_code == 401
    for worker in (first, second):
        blocked = sign_in(worker, TOKENS["operator"])
        assert blocked.status_code == 429
        assert blocked.headers["retry-after"] == "300"
    clock.advance(minutes=2)
    assert sign_in(second, TOKENS["operator"]).headers["retry-after"] == "180"  # the same count, two minutes on
    clock.advance(minutes=3, seconds=1)
    assert sign_in(first, TOKENS["operator"]).status_code == 302


def test_subscriptions_on_either_worker_count_against_one_limit(mail_workers, clock) -> None:
    answers = [mail_workers[n % 2].post("/subscriptions", data={"email": f"person{n}@accountants.example"},
                                        headers={"Accept-Language": "en"})
               for n in range(8)]
    assert [a.status_code for a in answers] == [200] * 5 + [429] * 3
    assert answers[5].headers["retry-after"] == "3600"
    clock.advance(hours=1)
    assert mail_workers[1].post("/subscriptions", data={"email": "later@accountants.example"}).status_code == 200
