"""A flapping Visma.net (5xx bursts, hangs past the client's timeout, 429s, slow inserts) still ends with each
customer exactly once: a create whose answer was lost is looked up by its reference before it is sent again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from visma_net_helpers import (  # noqa: F401 (fixtures)
    ANSWER_TIMEOUT,
    CLIENT_TIMEOUT,
    JANSEN,
    MONDAY_MORNING,
    FakeTime,
    anyio_backend_fixture,
    client_for,
    control,
    exchanges,
    fake_time_fixture,
    held,
    sandbox_fixture,
)

from integrations.base import OutcomeUnknown, RateLimited, TransientError
from integrations.visma_net import Customer, CustomerDraft, VismaNetClient
from integrations.visma_net.sandbox import VismaNetSandbox

pytestmark = pytest.mark.anyio

RELATIONS = [("EOL-101", "Bakkerij De Korenschoof"), ("EOL-102", "Installatiebedrijf Noord B.V."),
             ("EOL-103", "Gemeente Noorderveld")]


async def deliver(visma: VismaNetClient, draft: CustomerDraft, fake_time: FakeTime, *, failed: bool = False
                  ) -> Customer:
    """What the outbox does with a create until it is done: after any failure, look it up before sending again."""
    for _ in range(30):
        try:
            if failed and (found := await visma.find_by_reference(
                    JANSEN, draft.reference, modified_since=MONDAY_MORNING - timedelta(hours=3))) is not None:
                return found
            return await visma.create_customer(JANSEN, draft)
        except (TransientError, OutcomeUnknown, RateLimited):
            failed = True
            await fake_time.sleep(60)
    raise AssertionError(f"{draft.reference} was never delivered")


def references(sandbox: VismaNetSandbox) -> list[tuple[str, str]]:
    return [(c["accountReference"], c["name"]) for c in held(sandbox)]


@pytest.mark.parametrize("fault", [
    {"fail_next": 3},
    {"fail_next": 2, "after_insert": True},
    {"fail_next": 2, "fail_status": 500, "after_insert": True},
    {"hang_next": 1, "hang_seconds": 1.0},
    {"hang_next": 1, "hang_seconds": 1.0, "after_insert": True},
    {"throttle_next": 2, "throttle_retry_after": 30},
    {"insert_ms": 50},
], ids=["5xx-before-insert", "5xx-after-insert", "500-after-insert", "timeout-before-insert",
        "timeout-after-insert", "429", "slow-inserts"])
async def test_each_customer_is_created_exactly_once_whatever_the_fault(
    sandbox: VismaNetSandbox, fake_time: FakeTime, fault: dict[str, Any]
) -> None:
    timeout = CLIENT_TIMEOUT if "hang_next" in fault else ANSWER_TIMEOUT
    async with client_for(sandbox, fake_time, read_timeout=timeout) as visma:
        control(sandbox, "faults", fault)
        created = [await visma.create_customer(JANSEN, CustomerDraft(name=name, reference=reference))
                   for reference, name in RELATIONS]
    assert references(sandbox) == RELATIONS
    assert [(c.number, c.reference) for c in created] == [("10000", "EOL-101"), ("10001", "EOL-102"),
                                                          ("10002", "EOL-103")]
    posts = [x["status"] for x in exchanges(sandbox, "/v1/customer") if x["method"] == "POST"]
    if fault.get("after_insert"):
        # The struck create took effect; it was found by its reference instead of being sent again.
        struck = fault.get("fail_next", 0) + fault.get("hang_next", 0)
        assert len(posts) == 3 and posts.count(201) == 3 - struck
    if "throttle_next" in fault:
        assert posts == [429, 429, 201, 201, 201]
        assert fake_time.slept == [30.0, 30.0]


async def test_a_create_whose_answer_was_lost_is_looked_up_before_it_is_resent(
    sandbox: VismaNetSandbox, fake_time: FakeTime
) -> None:
    async with client_for(sandbox, fake_time) as visma:
        control(sandbox, "faults", {"fail_next": 1, "after_insert": True})
        await visma.create_customer(JANSEN, CustomerDraft(name="Noord", reference="EOL-102"))
    assert [(x["method"], x["status"]) for x in exchanges(sandbox) if x["path"] != "/connect/token"] == [
        ("POST", 503), ("GET", 200)]  # the look-up (customers changed since) found it: no second POST


async def test_a_lost_answer_of_a_numbered_create_is_found_instead_of_refused_as_existing(
    sandbox: VismaNetSandbox, fake_time: FakeTime
) -> None:
    async with client_for(sandbox, fake_time, read_timeout=CLIENT_TIMEOUT) as visma:
        control(sandbox, "faults", {"hang_next": 1, "hang_seconds": 1.0, "after_insert": True})
        created = await visma.create_customer(JANSEN, CustomerDraft(name="Noord", reference="EOL-102", number="102"))
    assert (created.number, created.reference) == ("102", "EOL-102")
    assert references(sandbox) == [("EOL-102", "Noord")]


async def test_a_look_up_that_fails_too_leaves_the_outcome_unknown_and_a_later_look_up_finds_it(
    sandbox: VismaNetSandbox, fake_time: FakeTime
) -> None:
    async with client_for(sandbox, fake_time) as visma:
        # The create takes effect and answers 503; from the first backoff on, every call meets a 5xx too.
        control(sandbox, "faults", {"fail_next": 1, "after_insert": True})
        fake_time.on_next_sleep = lambda: control(sandbox, "faults", {"fail_next": 100, "after_insert": False})
        with pytest.raises(OutcomeUnknown) as unknown:
            await visma.create_customer(JANSEN, CustomerDraft(name="Noord", reference="EOL-102"))
        control(sandbox, "faults", {"fail_next": 0})
        found = await deliver(visma, CustomerDraft(name="Noord", reference="EOL-102"), fake_time, failed=True)
    assert unknown.value.idempotency_key == "EOL-102"
    assert (found.number, found.reference) == ("10000", "EOL-102")
    assert references(sandbox) == [("EOL-102", "Noord")]
    assert [x["method"] for x in exchanges(sandbox, "/v1/customer")].count("POST") == 1


async def test_random_flapping_over_many_creates_ends_with_each_customer_once(
    sandbox: VismaNetSandbox, fake_time: FakeTime
) -> None:
    drafts = [CustomerDraft(name=f"Relation {n}", reference=f"EOL-{n}") for n in range(1, 13)]
    async with client_for(sandbox, fake_time) as visma:
        control(sandbox, "faults", {"fail_rate": 0.4})
        for draft in drafts:
            await deliver(visma, draft, fake_time)
    assert references(sandbox) == [(d.reference, d.name) for d in drafts]
    assert [c["number"] for c in held(sandbox)] == [str(10000 + n) for n in range(12)]
